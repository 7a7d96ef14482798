"""Signed cookies with key rotation, their ``Set-Cookie`` headers, and the eviction rule for per-transaction cookies.

The app side keeps no server-side state: transactions and the session live in cookies signed
with itsdangerous, so any number of processes share them through the secret keys alone. Keys are given newest
first (how operators write ``ORGINVITE_SECRET_KEYS``): the newest signs, every key verifies, so a key can be
rotated in without signing anybody out and retired once its cookies have expired.

Format: ``base64url(compact JSON object) . timestamp . HMAC-SHA256`` (itsdangerous' ``TimestampSigner``). One
salt per purpose (``"orginvite.transaction"``, ``"orginvite.session"``) so a cookie of one kind can never be
replayed as another. Every way a value can be wrong maps to one :class:`~orginvite.errors.InvalidCookieError`
reason: ``"malformed"`` (not something we could have produced), ``"tampered"`` (bad signature or a key we do not
hold), ``"expired"`` (older than ``max_age``, or dated in the future).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from itsdangerous import BadData, BadSignature, Signer, TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode, bytes_to_int

from orginvite.errors import InvalidCookieError

__all__ = ["MAX_CLOCK_SKEW", "MAX_COOKIE_LENGTH", "CookieSigner", "encoded_size", "pick_evictions",
           "set_cookie_header"]

#: Browsers keep at most ~4096 bytes per cookie; anything longer was not written by us.
MAX_COOKIE_LENGTH = 4096
#: Seconds a cookie's stamp may lie in the reader's future: another process (or host) of the same deployment may
#: have signed it with a clock slightly ahead. Further ahead is refused as ``expired``.
MAX_CLOCK_SKEW = 5

_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=True, allow_nan=False)


def encoded_size(value: Any) -> int:
    """The bytes ``value`` adds to a signed cookie: its JSON as :meth:`CookieSigner.sign` writes it (ASCII, so a
    character beyond the BMP is two ``\\uXXXX`` escapes, 12 bytes), then base64 (4 bytes per 3). A bound on this,
    not on characters, is what keeps a cookie under what browsers store."""
    return -(-4 * len(_dumps(value)) // 3)


class _OneKeySigner(TimestampSigner):
    """itsdangerous' ``TimestampSigner`` for one key, derived once, reading an injected clock.

    itsdangerous derives the HMAC key from secret and salt on every sign and verify; for a cookie read on every
    signed-in request that derivation was the larger half of the cost, and its result never changes.
    """

    def __init__(self, secret_key: str | bytes, salt: str, clock: Callable[[], float]) -> None:
        super().__init__(secret_key, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)
        self._derived = super().derive_key()
        self._clock = clock

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        return self._derived

    def get_timestamp(self) -> int:
        return int(self._clock())


class CookieSigner:
    """Sign and verify JSON-object cookie values for one purpose (the salt).

    ``secret_keys`` is newest first: ``secret_keys[0]`` signs, all of them verify.
    ``clock`` returns the current Unix time; tests pass a frozen one.
    """

    def __init__(
        self,
        secret_keys: Sequence[str | bytes],
        salt: str,
        *,
        clock: Callable[[], float] = time.time,
        max_length: int = MAX_COOKIE_LENGTH,
    ) -> None:
        if isinstance(secret_keys, str | bytes) or not isinstance(secret_keys, Sequence):
            raise ValueError("secret_keys must be a sequence of keys (newest first), not a single key")
        if not secret_keys:
            raise ValueError("secret_keys must hold at least one key")
        for key in secret_keys:
            if not isinstance(key, str | bytes) or not key:
                raise ValueError("every secret key must be a non-empty str or bytes")
        if not isinstance(salt, str) or not salt:
            raise ValueError("salt must be a non-empty string naming the cookie's purpose")
        self.salt = salt
        self.max_length = max_length
        self._clock = clock
        # One signer per key, newest first: the index of the one that verifies says whether to re-sign.
        self._signers = tuple(_OneKeySigner(key, salt, clock) for key in secret_keys)

    def sign(self, payload: Mapping[str, Any]) -> str:
        """The signed cookie value for ``payload`` (a JSON-serialisable mapping), stamped with the current time."""
        if not isinstance(payload, Mapping):
            raise TypeError("payload must be a mapping")
        data = _dumps(dict(payload))
        return self._signers[0].sign(base64.urlsafe_b64encode(data.encode("ascii")).rstrip(b"=")).decode("ascii")

    def unsign(self, value: str, max_age: float | None) -> dict[str, Any]:
        """The payload of a cookie we signed with any of our keys, at most ``max_age`` seconds ago.

        ``max_age=None`` skips the age check (the payload may carry its own expiry).
        Raises :class:`InvalidCookieError` with reason ``malformed``, ``tampered`` or ``expired``.
        """
        return self.verify(value, max_age)[0]

    def _message_and_key_index(self, value: str) -> tuple[bytes, int]:
        for index, signer in enumerate(self._signers):
            try:
                return Signer.unsign(signer, value), index  # the signature only; the caller reads the stamp
            except BadSignature:
                continue
        raise InvalidCookieError("tampered")

    def verify(self, value: str, max_age: float | None) -> tuple[dict[str, Any], int, int]:
        """Like :meth:`unsign`, plus the index of the key that signed it (0: the newest; more: re-sign it) and
        the signing time (Unix seconds)."""
        if isinstance(value, bytes):
            try:
                value = value.decode("ascii")
            except UnicodeDecodeError:
                raise InvalidCookieError("malformed") from None
        if not isinstance(value, str) or len(value) > self.max_length or not _SHAPE.fullmatch(value):
            raise InvalidCookieError("malformed")
        signature = value.rpartition(".")[2]
        # base64 ignores the spare low bits of the last character: refuse the look-alike signatures itsdangerous
        # would accept, so that a cookie has exactly one valid spelling.
        try:
            canonical = base64_encode(base64_decode(signature)).decode("ascii") == signature
        except BadData:
            canonical = False
        if not canonical:
            raise InvalidCookieError("tampered")
        message, index = self._message_and_key_index(value)
        body, _, stamp = message.partition(b".")
        try:
            signed_at = bytes_to_int(base64_decode(stamp))
        except BadData:
            raise InvalidCookieError("tampered") from None  # signed by us, yet not a stamp: never happens
        if max_age is not None:
            age = int(self._clock()) - signed_at
            if age > max_age or age < -MAX_CLOCK_SKEW:
                raise InvalidCookieError("expired")
        try:
            payload = json.loads(base64_decode(body).decode("utf-8"))
        except (BadData, ValueError, RecursionError):
            raise InvalidCookieError("malformed") from None
        if not isinstance(payload, dict):
            raise InvalidCookieError("malformed")
        return payload, index, signed_at


def pick_evictions(created_at_by_name: Mapping[str, float], cap: int) -> list[str]:
    """Names of the cookies to delete, oldest first, so that one more fits under ``cap``.

    Per-transaction cookies let several tabs log in at once, but uncapped they pile up into a 413 (nextjs-auth0
    #1862, #2209).
    A creation time that is not a finite number counts as oldest: garbage goes first. Ties break by name so
    every process evicts the same cookies.
    """
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise ValueError("cap must be a positive integer")
    excess = len(created_at_by_name) - cap + 1
    if excess <= 0:
        return []

    def age_key(item: tuple[str, Any]) -> tuple[float, str]:
        name, created_at = item
        ok = isinstance(created_at, int | float) and not isinstance(created_at, bool) and math.isfinite(created_at)
        return (float(created_at) if ok else -math.inf, name)

    ordered = sorted(created_at_by_name.items(), key=age_key)
    return [name for name, _ in ordered[:excess]]


def set_cookie_header(
    name: str,
    value: str,
    *,
    max_age: int,
    path: str = "/",
    secure: bool = False,
    http_only: bool = True,
    same_site: str = "Lax",
) -> tuple[bytes, bytes]:
    """A raw ``Set-Cookie`` header; ``max_age=0`` deletes. Values here are URL-safe (signed base64) by construction."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}"]
    if max_age == 0:
        parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    parts.append(f"SameSite={same_site}")
    return b"set-cookie", "; ".join(parts).encode("latin-1")
