from __future__ import annotations

import time

import pytest
from starlette.authentication import AuthCredentials

from login_support import KEY_A, KEY_B, unit_settings
from login_support import FrozenClock as Clock
from orginvite.errors import InvalidCookieError
from orginvite.sessions.cookie import SessionCookie
from orginvite.sessions.user import Organization, OrgUser, credentials_for, user_from_claims

settings = unit_settings


def test_session_round_trip_rotation_and_expiry():
    clock = Clock()
    old = SessionCookie(settings(secret_keys=(KEY_A,)), clock=clock)
    user = OrgUser("auth0|a", email="a@x", name="A", organization=Organization("org_" + "a" * 16, "acme"),
                   roles=("admin",), expires_at=clock.now + 100)
    value = old.issue(user)
    assert old.read(value) == (user, False)
    rotated = SessionCookie(settings(secret_keys=(KEY_B, KEY_A)), clock=clock)
    got, resign = rotated.read(value)
    assert got == user and resign
    assert rotated.read(rotated.issue(got)) == (user, False)
    dropped = SessionCookie(settings(secret_keys=(KEY_B,)), clock=clock)
    with pytest.raises(InvalidCookieError, match="tampered"):
        dropped.read(value)
    clock.now += 101
    with pytest.raises(InvalidCookieError, match="expired"):
        old.read(value)


def test_user_from_claims_drops_odd_shapes():
    s = settings()
    user = user_from_claims(
        {"sub": "s", "email": ["x"], "name": "N" * 1000, "picture": "javascript:alert(1)",
         "org_id": "org_" + "a" * 16, "org_name": "acme", s.roles_claim: ["admin", 3, None, "viewer"]},
        s, time.time())
    assert user.email is None and len(user.name) == 320 and user.picture is None
    assert user.roles == ("admin", "viewer")
    assert credentials_for(user).scopes == ["authenticated", "org:org_" + "a" * 16, "role:admin", "role:viewer"]
    assert isinstance(credentials_for(user), AuthCredentials)
    assert user.is_authenticated and user.display_name == "N" * 320 and user.identity == "s"
    assert user_from_claims({"sub": "s", s.roles_claim: "admin"}, s, 0).roles == ()
    long = user_from_claims({"sub": "s", "email": "a" * 400 + "@x.test", "picture": "https://x/" + "p" * 2000}, s, 0)
    assert long.email is None and long.picture is None  # a cut email or URL would be a wrong one


def test_oversized_session_drops_picture():
    clock = Clock()
    cookie = SessionCookie(settings(), clock=clock)
    user = OrgUser("s", picture="https://x/" + "p" * 3000, roles=tuple(f"r{i}" * 20 for i in range(50)),
                   expires_at=clock.now + 10)
    value = cookie.issue(user)
    assert len(value) < 4000
    assert cookie.read(value)[0].picture is None


def test_session_memo_rechecks_age_isolates_users_and_stays_bounded():
    clock = Clock()
    sessions = SessionCookie(settings(session_ttl=600), clock=clock)
    user = OrgUser("auth0|m", email="m@x", roles=("admin",), expires_at=clock.now + 10_000)
    value = sessions.issue(user)
    first, _ = sessions.read(value)
    first.roles = ("owner",)  # an app changing request.user must not change what the next request sees
    again, resign = sessions.read(value)
    assert again == user and again is not first and not resign
    # a look-alike of a memoized value (last signature character's spare bits) is still refused
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = value[:-1] + alphabet[alphabet.index(value[-1]) ^ 1]
    with pytest.raises(InvalidCookieError, match="tampered"):
        sessions.read(twin)
    # the cookie's own age (session_ttl from its stamp) is checked on a memo hit, not only the user's expiry
    clock.now += 601
    with pytest.raises(InvalidCookieError, match="expired"):
        sessions.read(value)
    with pytest.raises(InvalidCookieError, match="expired"):
        sessions.read(value)
    clock.now -= 601
    for index in range(1500):
        sessions.read(sessions.issue(OrgUser(f"auth0|u{index}", expires_at=clock.now + 100)))
    assert len(sessions._verified) <= 1024
    assert sessions.read(value) == (user, False)


def test_session_memo_keeps_the_host_binding():
    clock = Clock()
    sessions = SessionCookie(settings(), clock=clock)
    user = OrgUser("auth0|b", expires_at=clock.now + 100)
    value = sessions.issue(user, ("acme.app.test", "acme"))
    assert sessions.read(value, ("acme.app.test", "acme")) == (user, False)  # now memoized
    with pytest.raises(InvalidCookieError, match="foreign"):
        sessions.read(value, ("globex.app.test", "globex"))
    assert sessions.read(value, ("acme.app.test", "acme")) == (user, False)
