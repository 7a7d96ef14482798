"""The dev tenant sends OIDC back-channel logout tokens, as Auth0 does, when a hosted session ends: to the
``oidc_logout.backchannel_logout_urls`` of the clients the session signed in to, in the background, with retries."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from devtenant_support import follow_on_tenant, m2m_token, submit_form
from loopback_support import free_port
from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.config import TenantConfigError, load_config
from orginvite.testing import LiveServer

PASSWORD = "correct horse battery"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Receiver:
    """An app's back-channel endpoint that fails its first ``failures`` POSTs with a 503."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.tokens: list[str] = []

    async def endpoint(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        self.tokens.append(form["logout_token"][0])
        if len(self.tokens) <= self.failures:
            return PlainTextResponse("busy", status_code=503)
        return PlainTextResponse("", status_code=200)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/bcl", self.endpoint, methods=["POST"])])


def config(receiver_url: str, *, second_url: str | None = None) -> dict[str, Any]:
    def client(client_id: str, url: str | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"client_id": client_id, "client_secret": client_id + "-secret",
                                 "app_type": "regular_web", "callbacks": [receiver_url + "/callback"],
                                 "grant_types": ["authorization_code"]}
        if url is not None:
            entry["oidc_logout"] = {"backchannel_logout_urls": [url]}
        return entry

    return {
        "clients": [client("web", receiver_url + "/bcl"), client("other", second_url),
                    {"client_id": "m2m", "client_secret": "m2m-secret", "app_type": "non_interactive",
                     "grant_types": ["client_credentials"], "scopes": ["delete:sessions"]},
                    {"client_id": "m2m-weak", "client_secret": "m2m-weak-secret", "app_type": "non_interactive",
                     "grant_types": ["client_credentials"], "scopes": ["read:users"]}],
        "connections": [{"name": "Username-Password-Authentication", "strategy": "auth0"}],
        "users": [{"email": "ann@acme.test", "password": PASSWORD, "email_verified": True}],
    }


@pytest.fixture
def world():
    receiver = Receiver(failures=2)
    with LiveServer(receiver.app()) as app_server:
        tenant = DevTenant(config=config(app_server.url))
        with tenant.serve() as tenant_server:
            yield tenant, tenant_server.url, app_server.url, receiver
        tenant.close()


def sign_in(http: httpx2.Client, tenant_url: str, app_url: str, client_id: str = "web") -> None:
    start = http.get(tenant_url + "/authorize", params={
        "client_id": client_id, "response_type": "code", "redirect_uri": app_url + "/callback", "scope": "openid",
        "state": "s"})
    page = follow_on_tenant(http, start, tenant_url)
    if page.status_code == 200:
        page = submit_form(http, page, {"email": "ann@acme.test", "password": PASSWORD}, tenant_url)
    assert page.headers["location"].startswith(app_url + "/callback?code="), page.text[:300]


def wait_for(receiver: Receiver, count: int) -> list[str]:
    deadline = time.monotonic() + 30  # delivered in the background: not a timing assertion
    while len(receiver.tokens) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return receiver.tokens


@pytest.mark.parametrize("route", ["/v2/logout", "/oidc/logout"])
def test_a_logout_sends_signed_tokens_and_retries_a_failing_receiver(world, route):
    tenant, tenant_url, app_url, receiver = world
    with httpx2.Client() as http:
        sign_in(http, tenant_url, app_url)
        out = http.get(tenant_url + route)
        assert out.status_code == 200  # the receiver's 503s never reach the user's logout
    tokens = wait_for(receiver, 3)
    assert len(tokens) == 3  # two failures, then the delivery that worked; nothing after it
    time.sleep(0.5)
    assert len(receiver.tokens) == 3
    claims = [tenant.keys.verify(token) for token in tokens]
    for token in tokens:
        assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["typ"] == "logout+jwt"
    assert len({c["jti"] for c in claims}) == 3  # a fresh token each time: a noted jti would refuse a resend
    for c in claims:
        assert c["iss"] == tenant_url + "/" and c["aud"] == "web" and c["events"] == {EVENT: {}}
        assert c["sub"].startswith("auth0|") and c["sid"] and "nonce" not in c
        assert c["iat"] <= c["exp"] <= c["iat"] + 300
    assert len({c["sid"] for c in claims}) == 1


def test_only_the_clients_the_session_signed_in_to_are_told(world):
    tenant, tenant_url, app_url, receiver = world
    other = Receiver()
    with LiveServer(other.app()) as other_server:
        tenant.store.put_client({**tenant.store.get_client("other"),
                                 "oidc_logout": {"backchannel_logout_urls": [other_server.url + "/bcl"]}})
        receiver.failures = 0
        with httpx2.Client() as http:
            sign_in(http, tenant_url, app_url)
            assert http.get(tenant_url + "/v2/logout").status_code == 200
        assert len(wait_for(receiver, 1)) == 1
        assert other.tokens == []  # "other" has a URL, but this session never signed in to it


def test_a_receiver_that_is_down_never_fails_the_logout():
    dead = f"http://127.0.0.1:{free_port()}"
    tenant = DevTenant(config=config(dead))
    with tenant.serve() as tenant_server, httpx2.Client() as http:
        sign_in(http, tenant_server.url, dead)
        assert http.get(tenant_server.url + "/v2/logout").status_code == 200
    tenant.close()


def test_the_management_api_ends_every_session_of_a_user(world):
    tenant, tenant_url, app_url, receiver = world
    receiver.failures = 0
    browsers = [httpx2.Client(), httpx2.Client()]
    for http in browsers:
        sign_in(http, tenant_url, app_url)
    user_id = _user_id(tenant)
    weak = httpx2.delete(tenant_url + f"/api/v2/users/{user_id}/sessions",
                        headers={"authorization": "Bearer " + m2m_token(tenant_url, "m2m-weak", "m2m-weak-secret")})
    assert weak.status_code == 403 and receiver.tokens == []
    token = m2m_token(tenant_url)
    missing = httpx2.delete(tenant_url + "/api/v2/users/auth0|nobody/sessions",
                           headers={"authorization": "Bearer " + token})
    assert missing.status_code == 404
    done = httpx2.delete(tenant_url + f"/api/v2/users/{user_id}/sessions", headers={"authorization": "Bearer " + token})
    assert done.status_code == 202 and done.content == b""  # Auth0: "Session deletion request accepted."
    claims = [tenant.keys.verify(t) for t in wait_for(receiver, 2)]
    assert len({c["sid"] for c in claims}) == 2 and {c["sub"] for c in claims} == {user_id}
    for http in browsers:  # the hosted sessions are over: /authorize asks for credentials again
        start = http.get(tenant_url + "/authorize", params={
            "client_id": "web", "response_type": "code", "redirect_uri": app_url + "/callback", "scope": "openid",
            "state": "s", "prompt": "none"})
        assert "error=login_required" in start.headers["location"]
        http.close()


def _user_id(tenant: DevTenant) -> str:
    users, _ = tenant.store.list_users(0, 10)
    return str(next(u["user_id"] for u in users if u["email"] == "ann@acme.test"))


def test_discovery_advertises_back_channel_logout(world):
    _, tenant_url, _, _ = world
    document = httpx2.get(tenant_url + "/.well-known/openid-configuration").json()
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True


@pytest.mark.parametrize("value", [{"backchannel_logout_urls": ["not a url"]},
                                   {"backchannel_logout_urls": ["https://a.example/", "https://b.example/"]},
                                   {"backchannel_logout_uri": "https://a.example/"}])
def test_a_bad_oidc_logout_field_names_the_setting(value):
    data = config("http://127.0.0.1:1")
    data["clients"][0]["oidc_logout"] = value
    with pytest.raises(TenantConfigError) as info:
        load_config(data)
    assert "clients[0].oidc_logout" in str(info.value)


def test_loopback_urls_are_accepted_unlike_auth0():
    loaded = load_config(config("http://127.0.0.1:8000"))
    web = next(c for c in loaded.clients if c["client_id"] == "web")
    assert web["oidc_logout"] == {"backchannel_logout_urls": ["http://127.0.0.1:8000/bcl"]}
