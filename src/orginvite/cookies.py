"""Signed cookies with key rotation, and the eviction rule for per-transaction cookies.

The app side keeps no server-side state (ARCHITECTURE.md): transactions and the session live in cookies signed
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
import binascii
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from itsdangerous import BadData, BadSignature, SignatureExpired, TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode

from orginvite.errors import InvalidCookieError

__all__ = ["MAX_COOKIE_LENGTH", "CookieSigner", "pick_evictions"]

#: Browsers keep at most ~4096 bytes per cookie; anything longer was not written by us.
MAX_COOKIE_LENGTH = 4096

_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class _ClockedSigner(TimestampSigner):
    """A ``TimestampSigner`` that reads an injected clock, so expiry is testable without sleeping."""

    def __init__(self, *args: Any, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

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
        # itsdangerous wants the newest key LAST (it signs with secret_keys[-1]); ours come newest first.
        self._signer = _ClockedSigner(
            list(reversed(secret_keys)),
            salt=salt,
            key_derivation="hmac",
            digest_method=hashlib.sha256,
            clock=clock,
        )

    def sign(self, payload: Mapping[str, Any]) -> str:
        """The signed cookie value for ``payload`` (a JSON-serialisable mapping), stamped with the current time."""
        if not isinstance(payload, Mapping):
            raise TypeError("payload must be a mapping")
        data = json.dumps(dict(payload), separators=(",", ":"), sort_keys=True, ensure_ascii=True, allow_nan=False)
        encoded = base64.urlsafe_b64encode(data.encode("ascii")).rstrip(b"=")
        return self._signer.sign(encoded).decode("ascii")

    def unsign(self, value: str, max_age: float | None) -> dict[str, Any]:
        """The payload of a cookie we signed with any of our keys, at most ``max_age`` seconds ago.

        ``max_age=None`` skips the age check (the payload may carry its own expiry).
        Raises :class:`InvalidCookieError` with reason ``malformed``, ``tampered`` or ``expired``.
        """
        if isinstance(value, bytes):
            try:
                value = value.decode("ascii")
            except UnicodeDecodeError:
                raise InvalidCookieError("malformed") from None
        if not isinstance(value, str) or len(value) > self.max_length or not _SHAPE.fullmatch(value):
            raise InvalidCookieError("malformed")
        signature = value.rsplit(".", 1)[1]
        try:
            canonical = base64_encode(base64_decode(signature)).decode("ascii") == signature
        except BadData:
            canonical = False
        if not canonical:
            # base64 ignores the spare low bits of the last character: refuse the look-alike signatures it allows,
            # so that a cookie has exactly one valid spelling.
            raise InvalidCookieError("tampered")
        try:
            encoded = self._signer.unsign(value, max_age=max_age)
        except SignatureExpired:
            raise InvalidCookieError("expired") from None
        except BadSignature:
            raise InvalidCookieError("tampered") from None
        try:
            raw = base64.urlsafe_b64decode(encoded + b"=" * (-len(encoded) % 4))
            payload = json.loads(raw.decode("utf-8"))
        except (binascii.Error, ValueError, RecursionError):
            raise InvalidCookieError("malformed") from None
        if not isinstance(payload, dict):
            raise InvalidCookieError("malformed")
        return payload


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
