"""Signed cookies with key rotation, and the eviction rule for per-transaction cookies.

The app side keeps no server-side state (ARCHITECTURE.md): transactions and the session live in cookies signed
in itsdangerous' format, so any number of processes share them through the secret keys alone. Keys are given newest
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
import binascii
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orginvite.errors import InvalidCookieError

__all__ = ["MAX_CLOCK_SKEW", "MAX_COOKIE_LENGTH", "CookieSigner", "pick_evictions"]

#: Browsers keep at most ~4096 bytes per cookie; anything longer was not written by us.
MAX_COOKIE_LENGTH = 4096
#: Seconds a cookie's stamp may lie in the reader's future: another process (or host) of the same deployment may
#: have signed it with a clock slightly ahead. Further ahead is refused as ``expired``.
MAX_CLOCK_SKEW = 5

_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(text: str) -> bytes:
    """Unpadded base64url to bytes (``text`` already matched :data:`_SHAPE`, so only the alphabet is left)."""
    return binascii.a2b_base64(text.encode("ascii").translate(_FROM_URLSAFE) + b"=" * (-len(text) % 4))


class CookieSigner:
    """Sign and verify JSON-object cookie values for one purpose (the salt).

    ``secret_keys`` is newest first: ``secret_keys[0]`` signs, all of them verify.
    ``clock`` returns the current Unix time; tests pass a frozen one.

    The format is itsdangerous' ``TimestampSigner`` (``key_derivation="hmac"``, SHA-256), byte for byte, but the
    HMAC keys are derived once here instead of on every call, and the value is split and checked once: a cookie
    verify is the whole per-request cost of a signed-in request, so it is kept to one HMAC.
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
        # itsdangerous' "hmac" derivation: HMAC(secret, salt); newest first, as given.
        self._keys = tuple(
            hmac.new(key.encode("utf-8") if isinstance(key, str) else key, salt.encode("utf-8"), hashlib.sha256)
            .digest()
            for key in secret_keys
        )

    def sign(self, payload: Mapping[str, Any]) -> str:
        """The signed cookie value for ``payload`` (a JSON-serialisable mapping), stamped with the current time."""
        if not isinstance(payload, Mapping):
            raise TypeError("payload must be a mapping")
        data = json.dumps(dict(payload), separators=(",", ":"), sort_keys=True, ensure_ascii=True, allow_nan=False)
        stamp = int(self._clock()).to_bytes(8, "big").lstrip(b"\x00")
        message = _b64(data.encode("ascii")) + b"." + _b64(stamp)
        signature = _b64(hmac.digest(self._keys[0], message, "sha256"))
        return (message + b"." + signature).decode("ascii")

    def unsign(self, value: str, max_age: float | None) -> dict[str, Any]:
        """The payload of a cookie we signed with any of our keys, at most ``max_age`` seconds ago.

        ``max_age=None`` skips the age check (the payload may carry its own expiry).
        Raises :class:`InvalidCookieError` with reason ``malformed``, ``tampered`` or ``expired``.
        """
        return self.verify(value, max_age)[0]

    def _key_index(self, data: bytes, signature: str) -> int:
        for index, key in enumerate(self._keys):
            if hmac.compare_digest(_b64(hmac.digest(key, data, "sha256")).decode("ascii"), signature):
                return index
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
        message, _, signature = value.rpartition(".")
        data = message.encode("ascii")
        # Compare spellings, not decoded bytes: base64 ignores the spare low bits of the last character, and a
        # look-alike signature must not verify, so that a cookie has exactly one valid spelling.
        index = self._key_index(data, signature)
        body, _, stamp = message.partition(".")
        try:
            signed_at = int.from_bytes(_unb64(stamp), "big")
        except (binascii.Error, ValueError):
            raise InvalidCookieError("tampered") from None  # signed by us, yet not a stamp: never happens
        if max_age is not None:
            age = int(self._clock()) - signed_at
            if age > max_age or age < -MAX_CLOCK_SKEW:
                raise InvalidCookieError("expired")
        try:
            payload = json.loads(_unb64(body).decode("utf-8"))
        except (binascii.Error, ValueError, RecursionError):
            raise InvalidCookieError("malformed") from None
        if not isinstance(payload, dict):
            raise InvalidCookieError("malformed")
        return payload, index, signed_at


def pick_evictions(created_at_by_name: Mapping[str, float], cap: int) -> list[str]:
    """Names of the cookies to delete, oldest first, so that one more fits under ``cap``.

    Per-transaction cookies let several tabs log in at once, but uncapped they pile up into a 413 (FACTS.md).
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
