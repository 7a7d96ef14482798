"""``exp`` / ``iat`` of NaN or +-Infinity are refused: Python's json reads them, and every comparison with NaN is
False, so without an explicit finiteness check a token with ``exp: NaN`` never expires."""

from __future__ import annotations

import math
import time

import pytest

from login_support import CLIENT_ID, Browser, MiniOP, import_example_app, settings_kwargs
from loopback_support import Holder
from orginvite.config import Settings
from orginvite.errors import TokenError
from orginvite.login.oidc import OIDCClient
from orginvite.testing import LiveServer

NONFINITE = [math.nan, math.inf, -math.inf]


def _claims(**over):
    now = int(time.time())
    claims = {"iss": "https://op.example/", "aud": CLIENT_ID, "sub": "auth0|x", "iat": now, "exp": now + 300,
              "nonce": "n1"}
    claims.update(over)
    return claims


@pytest.mark.parametrize("name", ["exp", "iat"])
@pytest.mark.parametrize("value", NONFINITE, ids=["nan", "inf", "-inf"])
def test_check_claims_refuses_nonfinite_times(name, value):
    client = OIDCClient(Settings(**settings_kwargs("https://op.example/", "http://127.0.0.1:8000")))
    client.check_claims(_claims(), issuer="https://op.example/", nonce="n1")  # the baseline passes
    with pytest.raises(TokenError):
        client.check_claims(_claims(**{name: value}), issuer="https://op.example/", nonce="n1")


def test_huge_integer_times_are_compared_not_overflowed():
    client = OIDCClient(Settings(**settings_kwargs("https://op.example/", "http://127.0.0.1:8000")))
    client.check_claims(_claims(exp=10**400), issuer="https://op.example/", nonce="n1")  # far future: fine
    with pytest.raises(TokenError, match="future"):
        client.check_claims(_claims(iat=10**400), issuer="https://op.example/", nonce="n1")


@pytest.fixture
def world():
    op = MiniOP()
    holder = Holder()
    with LiveServer(op.app) as op_server, LiveServer(holder) as app_server:
        holder.inner = import_example_app().create_app(
            Settings(**settings_kwargs(op_server.url + "/", app_server.url)))
        browser = Browser()
        yield op, app_server.url, browser
        browser.close()


@pytest.mark.parametrize("name", ["exp", "iat"])
@pytest.mark.parametrize("value", NONFINITE, ids=["nan", "inf", "-inf"])
def test_signed_token_with_nonfinite_time_gets_no_session(world, name, value):
    op, url, browser = world
    op.claims = {name: value}
    login = browser.get(url + "/login")
    at_op = browser.get(login.headers["location"])
    response = browser.get(at_op.headers["location"])
    assert response.status_code == 403 and 'data-page="forbidden"' in response.text
    assert "orginvite_session" not in browser.cookie_names()
    assert browser.get(url + "/me").status_code == 401
