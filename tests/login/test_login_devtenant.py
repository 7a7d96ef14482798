"""The login flow end to end over real loopback HTTP: example app + middleware against the dev tenant."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx2
import pytest

from devtenant_support import create_invitation, follow_on_tenant, submit_form
from login_support import KEY_A, Browser, import_example_app, query_of, sign_out
from loopback_support import Holder
from orginvite.config import Settings
from orginvite.devtenant.app import DevTenant
from orginvite.testing import LiveServer

ACME = "org_acme000000000001"
CLOSED = "org_clos000000000001"
ROLES_CLAIM = "https://orginvite.dev/roles"
PASSWORD = "correct horse battery"


def tenant_config(app_url: str, *, usage: str = "allow", names: bool = True) -> dict[str, Any]:
    return {
        "tenant": {"friendly_name": "Acme Dev", "allow_organization_name_in_authentication_api": names,
                   "id_token_roles_claim": ROLES_CLAIM},
        "clients": [
            {"client_id": "web", "client_secret": "web-secret", "name": "Web", "app_type": "regular_web",
             "callbacks": [app_url + "/callback"], "allowed_logout_urls": [app_url + "/"],
             "initiate_login_uri": app_url + "/login", "organization_usage": usage,
             "organization_require_behavior": "no_prompt", "grant_types": ["authorization_code"]},
            {"client_id": "m2m", "client_secret": "m2m-secret", "name": "Backend", "app_type": "non_interactive",
             "grant_types": ["client_credentials"],
             "scopes": ["create:organization_invitations", "read:organization_invitations"]},
        ],
        "connections": [{"id": "con_dbdbdbdbdbdbdbdb", "name": "Username-Password-Authentication",
                         "strategy": "auth0"}],
        "organizations": [
            {"id": ACME, "name": "acme", "display_name": "Acme Inc.",
             "enabled_connections": [{"connection": "Username-Password-Authentication",
                                      "assign_membership_on_login": False}]},
            {"id": CLOSED, "name": "closed", "display_name": "Closed", "enabled_connections": []},
        ],
        "roles": [{"id": "rol_admin00000000001", "name": "admin", "description": "Admin"},
                  {"id": "rol_membr00000000001", "name": "member", "description": "Member"}],
        "users": [{"email": "ann@acme.test", "password": PASSWORD, "name": "Ann Admin", "email_verified": True},
                  {"email": "carl@else.test", "password": PASSWORD, "name": "Carl", "email_verified": True}],
        "members": [{"organization": "acme", "user": "ann@acme.test", "roles": ["admin"]}],
    }


class World:
    def __init__(self, tenant: DevTenant, tenant_url: str, holder: Holder, app_url: str) -> None:
        self.tenant, self.tenant_url, self.holder, self.url = tenant, tenant_url, holder, app_url
        self.browser = Browser()

    def configure(self, **kw: Any) -> None:
        values = dict(issuer=self.tenant_url + "/", client_id="web", client_secret="web-secret",
                      secret_keys=(KEY_A,), base_url=self.url)
        values.update(kw)
        self.holder.inner = import_example_app().create_app(Settings(**values))

    def get(self, url: str, **kw: Any) -> httpx2.Response:
        return self.browser.get(url, **kw)

    def to_tenant(self, response: httpx2.Response) -> httpx2.Response:
        """Follow redirects while they stay on the tenant; stop at a tenant page or at the app's callback."""
        return follow_on_tenant(self.browser.client, response, self.tenant_url)

    def submit(self, page: httpx2.Response, values: dict[str, str]) -> httpx2.Response:
        return submit_form(self.browser.client, page, values, self.tenant_url)

    def callback(self, at_app: httpx2.Response) -> httpx2.Response:
        location = at_app.headers["location"]
        assert location.startswith(self.url + "/callback?"), location
        return self.browser.get(location)

    def login(self, query: str = "", *, email: str = "ann@acme.test") -> httpx2.Response:
        start = self.get(self.url + "/login" + query)
        assert start.status_code == 302, start.text[:300]
        page = self.to_tenant(start)
        if page.status_code == 200:
            page = self.submit(page, {"email": email, "password": PASSWORD})
        return self.callback(page)

    def me(self) -> httpx2.Response:
        return self.get(self.url + "/me")

    def invite(self, email: str, roles: list[str] | None = None) -> dict[str, Any]:
        """Create an invitation through the tenant's Management API, as a backend would."""
        return create_invitation(self.tenant_url, ACME, email, roles)


def running_world(**tenant_kw: Any):
    holder = Holder()
    app_server = LiveServer(holder).start()
    tenant = DevTenant(config=tenant_config(app_server.url, **tenant_kw))
    tenant_server = tenant.serve().start()
    world = World(tenant, tenant_server.url, holder, app_server.url)
    world.configure()
    return world, (app_server, tenant_server)


@pytest.fixture
def world():
    w, servers = running_world()
    yield w
    w.browser.close()
    for server in servers:
        server.stop()
    w.tenant.close()


def test_complete_invitation_flow(world):
    invitation = world.invite("Newbie@Acme.test", roles=["rol_membr00000000001", "rol_admin00000000001"])
    url = invitation["invitation_url"]
    assert url.startswith(world.url + "/login?invitation=")
    ticket = invitation["ticket_id"]
    start = world.get(url)
    assert start.status_code == 302
    authorize = query_of(start.headers["location"])
    assert authorize["invitation"] == ticket and authorize["organization"] == ACME
    assert "organization_name" not in authorize
    signup = world.to_tenant(start)
    assert signup.status_code == 200 and signup.url.path == "/u/signup"
    at_app = world.submit(signup, {"name": "New Bie", "password": "s3cret-pass-123"})
    done = world.callback(at_app)
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert world.browser.cookie("orginvite_tx_") == {}
    me = world.me().json()
    assert me["user"]["email"].lower() == "newbie@acme.test" and me["user"]["name"] == "New Bie"
    assert me["organization"] == {"id": ACME, "name": "acme"}
    assert sorted(me["roles"]) == ["admin", "member"]
    home = world.get(world.url + "/")
    assert "New Bie" in home.text and "acme" in home.text
    # the same link again: Auth0 says the invitation is gone, our page says what to do
    world.browser.client.cookies.clear()
    again = world.to_tenant(world.get(url))
    page = world.callback(again)
    assert page.status_code == 400 and 'data-page="callback_invitation_invalid"' in page.text


def test_org_login_by_name_with_roles_and_two_tabs(world):
    first = world.get(world.url + "/login?organization=acme&returnTo=/one")
    second = world.get(world.url + "/login?organization=" + ACME + "&returnTo=/two")
    assert len(world.browser.cookie("orginvite_tx_")) == 2
    page = world.to_tenant(second)
    done = world.callback(world.submit(page, {"email": "ann@acme.test", "password": PASSWORD}))
    assert done.headers["location"] == "/two"
    # the first tab finishes later through the tenant's SSO session
    done = world.callback(world.to_tenant(first))
    assert done.headers["location"] == "/one"
    me = world.me().json()
    assert me["organization"] == {"id": ACME, "name": "acme"} and me["roles"] == ["admin"]


@pytest.mark.parametrize(
    ("query", "email", "kind"),
    [
        ("?invitation=no-such-ticket&organization=" + ACME, "ann@acme.test", "invitation_invalid"),
        ("?organization=" + ACME, "carl@else.test", "not_a_member"),
        ("?organization=" + CLOSED, "ann@acme.test", "not_a_member"),
        ("?organization=org_nosuchorg0000001", "ann@acme.test", "organization_invalid"),
    ],
)
def test_provider_error_kinds(world, query, email, kind):
    start = world.get(world.url + "/login" + query)
    page = world.to_tenant(start)
    if page.status_code == 200:
        page = world.submit(page, {"email": email, "password": PASSWORD})
    result = world.callback(page)
    assert f'data-page="callback_{kind}"' in result.text
    assert world.browser.cookie("orginvite_tx_") == {}
    assert world.me().status_code == 401


def test_wrong_account_without_interstitial_is_explained(world):
    invitation = world.invite("bob@new.test")
    page = world.to_tenant(world.get(invitation["invitation_url"]))
    login_page = world.get(str(page.url.copy_with(path="/u/login")))
    result = world.callback(world.submit(login_page, {"email": "carl@else.test", "password": PASSWORD}))
    assert result.status_code == 403 and 'data-page="callback_wrong_account"' in result.text


def test_organization_required_and_names_refused():
    w, servers = running_world(usage="require", names=False)
    try:
        result = w.callback(w.to_tenant(w.get(w.url + "/login")))
        assert 'data-page="callback_organization_required"' in result.text
        result = w.callback(w.to_tenant(w.get(w.url + "/login?organization=acme")))
        assert 'data-page="callback_organization_invalid"' in result.text
    finally:
        w.browser.close()
        for server in servers:
            server.stop()
        w.tenant.close()


def test_wrong_account_interstitial_then_invitee_signs_up(world):
    assert world.login().status_code == 303
    assert world.me().json()["user"]["email"] == "ann@acme.test"
    invitation = world.invite("bob@new.test", roles=["rol_membr00000000001"])
    page = world.get(invitation["invitation_url"])
    assert page.status_code == 200 and 'data-page="interstitial"' in page.text
    assert invitation["ticket_id"] not in page.text and "ann@acme.test" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    go = world.browser.post(world.url + "/login", data={"csrf_token": csrf, "action": "continue"})
    assert go.status_code == 303 and query_of(go.headers["location"])["prompt"] == "login"
    assert world.me().status_code == 401
    signup = world.to_tenant(go)
    assert signup.status_code == 200 and signup.url.path == "/u/signup"  # not Ann's SSO session
    done = world.callback(world.submit(signup, {"name": "Bob", "password": "bob-pass-12345"}))
    assert done.status_code == 303
    me = world.me().json()
    assert me["user"]["email"] == "bob@new.test" and me["roles"] == ["member"]


def test_jwks_rotation_and_logout(world):
    world.configure(jwks_min_refetch_interval=0.01)
    assert world.login().status_code == 303
    world.tenant.keys.rotate()
    time.sleep(0.05)
    world.browser.client.cookies.clear()
    assert world.login().status_code == 303
    assert world.me().status_code == 200
    out = sign_out(world.browser.client, world.url + "/logout")
    assert out.status_code == 303
    location = out.headers["location"]
    assert location.startswith(world.tenant_url + "/oidc/logout?")
    assert query_of(location)["post_logout_redirect_uri"] == world.url + "/"
    assert world.me().status_code == 401
    back = world.get(location)
    assert back.status_code in (302, 303) and back.headers["location"] == world.url + "/"
    world.configure(logout_style="auth0")
    world.login()
    out = sign_out(world.browser.client, world.url + "/logout?returnTo=https://evil.example/")
    location = out.headers["location"]
    assert location.startswith(world.tenant_url + "/v2/logout?")
    assert query_of(location) == {"client_id": "web", "returnTo": world.url + "/"}
    back = world.get(location)
    assert back.headers["location"] == world.url + "/"


def test_example_app_from_environment(world, monkeypatch):
    example = import_example_app()
    monkeypatch.setenv("ORGINVITE_ISSUER", world.tenant_url)
    monkeypatch.setenv("ORGINVITE_CLIENT_ID", "web")
    monkeypatch.setenv("ORGINVITE_CLIENT_SECRET", "web-secret")
    monkeypatch.setenv("ORGINVITE_SECRET_KEYS", KEY_A)
    monkeypatch.setenv("ORGINVITE_BASE_URL", world.url)
    world.holder.inner = example.create_app()
    assert world.login("?organization=acme").status_code == 303
    assert world.me().json()["organization"]["name"] == "acme"
    monkeypatch.delenv("ORGINVITE_SECRET_KEYS")
    with pytest.raises(Exception, match="ORGINVITE_SECRET_KEYS"):
        example.create_app()
