"""Back-channel logout end to end over loopback: the dev tenant ends a session and two app processes sharing a
store both see the app session end; bad logout tokens are refused with 400 and end nothing."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from devtenant_support import follow_on_tenant, m2m_token, submit_form
from login_support import KEY_A, Browser, import_example_app
from loopback_support import Holder
from orginvite.config import Settings
from orginvite.devtenant.app import DevTenant
from orginvite.errors import SessionStoreError
from orginvite.testing import LiveServer

ACME = "org_acme000000000001"
PASSWORD = "correct horse battery"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


def tenant_config(app_url: str) -> dict[str, Any]:
    return {
        "tenant": {"friendly_name": "Acme Dev"},
        "clients": [
            {"client_id": "web", "client_secret": "web-secret", "name": "Web", "app_type": "regular_web",
             "callbacks": [app_url + "/callback"], "allowed_logout_urls": [app_url + "/"],
             "organization_usage": "allow", "grant_types": ["authorization_code", "refresh_token"],
             "oidc_logout": {"backchannel_logout_urls": [app_url + "/backchannel-logout"]}},
            {"client_id": "m2m", "client_secret": "m2m-secret", "name": "Backend", "app_type": "non_interactive",
             "grant_types": ["client_credentials"], "scopes": ["delete:sessions", "read:users"]},
        ],
        "connections": [{"id": "con_dbdbdbdbdbdbdbdb", "name": "Username-Password-Authentication",
                         "strategy": "auth0"}],
        "organizations": [{"id": ACME, "name": "acme", "display_name": "Acme Inc.",
                           "enabled_connections": [{"connection": "Username-Password-Authentication"}]}],
        "users": [{"email": "ann@acme.test", "password": PASSWORD, "name": "Ann", "email_verified": True}],
        "members": [{"organization": "acme", "user": "ann@acme.test"}],
    }


class World:
    """The dev tenant and two app processes (two middlewares, two servers) over one store."""

    def __init__(self, tmp_path: Any, store: str, **settings: Any) -> None:
        self.holders = [Holder(), Holder()]
        self.apps = [LiveServer(holder).start() for holder in self.holders]
        self.url = self.apps[0].url
        self.tenant = DevTenant(config=tenant_config(self.url))
        self.tenant_server = self.tenant.serve().start()
        self.tenant_url = self.tenant_server.url
        shared = ({"session_store": f"sqlite:///{tmp_path}/sessions.db"} if store == "sqlite"
                  else {"revocation_store": f"sqlite:///{tmp_path}/revocations.db"})
        for holder, server in zip(self.holders, self.apps, strict=True):
            holder.inner = import_example_app().create_app(Settings(
                issuer=self.tenant_url + "/", client_id="web", client_secret="web-secret", secret_keys=(KEY_A,),
                base_url=server.url, logout_style="oidc", **shared, **settings))
        self.browser = Browser()

    def close(self) -> None:
        self.browser.close()
        for server in (*self.apps, self.tenant_server):
            server.stop()
        self.tenant.close()

    def login(self) -> None:
        page = follow_on_tenant(self.browser.client, self.browser.get(self.url + "/login"), self.tenant_url)
        page = submit_form(self.browser.client, page, {"email": "ann@acme.test", "password": PASSWORD},
                           self.tenant_url)
        done = self.browser.get(page.headers["location"])
        assert done.status_code == 303, done.text[:300]
        assert self.signed_in() == [True, True]
        self.cookie = self.browser.client.cookies["orginvite_session"]

    def signed_in(self) -> list[bool]:
        return [self.browser.get(server.url + "/me").status_code == 200 for server in self.apps]

    def wait_until_signed_out(self) -> list[bool]:
        deadline = time.monotonic() + 30  # the tenant delivers in the background; not a timing assertion
        state = self.signed_in()
        while any(state) and time.monotonic() < deadline:
            time.sleep(0.1)
            state = self.signed_in()
        return state

    def user_id(self) -> str:
        return str(self.browser.get(self.url + "/me").json()["user"]["sub"])

    def logout_token(self, **changes: Any) -> str:
        claims = {"iss": self.tenant_url + "/", "aud": "web", "iat": int(time.time()), "jti": secrets.token_hex(8),
                  "sub": self.user_id(), "events": {EVENT: {}}}
        claims.update(changes)
        return self.tenant.keys.sign({k: v for k, v in claims.items() if v is not None},
                                     headers={"typ": "logout+jwt"})

    def post_token(self, token: str) -> httpx2.Response:
        return httpx2.post(self.url + "/backchannel-logout", data={"logout_token": token})


@pytest.fixture(params=["sqlite", "cookie"])
def world(request, tmp_path):
    w = World(tmp_path, request.param)
    yield w
    w.close()


@pytest.mark.parametrize("route", ["/v2/logout", "/oidc/logout", "management"])
def test_the_tenant_ends_the_session_in_both_app_processes(world, route):
    world.login()
    if route == "management":
        user_id = world.user_id()
        response = httpx2.delete(world.tenant_url + f"/api/v2/users/{user_id}/sessions",
                                headers={"authorization": "Bearer " + m2m_token(world.tenant_url)})
        assert response.status_code == 202, response.text
    else:
        jar = httpx2.Cookies(world.browser.client.cookies)  # another app of the tenant logs out: ours keep cookies
        response = httpx2.get(world.tenant_url + route, params={"client_id": "web"}, cookies=jar)
        assert response.status_code in (200, 302), response.text[:300]
    assert world.wait_until_signed_out() == [False, False]
    home = world.browser.get(world.apps[1].url + "/")
    assert "You are signed out" in home.text


def test_signing_out_in_the_app_hints_the_provider_and_ends_the_other_process_too(tmp_path):
    world = World(tmp_path, "cookie", scope="openid profile email offline_access")
    try:
        world.login()
        page = world.browser.get(world.url + "/logout")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        out = world.browser.post(world.url + "/logout", data={"csrf_token": token})
        assert out.status_code == 303
        location = out.headers["location"]
        hints = parse_qs(urlsplit(location).query)
        assert hints["id_token_hint"][0].count(".") == 2 and hints["logout_hint"][0]
        assert world.browser.get(world.url + "/me").status_code == 401
        jar = httpx2.Cookies(world.browser.client.cookies)
        jar.set("orginvite_session", world.cookie, domain="127.0.0.1")  # a copy of the cookie the app dropped
        assert httpx2.get(world.apps[1].url + "/me", cookies=jar).status_code == 200  # a cookie session lives on
        back = httpx2.get(location, cookies=jar)  # the tenant checks the hint and ends its session
        assert back.status_code == 302, back.text[:300]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and httpx2.get(world.apps[1].url + "/me", cookies=jar).status_code == 200:
            time.sleep(0.1)
        assert httpx2.get(world.apps[1].url + "/me", cookies=jar).status_code == 401
    finally:
        world.close()


def test_discovery_advertises_backchannel_logout(world):
    document = httpx2.get(world.tenant_url + "/.well-known/openid-configuration").json()
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True


def test_a_revoked_session_has_its_cookie_dropped(world):
    world.login()
    assert world.post_token(world.logout_token()).status_code == 200
    response = world.browser.get(world.apps[1].url + "/me")
    deadline = time.monotonic() + 10
    while response.status_code == 200 and time.monotonic() < deadline:  # the other process's cache window
        time.sleep(0.1)
        response = world.browser.get(world.apps[1].url + "/me")
    assert response.status_code == 401
    assert any(h.startswith("orginvite_session=;") or "orginvite_session=\"\"" in h
               for h in response.headers.get_list("set-cookie")), response.headers.get_list("set-cookie")


def _login_routes(world: World) -> dict[str, Any]:
    """What the login routes answer this browser: each differs between a signed-in user and nobody."""
    url = world.url
    switch = world.browser.get(url + "/login?organization=acme&switch=1")
    invitation = world.browser.get(url + f"/login?invitation=tkt-abc123&organization={ACME}&organization_name=acme")
    callback = world.browser.get(url + "/callback?state=unknown-state&code=c")
    refused = world.browser.post(url + "/logout", data={"csrf_token": "forged"})
    page = world.browser.get(url + "/logout")
    assert page.status_code == 200 and 'data-page="logout_confirm"' in page.text  # GET never signs out
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return {
        "switch_is_silent": "prompt=none" in switch.headers["location"],
        "invitation": "interstitial" if 'data-page="interstitial"' in invitation.text else invitation.status_code,
        "callback": callback.status_code,
        "unconfirmed_logout": refused.status_code,
        "token": token,
    }


def test_a_revoked_session_is_signed_out_on_the_login_routes_too(world):
    world.login()
    live = _login_routes(world)
    assert {k: v for k, v in live.items() if k != "token"} == {
        "switch_is_silent": True, "invitation": "interstitial", "callback": 303, "unconfirmed_logout": 403}
    assert world.post_token(world.logout_token()).status_code == 200
    revoked = _login_routes(world)
    assert {k: v for k, v in revoked.items() if k != "token"} == {
        "switch_is_silent": False,  # no silent switch for a session that is over: an ordinary login
        "invitation": 302,  # no "signed in as someone else" interstitial: straight to the provider
        "callback": 400,  # an unknown transaction is the expired-sign-in page, not a trip home as a member
        "unconfirmed_logout": 303,  # nobody to sign out: no refusal page, back to the return URL
    }
    # the sign-out button still works, and names no provider session to end (the provider ended it already)
    out = world.browser.post(world.url + "/logout", data={"csrf_token": revoked["token"]})
    assert out.status_code == 303
    hints = parse_qs(urlsplit(out.headers["location"]).query)
    assert "logout_hint" not in hints and "id_token_hint" not in hints
    assert world.browser.get(world.url + "/me").status_code == 401


def _forged(world: World) -> str:
    key = RSAKey.generate_key(2048, parameters={"kid": world.tenant.keys.current_kid})
    claims = {"iss": world.tenant_url + "/", "aud": "web", "iat": int(time.time()), "jti": "forged",
              "sub": world.user_id(), "events": {EVENT: {}}}
    return jwt.encode({"alg": "RS256", "kid": world.tenant.keys.current_kid, "typ": "logout+jwt"}, claims, key)


@pytest.mark.parametrize("case", ["forged", "expired", "wrong_audience", "nonce", "no_event", "no_subject",
                                  "wrong_issuer", "wrong_type", "no_jti"])
def test_a_bad_logout_token_is_refused_and_ends_nothing(world, case):
    world.login()
    token = {
        "forged": lambda: _forged(world),
        "expired": lambda: world.logout_token(iat=int(time.time()) - 3600),
        "wrong_audience": lambda: world.logout_token(aud="another-app"),
        "nonce": lambda: world.logout_token(nonce="n-0S6_WzA2Mj"),
        "no_event": lambda: world.logout_token(events={"http://example.com/other": {}}),
        "no_subject": lambda: world.logout_token(sub=None),
        "wrong_issuer": lambda: world.logout_token(iss="https://evil.example/"),
        "wrong_type": lambda: world.tenant.keys.sign({"iss": world.tenant_url + "/", "aud": "web",
                                                      "iat": int(time.time()), "jti": "t", "sub": world.user_id(),
                                                      "events": {EVENT: {}}}, headers={"typ": "JWT"}),
        "no_jti": lambda: world.logout_token(jti=None),
    }[case]()
    response = world.post_token(token)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_request" and body["error_description"]
    assert world.signed_in() == [True, True]  # the receiving process knows its own revocations at once


def test_a_replayed_logout_token_is_refused(world):
    world.login()
    other_user = world.logout_token(sub="auth0|someone-else")
    assert world.post_token(other_user).status_code == 200
    replay = world.post_token(other_user)
    assert replay.status_code == 400
    assert "already used" in replay.json()["error_description"]
    assert world.signed_in() == [True, True]


@pytest.mark.parametrize("body", [b"", b"logout_token=a&logout_token=b", b"logout_token=not-a-jwt", b"x" * 20000])
def test_a_malformed_request_is_a_400(world, body):
    response = httpx2.post(world.url + "/backchannel-logout", content=body,
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_only_post_is_accepted(world):
    assert httpx2.get(world.url + "/backchannel-logout").status_code == 405


def test_the_path_is_configurable_and_revocation_off_mounts_nothing(tmp_path):
    world = World(tmp_path, "cookie", backchannel_logout_path="/auth/bcl")
    try:
        assert httpx2.post(world.url + "/auth/bcl", data={"logout_token": "x"}).status_code == 400
        assert httpx2.post(world.url + "/backchannel-logout", data={"logout_token": "x"}).status_code in (404, 405)
    finally:
        world.close()
    world = World(tmp_path, "sqlite")
    try:
        world.holders[0].inner = import_example_app().create_app(Settings(
            issuer=world.tenant_url + "/", client_id="web", client_secret="web-secret", secret_keys=(KEY_A,),
            base_url=world.url, revocation_store="off"))
        assert httpx2.post(world.url + "/backchannel-logout", data={"logout_token": "x"}).status_code in (404, 405)
    finally:
        world.close()


def test_a_server_store_whose_revocations_cannot_be_read_answers_503_not_a_signed_in_user(tmp_path):
    world = World(tmp_path, "sqlite")
    try:
        world.login()
        middleware = world.holders[1].inner
        revocations = middleware.store.revocations

        async def down(cursor: str) -> Any:
            raise SessionStoreError("SQLite session store: disk I/O error")

        revocations.backend.revocations = down
        revocations._fresh_until = float("-inf")  # the next request reads the store
        response = world.browser.get(world.apps[1].url + "/me", headers={"accept": "application/json"})
        assert response.status_code == 503
        assert response.json()["error"] == "session_store_unavailable"
    finally:
        world.close()
