"""Signing keys: RS256 round trip, a public-only JWKS, rotation that keeps old tokens valid, forgeries refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jwt
from joserfc.jwk import RSAKey

from orginvite.devtenant.keys import MAX_KEYS, InvalidSignatureError, KeyRing
from orginvite.devtenant.store import Store
from orginvite.errors import OrgInviteError


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _segment(value: dict) -> str:
    return _b64(json.dumps(value).encode())


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return KeyRing(Store())


def test_sign_verify_round_trip(ring: KeyRing) -> None:
    claims = {"sub": "auth0|abc", "org_id": "org_AAAAAAAAAAAAAAAA", "exp": 1}
    token = ring.sign(claims)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "RS256", "typ": "JWT", "kid": ring.current_kid}
    assert ring.verify(token) == claims  # claims are not judged here (exp=1 is long past)


def test_extra_headers_cannot_change_alg_or_kid(ring: KeyRing) -> None:
    token = ring.sign({"a": 1}, headers={"typ": "at+jwt", "alg": "HS256", "kid": "evil"})
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": ring.current_kid}
    assert ring.verify(token) == {"a": 1}


def test_tokens_verify_with_the_published_jwks_alone(ring: KeyRing) -> None:
    token = ring.sign({"sub": "x"})
    (published,) = ring.jwks()["keys"]
    decoded = jwt.decode(token, RSAKey.import_key(published), algorithms=["RS256"])
    assert decoded.claims == {"sub": "x"}


def test_jwks_has_only_public_parts(ring: KeyRing) -> None:
    (key,) = ring.jwks()["keys"]
    assert set(key) == {"kty", "use", "alg", "kid", "n", "e", "x5c", "x5t"}
    assert key["kty"] == "RSA" and key["use"] == "sig" and key["alg"] == "RS256"
    assert len(base64.urlsafe_b64decode(key["n"] + "==")) == 256  # RSA-2048
    assert key["kid"] == RSAKey.import_key(key).thumbprint()  # RFC 7638


def test_each_key_carries_a_self_signed_certificate_for_it(tmp_path: Path) -> None:
    """x5c / x5t as Auth0 publishes them: libraries that read only the certificate verify our tokens with it."""
    store = Store(tmp_path / "t.db")
    ring = KeyRing(store)
    ring.rotate()
    published = ring.jwks()["keys"]
    assert len(published) == 2
    for key in published:
        (encoded,) = key["x5c"]
        der = base64.b64decode(encoded, validate=True)  # standard base64 (RFC 7517 4.7), not base64url
        certificate = x509.load_der_x509_certificate(der)
        assert key["x5t"] == _b64(hashlib.sha1(der, usedforsecurity=False).digest())
        numbers = certificate.public_key().public_numbers()
        assert _b64(numbers.n.to_bytes(256, "big")) == key["n"] and numbers.e == 65537
        assert certificate.subject == certificate.issuer  # self-signed, and the signature is the key's own
        signed, algorithm = certificate.tbs_certificate_bytes, certificate.signature_hash_algorithm
        certificate.public_key().verify(certificate.signature, signed, padding.PKCS1v15(), algorithm)
    # A token verifies with the key taken from the certificate alone.
    token = ring.sign({"sub": "x"})
    certificate = x509.load_der_x509_certificate(base64.b64decode(published[0]["x5c"][0]))
    pem = certificate.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert jwt.decode(token, RSAKey.import_key(pem), algorithms=["RS256"]).claims == {"sub": "x"}
    # The certificate is derived from the key, so a restarted tenant publishes the same bytes.
    store.close()
    assert KeyRing(Store(tmp_path / "t.db")).jwks() == ring.jwks()


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "!!!.b.c", _segment({"alg": "RS256"}) + ".e30.", "x" * 20_000 + ".a.b"],
)
def test_malformed_tokens_are_rejected(ring: KeyRing, token: str) -> None:
    with pytest.raises(InvalidSignatureError):
        ring.verify(token)


def test_non_string_token_is_rejected(ring: KeyRing) -> None:
    with pytest.raises(InvalidSignatureError):
        ring.verify(None)  # type: ignore[arg-type]


def test_tampered_payload_is_rejected(ring: KeyRing) -> None:
    header, _, signature = ring.sign({"sub": "alice"}).split(".")
    forged = f"{header}.{_segment({'sub': 'mallory'})}.{signature}"
    with pytest.raises(InvalidSignatureError):
        ring.verify(forged)


def test_unknown_kid_is_rejected(ring: KeyRing) -> None:
    stranger = RSAKey.generate_key(2048, auto_kid=True)
    token = jwt.encode({"alg": "RS256", "kid": stranger.kid}, {"sub": "x"}, stranger)
    with pytest.raises(InvalidSignatureError, match="unknown signing key"):
        ring.verify(token)
    # and a foreign key claiming our kid fails on the signature
    spoofed = jwt.encode({"alg": "RS256", "kid": ring.current_kid}, {"sub": "x"}, stranger)
    with pytest.raises(InvalidSignatureError, match="invalid signature"):
        ring.verify(spoofed)


def test_alg_none_is_rejected(ring: KeyRing) -> None:
    token = f"{_segment({'alg': 'none', 'kid': ring.current_kid})}.{_segment({'sub': 'x'})}."
    with pytest.raises(InvalidSignatureError, match="algorithm"):
        ring.verify(token)


def test_hs256_signed_with_the_public_key_is_rejected(ring: KeyRing) -> None:
    public = RSAKey.import_key(ring.jwks()["keys"][0])
    secret = public.as_pem(private=False)
    signing_input = f"{_segment({'alg': 'HS256', 'kid': ring.current_kid})}.{_segment({'sub': 'x'})}"
    signature = _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
    with pytest.raises(InvalidSignatureError, match="algorithm"):
        ring.verify(f"{signing_input}.{signature}")


def test_rotation_keeps_previous_keys_published_and_caps_them() -> None:
    ring = KeyRing(Store())
    first_kid = ring.current_kid
    old_token = ring.sign({"n": 0})
    second_kid = ring.rotate()
    assert second_kid != first_kid and ring.current_kid == second_kid
    assert [k["kid"] for k in ring.jwks()["keys"]] == [second_kid, first_kid]
    assert ring.verify(old_token) == {"n": 0}
    new_token = ring.sign({"n": 1})
    assert json.loads(base64.urlsafe_b64decode(new_token.split(".")[0] + "=="))["kid"] == second_kid
    third_kid, fourth_kid = ring.rotate(), ring.rotate()
    assert ring.kids == [fourth_kid, third_kid, second_kid]
    assert len(ring.jwks()["keys"]) == MAX_KEYS
    with pytest.raises(InvalidSignatureError):
        ring.verify(old_token)  # its key fell off the end
    assert ring.verify(new_token) == {"n": 1}


def test_keys_persist_through_the_store(tmp_path: Path) -> None:
    path = tmp_path / "tenant.sqlite3"
    with Store(path) as store:
        ring = KeyRing(store)
        ring.rotate()
        token = ring.sign({"sub": "x"})
        kids = ring.kids
    with Store(path) as reopened:
        again = KeyRing(reopened)
        assert again.kids == kids
        assert again.verify(token) == {"sub": "x"}
        assert all("d" in key for key in reopened.load_signing_keys())  # private halves stay in the store only


def test_two_rings_on_fresh_stores_have_different_keys() -> None:
    assert KeyRing(Store()).current_kid != KeyRing(Store()).current_kid


def test_invalid_signature_error_is_an_orginvite_error() -> None:
    assert issubclass(InvalidSignatureError, OrgInviteError)
