"""A cookie stamped a few seconds "in the future" is accepted: in a multi-process deployment the process that
reads it may run a clock slightly behind the one that signed it. Larger negative ages stay refused."""

from __future__ import annotations

import pytest

from orginvite.errors import InvalidCookieError
from orginvite.sessions.signing import MAX_CLOCK_SKEW, CookieSigner

KEYS = ("k" * 32,)
SIGNED_AT = 1_800_000_000.0


def _signed() -> str:
    return CookieSigner(KEYS, "orginvite.session", clock=lambda: SIGNED_AT).sign({"sub": "auth0|1"})


def _reader(now: float) -> CookieSigner:
    return CookieSigner(KEYS, "orginvite.session", clock=lambda: now)


@pytest.mark.parametrize("behind", [0, 1, 3, MAX_CLOCK_SKEW])
def test_a_reader_slightly_behind_accepts_a_just_issued_cookie(behind):
    assert _reader(SIGNED_AT - behind).unsign(_signed(), max_age=60) == {"sub": "auth0|1"}


@pytest.mark.parametrize("behind", [MAX_CLOCK_SKEW + 1, 60, 3600])
def test_a_cookie_stamped_further_in_the_future_is_refused(behind):
    with pytest.raises(InvalidCookieError) as info:
        _reader(SIGNED_AT - behind).unsign(_signed(), max_age=60)
    assert info.value.reason == "expired"


def test_the_skew_is_small_and_does_not_extend_the_max_age():
    assert 0 < MAX_CLOCK_SKEW <= 10
    with pytest.raises(InvalidCookieError):
        _reader(SIGNED_AT + 61).unsign(_signed(), max_age=60)
    assert _reader(SIGNED_AT + 60).unsign(_signed(), max_age=60) == {"sub": "auth0|1"}
