from __future__ import annotations

import pytest

from login_support import KEY_A, KEY_B, unit_settings
from login_support import FrozenClock as Clock
from orginvite.errors import InvalidCookieError
from orginvite.login.transactions import Transaction, TransactionCookies
from orginvite.sessions.cookie import SessionCookie
from orginvite.sessions.signing import CookieSigner
from orginvite.sessions.user import OrgUser

settings = unit_settings


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
