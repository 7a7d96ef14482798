from __future__ import annotations

import time

import pytest
from login_support import KEY_A, KEY_B, settings_kwargs
from starlette.authentication import AuthCredentials

from orginvite.config import Settings
from orginvite.cookies import CookieSigner
from orginvite.errors import InvalidCookieError
from orginvite.session import Organization, OrgUser, SessionCookie, credentials_for, user_from_claims
from orginvite.transactions import Transaction, TransactionCookies


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def settings(base="http://127.0.0.1:8000", **kw):
    return Settings(**settings_kwargs("https://id.example.com/", base, **kw))


def tx(state="S" * 32, created_at=1_800_000_000.0, **kw):
    values = dict(state=state, nonce="n" * 32, code_verifier="v" * 64, organization="org_" + "a" * 16,
                  invitation=True, return_to="/x", created_at=created_at, redirect_uri="http://127.0.0.1:8000/callback")
    values.update(kw)
    return Transaction(**values)


def parse_set_cookies(headers):
    out = {}
    for _, raw in headers:
        text = raw.decode()
        name, _, rest = text.partition("=")
        value, _, attrs = rest.partition(";")
        out[name] = (value, attrs)
    return out


def test_transaction_round_trip_and_attributes():
    clock = Clock()
    store = TransactionCookies(settings(), clock=clock)
    headers = store.start(tx(), {})
    cookies = parse_set_cookies(headers)
    name = "orginvite_tx_" + "S" * 32
    value, attrs = cookies[name]
    assert "HttpOnly" in attrs and "SameSite=Lax" in attrs and "Path=/" in attrs and "Max-Age=3600" in attrs
    assert "Secure" not in attrs
    assert store.load("S" * 32, {name: value}) == tx()
    assert "n" * 32 not in repr(tx())


def test_https_uses_host_prefix_and_secure():
    store = TransactionCookies(settings("https://app.example.com"), clock=Clock())
    cookies = parse_set_cookies(store.start(tx(), {}))
    ((name, (_, attrs)),) = cookies.items()
    assert name.startswith("__Host-orginvite_tx_")
    assert "Secure" in attrs and "Path=/" in attrs and "Domain" not in attrs


def test_cap_evicts_oldest_and_cleans_garbage():
    clock = Clock()
    store = TransactionCookies(settings(max_transactions=3), clock=clock)
    jar: dict[str, str] = {}
    for i in range(3):
        clock.now += 1
        for name, (value, attrs) in parse_set_cookies(store.start(tx(state=f"{i}" * 32, created_at=clock.now),
                                                                  jar)).items():
            if "Max-Age=0" in attrs:
                jar.pop(name, None)
            else:
                jar[name] = value
    assert len(jar) == 3
    jar["orginvite_tx_" + "G" * 32] = "garbage"
    clock.now += 1
    out = parse_set_cookies(store.start(tx(state="3" * 32, created_at=clock.now), jar))
    deleted = {n for n, (_, a) in out.items() if "Max-Age=0" in a}
    assert deleted == {"orginvite_tx_" + "0" * 32, "orginvite_tx_" + "G" * 32}
    assert "orginvite_tx_" + "3" * 32 not in deleted


@pytest.mark.parametrize(
    ("state", "jar", "reason"),
    [
        (None, {}, "missing"),
        ("bad state!", {}, "missing"),
        ("S" * 32, {}, "missing"),
        ("S" * 32, {"orginvite_tx_" + "S" * 32: "x.y.z"}, "tampered"),
        ("S" * 32, {"orginvite_tx_" + "S" * 32: "nonsense"}, "malformed"),
    ],
)
def test_load_failures(state, jar, reason):
    store = TransactionCookies(settings(), clock=Clock())
    with pytest.raises(InvalidCookieError) as info:
        store.load(state, jar)
    assert info.value.reason == reason


def test_load_expired_swapped_and_foreign():
    clock = Clock()
    store = TransactionCookies(settings(), clock=clock)
    value = parse_set_cookies(store.start(tx(), {}))["orginvite_tx_" + "S" * 32][0]
    # a cookie copied under another state's name
    with pytest.raises(InvalidCookieError, match="tampered"):
        store.load("T" * 32, {"orginvite_tx_" + "T" * 32: value})
    # signed by another deployment's key
    foreign = TransactionCookies(settings(secret_keys=(KEY_B,)), clock=clock)
    fvalue = parse_set_cookies(foreign.start(tx(), {}))["orginvite_tx_" + "S" * 32][0]
    with pytest.raises(InvalidCookieError, match="tampered"):
        store.load("S" * 32, {"orginvite_tx_" + "S" * 32: fvalue})
    # a session cookie is never a transaction (salts differ)
    session_value = SessionCookie(settings(), clock=clock).issue(OrgUser("u", expires_at=clock.now + 10))
    with pytest.raises(InvalidCookieError):
        store.load("S" * 32, {"orginvite_tx_" + "S" * 32: session_value})
    clock.now += 3601
    with pytest.raises(InvalidCookieError, match="expired"):
        store.load("S" * 32, {"orginvite_tx_" + "S" * 32: value})


def test_transaction_payload_shape_is_checked():
    clock = Clock()
    signer = CookieSigner((KEY_A,), "orginvite.transaction", clock=clock)
    store = TransactionCookies(settings(), clock=clock)
    bad = {"state": "S" * 32, "nonce": 1, "code_verifier": "v", "organization": None, "invitation": "yes",
           "return_to": "/", "created_at": clock.now, "redirect_uri": "x"}
    with pytest.raises(InvalidCookieError, match="malformed"):
        store.load("S" * 32, {"orginvite_tx_" + "S" * 32: signer.sign(bad)})


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
