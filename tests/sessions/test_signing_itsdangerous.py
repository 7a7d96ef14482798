"""Our CookieSigner is itsdangerous' TimestampSigner format byte for byte: each verifies what the other signs.

cookies.py hand-implements the format (keys derived once), so this pins it against the real library, including
the refusals: a look-alike signature, another key or salt, a stamp from the future.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from orginvite.errors import InvalidCookieError
from orginvite.sessions.signing import CookieSigner

NOW = 1_800_000_000


def theirs(key: str = "k" * 32, salt: str = "orginvite.session") -> TimestampSigner:
    signer = TimestampSigner(key, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)
    signer.get_timestamp = lambda: NOW  # type: ignore[method-assign]
    return signer


def ours(keys: tuple[str, ...] = ("k" * 32,), salt: str = "orginvite.session", now: float = NOW) -> CookieSigner:
    return CookieSigner(keys, salt, clock=lambda: now)


def body(payload: dict) -> bytes:
    data = json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(payload=st.dictionaries(st.text(max_size=10), _json, max_size=6))
def test_the_same_bytes_as_itsdangerous_both_ways(payload: dict) -> None:
    value = ours().sign(payload)
    assert value == theirs().sign(body(payload)).decode()
    assert theirs().unsign(value, max_age=60) == body(payload)
    assert ours().unsign(theirs().sign(body(payload)).decode(), 60) == payload


def test_rotation_and_refusals_agree_with_itsdangerous() -> None:
    payload = {"sub": "auth0|1"}
    old = theirs("o" * 32).sign(body(payload)).decode()
    assert ours(("n" * 32, "o" * 32)).verify(old, 60)[:2] == (payload, 1)  # a retired key verifies, index 1
    with pytest.raises(InvalidCookieError):
        ours(("n" * 32,)).unsign(old, 60)
    with pytest.raises(BadSignature):
        theirs(salt="orginvite.transaction").unsign(ours().sign(payload))
    with pytest.raises(InvalidCookieError) as info:
        ours(now=NOW - 60).unsign(theirs().sign(body(payload)).decode(), 60)  # stamped in the future
    assert info.value.reason == "expired"
    with pytest.raises(SignatureExpired):
        expired = theirs()
        expired.get_timestamp = lambda: NOW + 61  # type: ignore[method-assign]
        expired.unsign(ours().sign(payload), max_age=60)
    with pytest.raises(InvalidCookieError) as info:
        ours(now=NOW + 61).unsign(theirs().sign(body(payload)).decode(), 60)
    assert info.value.reason == "expired"


def test_a_look_alike_signature_is_refused_where_base64_would_accept_it() -> None:
    value = ours().sign({"sub": "auth0|1"})
    head, signature = value.rsplit(".", 1)
    last = signature[-1]
    # 32 bytes -> 43 base64 characters: the last one carries 2 spare bits, so 4 spellings decode to the same MAC
    twins = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
             if c != last and base64.urlsafe_b64decode(signature[:-1] + c + "=") == base64.urlsafe_b64decode(
                 signature + "=")]
    assert len(twins) == 3
    for twin in twins:
        with pytest.raises(InvalidCookieError) as info:
            ours().unsign(f"{head}.{signature[:-1]}{twin}", 60)
        assert info.value.reason == "tampered"
