"""The dev tenant's token signing keys: RS256, published as a JWKS, rotatable, kept in the store.

Each published key carries ``x5c`` (a self-signed certificate for the key, as Auth0 publishes; some JWT libraries
read only that) and ``x5t`` (the certificate's SHA-1 thumbprint). The certificate is derived deterministically
from the key (fixed validity, serial from the kid; RSA PKCS#1 v1.5 signatures are deterministic), so it is the
same after a restart without being stored.

Rotation keeps the previous keys published so that tokens signed before it still verify (what apps relying on a
cached JWKS must cope with: an unknown ``kid`` means "refetch", not "reject"). Keys live in the store, so a
restart of a file-backed tenant keeps every issued token valid.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import threading
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from orginvite.errors import OrgInviteError

from .store import Record, Store

__all__ = ["ALGORITHM", "MAX_KEYS", "InvalidSignatureError", "KeyRing"]

ALGORITHM = "RS256"
MAX_KEYS = 3  # the signer plus the two previous keys stay published
_MAX_TOKEN_LENGTH = 16_384  # far above any token we issue; refuses to parse megabytes of garbage


class InvalidSignatureError(OrgInviteError):
    """The token is malformed, not RS256, signed by a key we do not publish, or tampered with."""


def _generate() -> RSAKey:
    # kid = RFC 7638 thumbprint: stable for the key, and different for every new key.
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALGORITHM}, auto_kid=True)
    return key


_CERT_NOT_BEFORE = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
_CERT_NOT_AFTER = datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC)
_CERT_SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orginvite dev tenant")])


@lru_cache(maxsize=16)
def _certificate_der(private_key: RSAPrivateKey, kid: str) -> bytes:
    """A self-signed X.509 certificate for the key, DER; the same bytes every time for the same key."""
    serial = int.from_bytes(hashlib.sha256(kid.encode()).digest()[:16], "big") >> 1 or 1
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_CERT_SUBJECT)
        .issuer_name(_CERT_SUBJECT)
        .public_key(private_key.public_key())
        .serial_number(serial)
        .not_valid_before(_CERT_NOT_BEFORE)
        .not_valid_after(_CERT_NOT_AFTER)
        .sign(private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def _header_of(token: str) -> dict[str, Any]:
    try:
        encoded = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:  # deep nesting: RecursionError
        raise InvalidSignatureError("malformed token") from exc
    if not isinstance(header, dict):
        raise InvalidSignatureError("malformed token header")
    return header


class KeyRing:
    """RSA-2048 signing keys, newest first; the newest signs, all of them verify."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.RLock()
        loaded = [RSAKey.import_key(data) for data in store.load_signing_keys()]
        if not loaded:
            loaded = [_generate()]
            store.save_signing_keys([key.as_dict(private=True) for key in loaded])
        self._keys: list[RSAKey] = loaded

    @property
    def current_kid(self) -> str:
        return str(self._keys[0].kid)

    @property
    def kids(self) -> list[str]:
        """Published key IDs, newest first."""
        return [str(key.kid) for key in self._keys]

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        """A compact JWS over ``claims``; ``headers`` may add fields (say ``typ``) but not change alg or kid."""
        key = self._keys[0]
        header: dict[str, Any] = {"typ": "JWT", **(headers or {}), "alg": ALGORITHM, "kid": key.kid}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> dict[str, Any]:
        """The claims when the RS256 signature is valid under a published key. Claims are NOT checked here."""
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise InvalidSignatureError("malformed token")
        header = _header_of(token)
        # Pin the algorithm before any crypto: "none" and HS256-keyed-with-the-public-key never reach a verifier.
        if header.get("alg") != ALGORITHM:
            raise InvalidSignatureError(f"unexpected algorithm (only {ALGORITHM} is accepted)")
        kid = header.get("kid")
        key = next((candidate for candidate in self._keys if candidate.kid == kid), None)
        if key is None:
            raise InvalidSignatureError("unknown signing key")
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidSignatureError("invalid signature") from exc
        if not isinstance(decoded.claims, dict):
            raise InvalidSignatureError("malformed token payload")
        return dict(decoded.claims)

    def jwks(self) -> dict[str, list[Record]]:
        """The public halves only, newest first, as served at /.well-known/jwks.json."""
        keys = []
        for key in self._keys:
            public = key.as_dict(private=False)
            der = _certificate_der(key.private_key, str(key.kid))
            thumbprint = hashlib.sha1(der, usedforsecurity=False).digest()  # RFC 7517 4.8 names it; not a check
            keys.append(
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": ALGORITHM,
                    "kid": key.kid,
                    "n": public["n"],
                    "e": public["e"],
                    "x5c": [base64.b64encode(der).decode("ascii")],  # RFC 7517 4.7: standard base64, not base64url
                    "x5t": base64.urlsafe_b64encode(thumbprint).rstrip(b"=").decode("ascii"),
                }
            )
        return {"keys": keys}

    def rotate(self) -> str:
        """A new key becomes the signer; the previous ones stay published (at most MAX_KEYS kept). Persisted."""
        new = _generate()
        with self._lock:
            keys = [new, *self._keys][:MAX_KEYS]
            self._store.save_signing_keys([key.as_dict(private=True) for key in keys])
            self._keys = keys
        return str(new.kid)
