"""Members of several organizations, over real loopback HTTP against the dev tenant: guards for roles and
permissions (Starlette and FastAPI), revalidation of membership and roles, and switching organizations."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import orginvite.fastapi
from devtenant_support import follow_on_tenant, m2m_token, submit_form
from login_support import KEY_A, Browser
from loopback_support import Holder
from orginvite import (
    OrgInviteMiddleware,
    OrgUser,
    Settings,
    current_organizations,
    current_permissions,
    requires_permissions,
    requires_roles,
    switch_organization_url,
)
from orginvite.devtenant.app import DevTenant
from orginvite.errors import SessionStoreError
from orginvite.sessions.revalidation import OUTAGE_RETRY
from orginvite.testing import LiveServer

ACME, GLOBEX = "org_acme000000000001", "org_glob000000000001"
ADMIN, MEMBER = "rol_admin00000000001", "rol_membr00000000001"
ROLES_CLAIM = "https://orginvite.dev/roles"
PASSWORD = "correct horse battery"
API = "https://api.acme.test/"
EVERY = 300


def tenant_config(app_url: str) -> dict[str, Any]:
    db = [{"connection": "Username-Password-Authentication", "assign_membership_on_login": False}]
    return {
        "tenant": {"friendly_name": "Dev", "id_token_roles_claim": ROLES_CLAIM,
                   "allow_organization_name_in_authentication_api": True},
        "clients": [
            {"client_id": "web", "client_secret": "web-secret", "name": "Web", "app_type": "regular_web",
             "callbacks": [app_url + "/callback"], "allowed_logout_urls": [app_url + "/"],
             "initiate_login_uri": app_url + "/login", "organization_usage": "allow",
             "grant_types": ["authorization_code", "refresh_token"]},
            {"client_id": "m2m", "client_secret": "m2m-secret", "name": "Backend", "app_type": "non_interactive",
             "grant_types": ["client_credentials"],
             "scopes": ["read:organizations", "read:users", "read:organization_member_roles",
                        "delete:organization_members", "delete:organization_member_roles",
                        "create:organization_member_roles"]},
        ],
        "connections": [{"id": "con_dbdbdbdbdbdbdbdb", "name": "Username-Password-Authentication",
                         "strategy": "auth0"}],
        "apis": [{"identifier": API, "name": "Acme API", "scopes": ["invoices:read", "invoices:write"],
                  "enforce_policies": True, "token_dialect": "access_token_authz"}],
        "organizations": [
            {"id": ACME, "name": "acme", "display_name": "Acme Inc.", "enabled_connections": db},
            {"id": GLOBEX, "name": "globex", "display_name": "Globex", "enabled_connections": db},
        ],
        "roles": [
            {"id": ADMIN, "name": "admin", "description": "Admin",
             "permissions": [{"resource_server_identifier": API, "permission_name": "invoices:read"},
                             {"resource_server_identifier": API, "permission_name": "invoices:write"}]},
            {"id": MEMBER, "name": "member", "description": "Member",
             "permissions": [{"resource_server_identifier": API, "permission_name": "invoices:read"}]},
        ],
        "users": [{"email": "ann@acme.test", "password": PASSWORD, "name": "Ann", "email_verified": True},
                  {"email": "carl@acme.test", "password": PASSWORD, "name": "Carl", "email_verified": True}],
        "members": [{"organization": "acme", "user": "ann@acme.test", "roles": ["admin"]},
                    {"organization": "globex", "user": "ann@acme.test", "roles": ["member"]},
                    {"organization": "acme", "user": "carl@acme.test", "roles": []}],
    }


ADMINS_ONLY = Depends(orginvite.fastapi.require_roles("admin"))
WRITERS_ONLY = Depends(orginvite.fastapi.require_permissions("invoices:write"))


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@requires_roles("admin")
async def admin(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@requires_roles("admin", redirect="/login")
async def admin_or_login(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@requires_permissions("invoices:write")
async def write_invoices(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "permissions": list(current_permissions(request))})


async def me(request: Request) -> JSONResponse:
    user = request.user
    if not isinstance(user, OrgUser):
        return JSONResponse({"user": None})
    assert user.organization is not None
    return JSONResponse({"user": user.sub, "organization": user.organization.id, "roles": list(user.roles)})


async def organizations(request: Request) -> JSONResponse:
    found = await current_organizations(request)
    return JSONResponse([{"id": o.id, "name": o.name, "display_name": o.display_name,
                          "switch": switch_organization_url(request, o, "/me")} for o in found])


class World:
    def __init__(self, web_client: dict[str, Any] | None = None, **settings: Any) -> None:
        self.holder = Holder()
        self.app_server = LiveServer(self.holder).start()
        self.url = self.app_server.url
        config = tenant_config(self.url)
        config["clients"][0].update(web_client or {})
        self.tenant = DevTenant(config=config)
        self.tenant_server = self.tenant.serve().start()
        self.tenant_url = self.tenant_server.url
        self.clock = Clock()
        values: dict[str, Any] = dict(
            issuer=self.tenant_url + "/", client_id="web", client_secret="web-secret", secret_keys=(KEY_A,),
            base_url=self.url, audience=API, revalidate_every=EVERY, management_client_id="m2m",
            management_client_secret="m2m-secret")
        values.update(settings)
        self.settings = Settings(**values)
        inner = Starlette(routes=[Route("/me", me), Route("/admin", admin), Route("/admin-or-login", admin_or_login),
                                  Route("/invoices", write_invoices, methods=["GET"]),
                                  Route("/orgs", organizations)])
        self.middleware = OrgInviteMiddleware(inner, self.settings, clock=self.clock)
        self.holder.inner = self.middleware
        self.browser = Browser()

    def close(self) -> None:
        self.browser.close()
        self.app_server.stop()
        self.tenant_server.stop()
        self.tenant.close()

    def get(self, path: str, **kw: Any) -> httpx2.Response:
        return self.browser.get(path if path.startswith("http") else self.url + path, **kw)

    def login(self, query: str, email: str = "ann@acme.test") -> httpx2.Response:
        page = follow_on_tenant(self.browser.client, self.get("/login" + query), self.tenant_url)
        if page.status_code == 200:
            page = submit_form(self.browser.client, page, {"email": email, "password": PASSWORD}, self.tenant_url)
        location = page.headers["location"]
        assert location.startswith(self.url + "/callback?"), location
        return self.get(location)

    def management(self, method: str, path: str, body: Any = None) -> httpx2.Response:
        return httpx2.request(method, self.tenant_url + "/api/v2/" + path, json=body,
                             headers={"authorization": f"Bearer {m2m_token(self.tenant_url)}"})

    def user_id(self, email: str) -> str:
        found = self.management("GET", "users-by-email?email=" + email).json()
        return found[0]["user_id"]


@pytest.fixture
def world():
    w = World()
    yield w
    w.close()


def test_guards_allow_deny_and_redirect(world):
    assert world.get("/admin").status_code == 401
    assert 'data-page="guard_denied"' in world.get("/admin", headers={"accept-language": "fr"}).text
    anonymous = world.get("/admin-or-login?x=1")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?returnTo=%2Fadmin-or-login%3Fx%3D1"
    world.login("?organization=acme", "carl@acme.test")
    denied = world.get("/admin", headers={"accept-language": "fr"})
    assert denied.status_code == 403 and "Vous n’avez pas accès à cette page" in denied.text
    as_json = world.get("/invoices", headers={"accept": "application/json"})
    assert as_json.status_code == 403 and as_json.json()["missing"] == {"permissions": ["invoices:write"]}
    world.browser.client.cookies.clear()
    world.login("?organization=acme")
    assert world.get("/admin").json() == {"ok": True}
    allowed = world.get("/invoices").json()
    assert sorted(allowed["permissions"]) == ["invoices:read", "invoices:write"]


def test_fastapi_dependencies(world):
    api = FastAPI()

    @api.get("/admin")
    async def fastapi_admin(user: OrgUser = ADMINS_ONLY) -> dict[str, str]:
        return {"sub": user.sub}

    @api.get("/write")
    async def fastapi_write(user: OrgUser = WRITERS_ONLY) -> dict[str, bool]:
        return {"ok": True}

    world.holder.inner = OrgInviteMiddleware(api, world.settings, clock=world.clock)
    assert world.get("/admin").status_code == 401
    world.login("?organization=acme", "carl@acme.test")
    assert world.get("/admin").status_code == 403
    refused = world.get("/write")
    assert refused.status_code == 403 and refused.json()["detail"]["missing"] == {"permissions": ["invoices:write"]}
    world.browser.client.cookies.clear()
    world.login("?organization=acme")
    assert world.get("/admin").json() == {"sub": world.user_id("ann@acme.test")}
    assert world.get("/write").json() == {"ok": True}


def test_removed_member_loses_the_session_within_one_interval(world):
    world.login("?organization=acme", "carl@acme.test")
    assert world.get("/me").json()["organization"] == ACME
    carl = world.user_id("carl@acme.test")
    assert world.management("DELETE", f"organizations/{ACME}/members", {"members": [carl]}).status_code == 204
    assert world.get("/me").json()["organization"] == ACME  # confirmed less than an interval ago
    world.clock.offset = EVERY + 1
    ended = world.get("/me", headers={"accept-language": "fr"})
    assert ended.status_code == 403 and 'data-page="membership_ended"' in ended.text
    assert "Vous n’êtes plus membre d’<bdi>acme</bdi>" in ended.text
    assert world.get("/me").json() == {"user": None}


def test_demoted_member_roles_change_and_outage_keeps_the_session(world):
    world.login("?organization=acme")
    assert world.get("/admin").status_code == 200
    ann = world.user_id("ann@acme.test")
    removed = world.management("DELETE", f"organizations/{ACME}/members/{ann}/roles", {"roles": [ADMIN]})
    assert removed.status_code == 204
    world.clock.offset = EVERY + 1
    assert world.get("/me").json()["roles"] == []
    assert world.get("/admin").status_code == 403
    # the Management API goes away: the session is kept (and logged), roles as last confirmed
    world.tenant_server.stop()
    world.clock.offset = 3 * EVERY
    kept = world.get("/me").json()
    assert kept["user"] == ann and kept["roles"] == []


def test_a_burst_of_one_session_costs_one_confirmation(world):
    world.login("?organization=acme")
    cookies = dict(world.browser.client.cookies)
    world.clock.offset = EVERY + 1
    memberships = world.middleware.context.memberships
    before = memberships.calls

    async def burst() -> list[int]:
        limits = httpx2.Limits(max_connections=20)
        async with httpx2.AsyncClient(cookies=cookies, limits=limits, timeout=httpx2.Timeout(60, pool=None)) as client:
            # the same (old) cookie every time: the browser never stored what the first answer set
            answers = await asyncio.gather(*(client.get(world.url + "/me") for _ in range(1000)))
        return [a.status_code for a in answers]

    assert set(asyncio.run(burst())) == {200}
    assert memberships.calls - before == 2  # one confirmation: the user's organizations, then their roles


def test_switching_organizations_and_a_refused_switch(world):
    world.login("?organization=acme")
    listed = world.get("/orgs").json()
    assert {(o["id"], o["display_name"]) for o in listed} == {(ACME, "Acme Inc."), (GLOBEX, "Globex")}
    globex = next(o for o in listed if o["id"] == GLOBEX)
    assert globex["switch"] == f"/login?organization={GLOBEX}&returnTo=%2Fme&switch=1"
    start = world.get(globex["switch"])
    assert "prompt=none" in start.headers["location"]
    at_app = follow_on_tenant(world.browser.client, start, world.tenant_url)  # no page, no password
    done = world.get(at_app.headers["location"])
    assert done.status_code == 303 and done.headers["location"] == "/me"
    assert world.get("/me").json()["organization"] == GLOBEX
    # Carl is no member of globex: the provider refuses, today's page says so, the acme session stays
    world.browser.client.cookies.clear()
    world.login("?organization=acme", "carl@acme.test")
    refused = world.get(world.get("/orgs").json()[0]["switch"].replace(ACME, GLOBEX))
    page = world.get(follow_on_tenant(world.browser.client, refused, world.tenant_url).headers["location"])
    assert page.status_code == 403 and 'data-page="callback_not_a_member"' in page.text
    assert world.get("/me").json()["organization"] == ACME


def test_a_silent_switch_without_a_provider_session_restarts_interactively(world):
    world.login("?organization=acme")
    world.get(world.tenant_url + "/v2/logout")  # the provider session ends; the app's stays
    start = world.get(f"/login?organization={GLOBEX}&returnTo=/me&switch=1")
    answer = follow_on_tenant(world.browser.client, start, world.tenant_url)
    assert "error=login_required" in answer.headers["location"]
    again = world.get(answer.headers["location"])
    assert again.status_code in (302, 303) and "prompt=" not in again.headers["location"]
    page = follow_on_tenant(world.browser.client, again, world.tenant_url)
    done = submit_form(world.browser.client, page, {"email": "ann@acme.test", "password": PASSWORD}, world.tenant_url)
    assert world.get(done.headers["location"]).headers["location"] == "/me"
    assert world.get("/me").json()["organization"] == GLOBEX


def test_switch_links_are_validated_and_need_a_session(world):
    bad = world.get("/login?organization=globex&switch=yes")
    assert bad.status_code == 400 and "invalid_switch" in world.get(
        "/login?organization=globex&switch=yes", headers={"accept": "application/json"}).text
    anonymous = world.get("/login?organization=globex&switch=1")
    assert anonymous.status_code == 302 and "prompt=none" not in anonymous.headers["location"]


def test_readme_example_switches_and_guards(world, monkeypatch):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Members of several organizations", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"^Starlette:\n\n```python\n(.*?)```", section, re.S | re.M)[0]
    for name, value in {"ORGINVITE_ISSUER": world.tenant_url + "/", "ORGINVITE_CLIENT_ID": "web",
                        "ORGINVITE_CLIENT_SECRET": "web-secret", "ORGINVITE_SECRET_KEYS": KEY_A,
                        "ORGINVITE_BASE_URL": world.url, "ORGINVITE_MANAGEMENT_CLIENT_ID": "m2m",
                        "ORGINVITE_MANAGEMENT_CLIENT_SECRET": "m2m-secret"}.items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, Any] = {}
    exec(compile(code, "README:members", "exec"), namespace)
    world.holder.inner = namespace["app"]
    assert world.get("/admin").headers["location"] == "/login?returnTo=%2Fadmin"
    world.login("?organization=acme")
    assert world.get("/admin").json() == {
        "Acme Inc.": f"/login?organization={ACME}&returnTo=%2Fadmin&switch=1",
        "Globex": f"/login?organization={GLOBEX}&returnTo=%2Fadmin&switch=1"}


# -- without machine credentials: a refresh confirms (new ID token, roles claim) ----------------------------------

#: No Management API credentials, a refresh token (offline_access) and no API audience (the tenant's API does not
#: allow offline access): revalidation can only ask the provider through a refresh.
BY_REFRESH = dict(audience=None, scope="openid profile email offline_access", management_client_id=None,
                  management_client_secret=None)


@pytest.fixture
def refreshing():
    w = World(**BY_REFRESH)
    yield w
    w.close()


def test_without_credentials_a_refresh_confirms_the_roles(refreshing):
    world = refreshing
    assert world.middleware.context.memberships is None
    world.login("?organization=acme")
    assert world.get("/admin").status_code == 200
    ann = world.user_id("ann@acme.test")
    refreshes = world.tenant.token_calls["refresh_token"]
    demoted = world.management("DELETE", f"organizations/{ACME}/members/{ann}/roles", {"roles": [ADMIN]})
    assert demoted.status_code == 204
    assert world.get("/admin").status_code == 200  # confirmed less than an interval ago: nothing asked
    assert world.tenant.token_calls["refresh_token"] == refreshes
    world.clock.offset = EVERY + 1
    assert world.get("/me").json() == {"user": ann, "organization": ACME, "roles": []}
    assert world.tenant.token_calls["refresh_token"] == refreshes + 1  # the new ID token's roles claim
    assert world.get("/admin").status_code == 403
    assert world.tenant.token_calls["refresh_token"] == refreshes + 1  # confirmed again: once per interval
    promoted = world.management("POST", f"organizations/{ACME}/members/{ann}/roles", {"roles": [ADMIN, MEMBER]})
    assert promoted.status_code == 204
    world.clock.offset = 2 * EVERY + 2
    assert sorted(world.get("/me").json()["roles"]) == ["admin", "member"]
    assert world.get("/admin").status_code == 200
    assert world.tenant.token_calls["refresh_token"] == refreshes + 2


def test_without_credentials_a_removed_member_is_refused_the_refresh_and_signed_out(refreshing):
    world = refreshing
    world.login("?organization=acme", "carl@acme.test")
    carl = world.user_id("carl@acme.test")
    assert world.management("DELETE", f"organizations/{ACME}/members", {"members": [carl]}).status_code == 204
    assert world.get("/me").json()["user"] == carl  # confirmed less than an interval ago
    world.clock.offset = EVERY + 1
    ended = world.get("/me", headers={"accept-language": "fr"})
    assert ended.status_code == 403 and 'data-page="membership_ended"' in ended.text
    assert "Vous n’êtes plus membre d’<bdi>acme</bdi>" in ended.text
    assert world.get("/me").json() == {"user": None}  # the cookie is gone
    assert world.get("/admin").status_code == 401


def test_without_credentials_a_provider_outage_keeps_the_session_and_is_not_asked_on_every_request(refreshing):
    world = refreshing
    world.login("?organization=acme")
    ann = world.user_id("ann@acme.test")
    access_tokens = world.middleware.context.access_tokens
    world.tenant_server.stop()
    world.clock.offset = EVERY + 1
    before = access_tokens.refreshes
    for _ in range(5):
        kept = world.get("/me").json()
        assert kept == {"user": ann, "organization": ACME, "roles": ["admin"]}
    assert access_tokens.refreshes - before == 1  # the outage is remembered a while, not retried per request
    assert world.get("/admin").status_code == 200
    world.clock.offset += OUTAGE_RETRY + 1
    assert world.get("/me").json()["user"] == ann
    assert access_tokens.refreshes - before == 2  # then asked again


def test_without_credentials_an_outage_is_remembered_from_when_the_attempt_failed(tmp_path):
    # SQLite's refresh lock gives up after its 30 s lease, longer than the pause: counted from when the attempt
    # began, the pause would be over by the time it failed, and every request would wait on the lock again.
    world = World(session_store=f"sqlite:///{tmp_path}/sessions.db", **BY_REFRESH)
    try:
        world.login("?organization=acme")
        ann = world.user_id("ann@acme.test")
        backend = world.middleware.store.backend
        attempts = []

        @contextlib.asynccontextmanager
        async def slow_and_stuck(sid: str) -> Any:
            attempts.append(sid)
            world.clock.offset += OUTAGE_RETRY + 1  # the lock waited out its lease
            raise SessionStoreError("SQLite session store: the refresh lock was not released in time")
            yield

        backend.lock = slow_and_stuck
        world.clock.offset = EVERY + 1
        assert world.get("/me").json() == {"user": ann, "organization": ACME, "roles": ["admin"]}
        assert world.get("/me").json()["user"] == ann
        assert len(attempts) == 1  # the next request, right after the failure, does not wait on the lock again
        world.clock.offset += OUTAGE_RETRY + 1
        assert world.get("/me").json()["user"] == ann
        assert len(attempts) == 2
    finally:
        world.close()


def _answered_cookies(sent: dict[str, str], response: httpx2.Response) -> dict[str, str]:
    """The session cookies a browser keeps after ``response`` (to a request that carried ``sent``) came back."""
    kept = dict(sent)
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        value = rest.split(";", 1)[0].strip('"')
        if value and "max-age=0" not in header.lower():
            kept[name] = value
        else:
            kept.pop(name, None)
    return kept


ROTATING = {"refresh_token": {"rotation_type": "rotating", "leeway": 0}}


def test_without_credentials_a_rotated_refresh_token_is_not_written_back_by_a_concurrent_request():
    # A request of a second tab left with the pre-rotation cookie while the first one refreshed; its answer comes
    # back last, so its cookie is what the browser keeps. It must carry the new refresh token: the old one is
    # rotated away, and using it at the next interval is reuse, which the provider answers by revoking everything.
    world = World(web_client=ROTATING, **BY_REFRESH)
    try:
        world.login("?organization=acme")
        ann = world.user_id("ann@acme.test")
        before = world.browser.cookie("orginvite_session")
        world.clock.offset = EVERY + 1
        first = httpx2.get(world.url + "/me", cookies=before)
        assert first.json()["roles"] == ["admin"]
        second = httpx2.get(world.url + "/me", cookies=before)  # the same old cookie, answered after the first
        assert second.json()["roles"] == ["admin"]
        kept = _answered_cookies(before, second)
        world.clock.offset = 2 * EVERY + 2  # long after the process forgot the rotation
        later = httpx2.get(world.url + "/me", cookies=kept)
        assert later.status_code == 200 and later.json() == {"user": ann, "organization": ACME, "roles": ["admin"]}
    finally:
        world.close()


def test_without_credentials_a_short_interval_never_refreshes_with_a_rotated_away_token():
    # revalidate_every shorter than the minute a rotation is remembered: the pre-rotation cookie comes back after
    # the confirmation lapsed. The rotation's tokens are the confirmation; a refresh with the old token would be
    # reuse (the whole family revoked, the member shown "no longer a member").
    world = World(web_client=ROTATING, revalidate_every=30, **BY_REFRESH)
    try:
        world.login("?organization=acme")
        ann = world.user_id("ann@acme.test")
        before = world.browser.cookie("orginvite_session")
        world.clock.offset = 31
        assert httpx2.get(world.url + "/me", cookies=before).json()["roles"] == ["admin"]
        refreshes = world.tenant.token_calls["refresh_token"]
        world.clock.offset = 62
        again = httpx2.get(world.url + "/me", cookies=before)
        assert again.status_code == 200 and again.json() == {"user": ann, "organization": ACME, "roles": ["admin"]}
        assert world.tenant.token_calls["refresh_token"] == refreshes
        world.clock.offset = 200  # the rotation long forgotten: the cookie that answer set refreshes, and works
        later = httpx2.get(world.url + "/me", cookies=_answered_cookies(before, again))
        assert later.status_code == 200 and later.json()["user"] == ann
        assert world.tenant.token_calls["refresh_token"] == refreshes + 1
    finally:
        world.close()


def test_without_credentials_a_server_store_that_fails_during_the_refresh_keeps_the_session(tmp_path):
    world = World(session_store=f"sqlite:///{tmp_path}/sessions.db", **BY_REFRESH)
    try:
        world.login("?organization=acme")
        ann = world.user_id("ann@acme.test")
        backend = world.middleware.store.backend

        @contextlib.asynccontextmanager
        async def stuck(sid: str) -> Any:
            raise SessionStoreError("SQLite session store: the refresh lock was not released in time")
            yield

        backend.lock = stuck
        refreshes = world.tenant.token_calls["refresh_token"]
        world.clock.offset = EVERY + 1
        answer = world.get("/me", headers={"accept": "application/json"})
        assert answer.status_code == 200 and answer.json() == {"user": ann, "organization": ACME, "roles": ["admin"]}
        del backend.lock  # the store is back: after the short pause, the session confirms
        world.clock.offset += OUTAGE_RETRY + 1
        assert world.get("/me").json()["roles"] == ["admin"]
        assert world.tenant.token_calls["refresh_token"] == refreshes + 1
    finally:
        world.close()
