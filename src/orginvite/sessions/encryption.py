"""Encryption of session records that carry bearer secrets: JWE compact, ``dir`` + ``A256GCM``, through joserfc.

A signed cookie only proves who wrote it; a refresh token in it would be readable by anyone who sees the cookie
(a proxy log, a browser extension, a support screenshot). Each ``ORGINVITE_SECRET_KEYS`` entry is stretched into
its own 256-bit key with HKDF-SHA256 (a purpose-specific ``info``, so the same secret used for signing never
doubles as an encryption key). The newest key encrypts and every key decrypts, matched by a short key id in the
JWE header, so keys rotate as they do for signed cookies: a record sealed with an older key is accepted and
re-sealed with the newest on its way out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from orginvite.errors import InvalidCookieError

__all__ = ["SessionCipher"]

_REGISTRY = jwe.JWERegistry(algorithms=["dir", "A256GCM"])
_MAX_SEALED = 64 * 1024


def _derive(secret: str | bytes, purpose: str) -> bytes:
    material = secret.encode("utf-8") if isinstance(secret, str) else secret
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"orginvite", info=purpose.encode()).derive(material)


class SessionCipher:
    """Seal and open JSON objects with the configured keys (newest first)."""

    def __init__(self, secret_keys: Sequence[str | bytes], purpose: str = "orginvite.session-record") -> None:
        self._keys: list[tuple[str, OctKey]] = []
        for secret in secret_keys:
            raw = _derive(secret, purpose)
            kid = hashlib.sha256(raw).hexdigest()[:12]  # names the key, reveals nothing of it
            self._keys.append((kid, OctKey.import_key(raw)))
        if not self._keys:
            raise ValueError("at least one secret key is needed")
        self._by_kid = {kid: (index, key) for index, (kid, key) in enumerate(self._keys)}
        self._header = {"alg": "dir", "enc": "A256GCM", "kid": self._keys[0][0]}

    def seal(self, payload: dict[str, Any]) -> str:
        plaintext = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        return jwe.encrypt_compact(self._header, plaintext, self._keys[0][1], registry=_REGISTRY)

    def open(self, sealed: str) -> tuple[dict[str, Any], bool]:
        """``(payload, sealed_with_an_older_key)``; anything we did not seal is :class:`InvalidCookieError`:
        ``"malformed"`` (not a JWE of ours) or ``"tampered"`` (unknown key, or the authentication tag fails)."""
        if not isinstance(sealed, str) or len(sealed) > _MAX_SEALED or sealed.count(".") != 4 or not sealed.isascii():
            raise InvalidCookieError("malformed")
        used: list[int] = []

        def key_for(guest: Any) -> OctKey:
            kid = guest.headers().get("kid")
            found = self._by_kid.get(kid) if isinstance(kid, str) else None
            if found is None:
                raise InvalidCookieError("tampered")  # a key we do not hold (retired, or never ours)
            used.append(found[0])
            return found[1]

        try:
            plaintext = jwe.decrypt_compact(sealed, key_for, registry=_REGISTRY).plaintext
            payload = json.loads(plaintext or b"")
        except InvalidCookieError:
            raise
        except (JoseError, ValueError, TypeError, KeyError, RecursionError):
            raise InvalidCookieError("tampered") from None
        if not isinstance(payload, dict):
            raise InvalidCookieError("malformed")
        return payload, bool(used) and used[0] > 0
