from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import TimestampSigner

from orginvite.errors import InvalidCookieError
from orginvite.sessions.signing import MAX_COOKIE_LENGTH, CookieSigner, pick_evictions

PAYLOAD = {"state": "abc", "nonce": "n", "org": "org_AbCdEfGhIjKlMnOp", "invitation": True, "created_at": 1.5}


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def reason(signer: CookieSigner, value: Any, max_age: float | None = 3600) -> str:
    with pytest.raises(InvalidCookieError) as info:
        signer.unsign(value, max_age)
    return info.value.reason


def test_round_trip() -> None:
    signer = CookieSigner(["k1"], "orginvite.transaction")
    value = signer.sign(PAYLOAD)
    assert signer.unsign(value, 3600) == PAYLOAD
    assert signer.unsign(value, None) == PAYLOAD
    assert value.isascii() and ";" not in value and " " not in value and "," not in value


def test_unicode_payload_round_trips_as_ascii_cookie() -> None:
    signer = CookieSigner(["k1"], "s")
    payload = {"name": "Zoë 李 \u202e", "nested": {"list": [1, 2.5, None, "x"]}}
    value = signer.sign(payload)
    assert value.isascii()
    assert signer.unsign(value, None) == payload


def test_rotation_old_key_still_verifies_newest_signs() -> None:
    old = CookieSigner(["old"], "s")
    rotated = CookieSigner(["new", "old"], "s")
    new_only = CookieSigner(["new"], "s")
    from_old = old.sign(PAYLOAD)
    assert rotated.unsign(from_old, 60) == PAYLOAD
    from_rotated = rotated.sign(PAYLOAD)
    assert new_only.unsign(from_rotated, 60) == PAYLOAD  # signed with the NEWEST (first) key
    assert reason(old, from_rotated) == "tampered"
    retired = CookieSigner(["newer", "new"], "s")
    assert reason(retired, from_old) == "tampered"  # a retired key no longer verifies


def test_bytes_keys_equal_str_keys() -> None:
    assert CookieSigner([b"k"], "s").unsign(CookieSigner(["k"], "s").sign(PAYLOAD), None) == PAYLOAD


def test_unknown_key_and_other_salt_are_tampered() -> None:
    value = CookieSigner(["k1"], "orginvite.transaction").sign(PAYLOAD)
    assert reason(CookieSigner(["k2"], "orginvite.transaction"), value) == "tampered"
    assert reason(CookieSigner(["k1"], "orginvite.session"), value) == "tampered"


def test_expiry_with_a_frozen_clock() -> None:
    clock = Clock()
    signer = CookieSigner(["k"], "s", clock=clock)
    value = signer.sign(PAYLOAD)
    clock.now += 3600
    assert signer.unsign(value, 3600) == PAYLOAD
    clock.now += 1
    assert reason(signer, value, 3600) == "expired"
    assert signer.unsign(value, None) == PAYLOAD  # no max_age: no age check


def test_signature_from_the_future_is_refused() -> None:
    clock = Clock()
    signer = CookieSigner(["k"], "s", clock=clock)
    value = signer.sign(PAYLOAD)
    clock.now -= 120
    assert reason(signer, value, 3600) == "expired"


@pytest.mark.parametrize(
    "garbage",
    ["", "abc", "a.b", "a..b", "a.b.c.d!", "eyJ4IjoxfQ", "é.a.b", "a.b.c\x00", "a b.c.d", "x" * (MAX_COOKIE_LENGTH + 1),
     "a.b." + "c" * MAX_COOKIE_LENGTH, None, 42, ["a.b.c"], b"\xff.a.b"],
)
def test_garbage_is_malformed(garbage: Any) -> None:
    assert reason(CookieSigner(["k"], "s"), garbage) == "malformed"


def test_well_shaped_but_unsigned_is_tampered() -> None:
    forged = "eyJ4IjoxfQ.ZZZZZZ." + "A" * 43
    assert reason(CookieSigner(["k"], "s"), forged) == "tampered"


def _signed_raw(body: bytes, key: str = "k", salt: str = "s") -> str:
    """What a holder of the key could sign that we would never produce: checks the post-signature parsing."""
    import hashlib

    signer = TimestampSigner(key, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)
    return signer.sign(base64.urlsafe_b64encode(body).rstrip(b"=")).decode()


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'"text"', b"42", b"\xff\xfe", b"null", b"{" * 5000])
def test_validly_signed_non_object_is_malformed(body: bytes) -> None:
    value = _signed_raw(body)
    signer = CookieSigner(["k"], "s", max_length=100_000)
    assert reason(signer, value) == "malformed"


@pytest.mark.parametrize(
    "keys", [[], [""], [b""], ["k", ""], "just-one-key", b"key-bytes", [None], [42], None]
)
def test_bad_keys_are_refused_at_construction(keys: Any) -> None:
    with pytest.raises(ValueError):
        CookieSigner(keys, "s")


@pytest.mark.parametrize("salt", ["", None, b"s"])
def test_bad_salt_is_refused(salt: Any) -> None:
    with pytest.raises(ValueError):
        CookieSigner(["k"], salt)


def test_non_mapping_payload_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        CookieSigner(["k"], "s").sign(["a"])  # type: ignore[arg-type]


_SIGNER = CookieSigner(["k"], "s")
_VALUE = _SIGNER.sign(PAYLOAD)
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


@settings(max_examples=1000)
@given(position=st.integers(min_value=0, max_value=len(_VALUE) - 1), replacement=st.sampled_from(_ALPHABET + "!é%"))
def test_changing_any_character_is_detected(position: int, replacement: str) -> None:
    if _VALUE[position] == replacement:
        replacement = "A" if replacement != "A" else "B"
    tampered = _VALUE[:position] + replacement + _VALUE[position + 1 :]
    with pytest.raises(InvalidCookieError) as info:
        _SIGNER.unsign(tampered, None)
    assert info.value.reason in {"tampered", "malformed"}


def test_every_position_flipped_exhaustively() -> None:
    for position in range(len(_VALUE)):
        for replacement in _ALPHABET:
            if replacement == _VALUE[position]:
                continue
            with pytest.raises(InvalidCookieError):
                _SIGNER.unsign(_VALUE[:position] + replacement + _VALUE[position + 1 :], None)


@given(cut=st.integers(min_value=0, max_value=len(_VALUE) - 1), extra=st.text(max_size=5))
def test_truncation_and_appending_are_detected(cut: int, extra: str) -> None:
    with pytest.raises(InvalidCookieError):
        _SIGNER.unsign(_VALUE[:cut], None)
    if extra:
        with pytest.raises(InvalidCookieError):
            _SIGNER.unsign(_VALUE + extra, None)


_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@given(payload=st.dictionaries(st.text(max_size=10), _json_value, max_size=5))
def test_any_json_object_round_trips(payload: dict) -> None:
    value = _SIGNER.sign(payload)
    assert _SIGNER.unsign(value, None) == json.loads(json.dumps(payload))


@given(value=st.text(max_size=200))
def test_arbitrary_text_never_crashes(value: str) -> None:
    with pytest.raises(InvalidCookieError) as info:
        _SIGNER.unsign(value, 60)
    assert info.value.reason in {"malformed", "tampered"}


# --- pick_evictions ----------------------------------------------------------------------------------------------


def test_nothing_to_evict_below_the_cap() -> None:
    assert pick_evictions({}, 5) == []
    assert pick_evictions({"a": 1, "b": 2, "c": 3, "d": 4}, 5) == []


def test_evicts_oldest_first_so_one_more_fits() -> None:
    created = {"t3": 30.0, "t1": 10.0, "t5": 50.0, "t2": 20.0, "t4": 40.0}
    assert pick_evictions(created, 5) == ["t1"]
    assert pick_evictions(created, 3) == ["t1", "t2", "t3"]
    assert pick_evictions(created, 1) == ["t1", "t2", "t3", "t4", "t5"]


def test_garbage_timestamps_go_first_and_ties_are_deterministic() -> None:
    created: dict[str, Any] = {"ok": 5.0, "nan": float("nan"), "str": "x", "b": 1.0, "a": 1.0, "inf": float("inf")}
    assert pick_evictions(created, 4) == ["inf", "nan", "str"]
    assert pick_evictions(created, 3) == ["inf", "nan", "str", "a"]


@pytest.mark.parametrize("cap", [0, -1, True, 1.5])
def test_bad_cap(cap: Any) -> None:
    with pytest.raises(ValueError):
        pick_evictions({"a": 1.0}, cap)


@given(
    created=st.dictionaries(
        st.text(min_size=1, max_size=5), st.floats(allow_nan=False, allow_infinity=False), max_size=12
    ),
    cap=st.integers(min_value=1, max_value=10),
)
def test_eviction_properties(created: dict[str, float], cap: int) -> None:
    evicted = pick_evictions(created, cap)
    kept = set(created) - set(evicted)
    assert len(kept) + 1 <= cap or not created
    assert len(set(evicted)) == len(evicted)
    assert len(evicted) == max(0, len(created) - cap + 1)
    if evicted and kept:
        assert max(created[name] for name in evicted) <= min(created[name] for name in kept)
    assert [created[name] for name in evicted] == sorted(created[name] for name in evicted)
