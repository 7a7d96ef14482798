"""Auth0's organization placeholders in application URLs: the rules, the config checks, and the tenant over HTTP.

What Auth0 documents (get-started/applications/wildcards-for-subdomains and application-settings): Allowed
Callback URLs accept ``{organization_name}``, evaluated only in a transaction with an organization; Allowed
Logout URLs do not accept it; the Application Login URI accepts ``{organization.metadata.public_KEY}``, and an
unresolvable one falls back to the tenant's ``default_redirection_uri``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_auth_support import ACME, CALLBACK, OPEN, PASSWORD, Browser, pkce_pair, running, tenant_config, verify_jwt

from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.authorize_rules import callback_allowed
from orginvite.devtenant.config import TenantConfigError, load_config
from orginvite.devtenant.url_placeholders import (
    callback_placeholder_problem,
    login_uri_placeholder_problem,
    resolve_login_uri,
)

APP_PORT = 8000
ORG_CALLBACK = f"http://{{organization_name}}.myapp.test:{APP_PORT}/callback"
ORG_LOGIN_URI = f"http://{{organization.metadata.public_login_host}}:{APP_PORT}/login"
GLOBEX = "org_glob000000000001"


def acme_host(path: str = "/callback", org: str = "acme") -> str:
    return f"http://{org}.myapp.test:{APP_PORT}{path}"


# -- the rules, as pure functions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        # Auth0's own examples of what "will not work"
        ("com.example.app://{organization_name}.exampleco.com", "http or https"),
        ("https://{organization_name}", "subdomain"),
        ("https://exampleco.com/{organization_name}", "only stand in the host"),
        ("https://sub.{organization_name}.exampleco.com", "leftmost host label"),
        ("https://{organization_name}.{organization_name}.exampleco.com", "more than one"),
        ("https://prefix-{organization_name}-suffix.exampleco.com", "without a prefix or suffix"),
        ("https://{organization_name}.*.exampleco.com", "wildcard"),
        # and the typos that would otherwise match nothing, silently
        ("https://{organisation_name}.exampleco.com/cb", "{organisation_name} is not a placeholder"),
        ("https://{organization_name.exampleco.com/cb", "unbalanced brace"),
        ("https://{organization.metadata.public_x}.exampleco.com/cb", "is not a placeholder"),
    ],
)
def test_callback_placeholder_rules(url: str, problem: str) -> None:
    found = callback_placeholder_problem(url)
    assert found is not None and problem in found, found


def test_the_documented_form_is_accepted() -> None:
    assert callback_placeholder_problem("https://{organization_name}.exampleco.com") is None
    assert callback_placeholder_problem(ORG_CALLBACK) is None


def test_placeholder_matches_only_the_transactions_organization() -> None:
    allowed = [ORG_CALLBACK]
    assert callback_allowed(acme_host(), allowed, organization_name="acme")
    assert not callback_allowed(acme_host(org="globex"), allowed, organization_name="acme")
    assert not callback_allowed(acme_host(), allowed)  # no organization: the placeholder URL matches nothing
    assert not callback_allowed(ORG_CALLBACK, allowed)  # the literal URL is not a callback either
    assert not callback_allowed(ORG_CALLBACK, allowed, organization_name="acme")
    assert not callback_allowed(acme_host("/callback/"), allowed, organization_name="acme")  # exact means exact
    assert not callback_allowed(acme_host("/callback?x=1"), allowed, organization_name="acme")
    assert not callback_allowed("https://acme.myapp.test:8000/callback", allowed, organization_name="acme")
    assert not callback_allowed("http://acme.myapp.test:8001/callback", allowed, organization_name="acme")
    assert not callback_allowed("http://x.acme.myapp.test:8000/callback", allowed, organization_name="acme")


def test_placeholder_urls_are_evaluated_beside_exact_and_wildcard_ones() -> None:
    allowed = [CALLBACK, ORG_CALLBACK, "https://*.other.test/cb"]
    assert callback_allowed(CALLBACK, allowed, organization_name="acme")
    assert callback_allowed(CALLBACK, allowed)
    assert callback_allowed("https://anything.other.test/cb", allowed)
    # A wildcard still stands for any label, which is why Auth0 says not to mix the two in one field.
    mixed = ["http://*.myapp.test:8000/callback", ORG_CALLBACK]
    assert callback_allowed(acme_host(org="not-an-org"), mixed, organization_name="acme")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_{}./:", max_size=40))
def test_without_an_organization_a_placeholder_url_allows_nothing(uri: str) -> None:
    assert not callback_allowed(uri, [ORG_CALLBACK, "https://{organization_name}.a.test/"])


def test_login_uri_placeholder_rules() -> None:
    assert login_uri_placeholder_problem(ORG_LOGIN_URI) is None
    assert login_uri_placeholder_problem("https://{organization.metadata.public_app}.myapp.com/login") is None
    cases = {
        "https://{organization_name}.myapp.com/login": "does not accept {organization_name}",
        "https://{organization.metadata.login_host}/login": "starting with 'public_'",
        "https://{organization.metadata.public_a.b}/login": "top-level key",
        "https://myapp.com/{organization.metadata.public_path}": "only stand in the host",
        "https://{organization.metadata.public_a}.*.myapp.com/": "wildcard",
        "https://{custom_domain.metadata.public_a}/login": "is not a placeholder",
    }
    for url, problem in cases.items():
        found = login_uri_placeholder_problem(url)
        assert found is not None and problem in found, (url, found)


def test_login_uri_resolution_takes_host_names_only() -> None:
    assert resolve_login_uri(ORG_LOGIN_URI, {"public_login_host": "Acme.MyApp.test"}) == acme_host("/login")
    assert resolve_login_uri("https://myapp.com/login", None) == "https://myapp.com/login"
    for value in [None, 42, "", "evil.test/x?", "evil.test:1", "user@evil.test", "a b", "a..b", "{x}", "-a.test"]:
        metadata = {} if value is None else {"public_login_host": value}
        assert resolve_login_uri(ORG_LOGIN_URI, metadata) is None, value


# -- the config file -----------------------------------------------------------------------------------------------


def _client(**fields: Any) -> dict[str, Any]:
    return {"clients": [{"client_id": "web", "organization_usage": "allow", **fields}]}


@pytest.mark.parametrize(
    ("fields", "path", "problem"),
    [
        ({"callbacks": [CALLBACK, "https://sub.{organization_name}.a.test/cb"]}, "clients[0].callbacks[1]", "leftmost"),
        ({"callbacks": [ORG_CALLBACK], "organization_usage": "deny"}, "clients[0].callbacks[0]", "allow or require"),
        (
            {"allowed_logout_urls": [acme_host("/", "{organization_name}")]},
            "clients[0].allowed_logout_urls[0]",
            "wildcard",
        ),
        (
            {"initiate_login_uri": acme_host("/login", "{organization_name}")},
            "clients[0].initiate_login_uri",
            "public_KEY",
        ),
        (
            {"initiate_login_uri": ORG_LOGIN_URI, "organization_usage": "deny"},
            "clients[0].initiate_login_uri",
            "allow or require",
        ),
        ({"logo_uri": "https://{organization_name}.cdn.test/logo.png"}, "clients[0].logo_uri", "must not contain"),
        ({"callbacks": ["https://{organization_name}.a.test/cb#x"]}, "clients[0].callbacks[0]", "fragment"),
    ],
)
def test_config_says_where_a_placeholder_does_not_belong(fields: dict, path: str, problem: str) -> None:
    with pytest.raises(TenantConfigError) as caught:
        load_config(_client(**fields))
    assert str(caught.value).startswith(path + ":") and problem in str(caught.value), str(caught.value)


def test_config_keeps_valid_placeholders_and_the_tenant_login_route() -> None:
    config = load_config(
        {
            "tenant": {"default_redirection_uri": "http://127.0.0.1:8000/login"},
            **_client(callbacks=[CALLBACK, ORG_CALLBACK], initiate_login_uri=ORG_LOGIN_URI),
        }
    )
    assert config.clients[0]["callbacks"] == [CALLBACK, ORG_CALLBACK]
    assert config.clients[0]["initiate_login_uri"] == ORG_LOGIN_URI
    assert config.settings["default_redirection_uri"] == "http://127.0.0.1:8000/login"
    with pytest.raises(TenantConfigError) as caught:
        load_config({"tenant": {"default_redirection_uri": "http://{organization.metadata.public_a}/login"}})
    assert str(caught.value).startswith("tenant.default_redirection_uri:")


def test_a_tenant_with_a_placeholder_logout_url_does_not_start() -> None:
    config = tenant_config()
    config["clients"][0]["allowed_logout_urls"] = [acme_host("/", "{organization_name}")]
    with pytest.raises(TenantConfigError, match=r"clients\[0\]\.allowed_logout_urls\[0\]"):
        DevTenant(config=config)


# -- over loopback HTTP --------------------------------------------------------------------------------------------


def placeholder_config() -> dict[str, Any]:
    config = tenant_config()
    config["clients"].insert(
        0,
        {
            "client_id": "orgweb",
            "client_secret": "orgweb-secret",
            "name": "Org subdomains",
            "app_type": "regular_web",
            "callbacks": [CALLBACK, ORG_CALLBACK],
            "allowed_logout_urls": [f"http://*.myapp.test:{APP_PORT}/"],
            "initiate_login_uri": ORG_LOGIN_URI,
            "organization_usage": "allow",
            "grant_types": ["authorization_code", "refresh_token"],
        },
    )
    m2m = next(client for client in config["clients"] if client["client_id"] == "m2m")
    m2m["scopes"] = [*m2m["scopes"], "create:organizations"]
    for org in config["organizations"]:
        if org["name"] == "acme":
            org["metadata"] = {"public_login_host": "acme.myapp.test"}
    config["organizations"].append(
        {
            "id": GLOBEX,
            "name": "globex",
            "display_name": "Globex",
            "metadata": {"public_login_host": "globex.myapp.test"},
            "enabled_connections": [{"connection": "Username-Password-Authentication"}],
        }
    )
    return config


@pytest.fixture
def live() -> Iterator[tuple[DevTenant, str]]:
    with running(placeholder_config()) as pair:
        yield pair


@pytest.fixture
def browser(live: tuple[DevTenant, str]) -> Iterator[Browser]:
    b = Browser(live[1])
    yield b
    b.close()


def _left_tenant(response: httpx2.Response, prefix: str) -> dict[str, str]:
    """The query of the redirect to the app (which must start with ``prefix``)."""
    assert response.status_code == 302, response.text[:300]
    location = response.headers["location"]
    assert location.startswith(prefix + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _refused_on_a_page(response: httpx2.Response) -> None:
    assert response.status_code == 400 and "location" not in response.headers
    assert 'data-error="invalid_redirect_uri"' in response.text


def _exchange(base: str, code: str, verifier: str, redirect_uri: str) -> httpx2.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    return httpx2.post(base + "/oauth/token", data=data, auth=("orgweb", "orgweb-secret"), timeout=10)


@pytest.mark.parametrize("organization", [ACME, "acme", "ACME"])
def test_acme_signs_in_on_acmes_host(live, browser, organization: str) -> None:
    _, base = live
    verifier, challenge = pkce_pair()
    page = browser.authorize(
        client_id="orgweb",
        redirect_uri=acme_host(),
        organization=organization,
        state="st",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert page.status_code == 200 and page.url.path == "/u/login", page.text[:300]
    params = _left_tenant(browser.submit({"email": "ann@acme.test", "password": PASSWORD}), acme_host())
    assert params["state"] == "st" and "error" not in params
    token = _exchange(base, params["code"], verifier, acme_host())
    assert token.status_code == 200, token.text
    claims = verify_jwt(base, token.json()["id_token"])
    assert claims["org_id"] == ACME and claims["aud"] == "orgweb"
    # The code is bound to the redirect URI it was issued for: another organization's host cannot redeem it.
    assert _exchange(base, params["code"], verifier, acme_host(org="globex")).status_code in (400, 403)


def test_another_organizations_host_is_refused(browser) -> None:
    _refused_on_a_page(browser.authorize(client_id="orgweb", redirect_uri=acme_host(org="globex"), organization=ACME))
    _refused_on_a_page(browser.authorize(client_id="orgweb", redirect_uri=acme_host(), organization=GLOBEX))
    _refused_on_a_page(browser.authorize(client_id="orgweb", redirect_uri=acme_host(org="nope"), organization="nope"))
    _refused_on_a_page(
        browser.authorize(client_id="orgweb", redirect_uri=acme_host(org="open"), organization="org_nope000000000001")
    )


def test_no_organization_means_the_placeholder_matches_nothing(browser) -> None:
    _refused_on_a_page(browser.authorize(client_id="orgweb", redirect_uri=acme_host()))
    _refused_on_a_page(browser.authorize(client_id="orgweb", redirect_uri=acme_host(), organization=""))
    _refused_on_a_page(browser.authorize(client_id="orgweb", redirect_uri=ORG_CALLBACK))
    # A repeated organization is never resolved to one of its values.
    repeated = browser.http.get(
        "/authorize",
        params=[
            ("client_id", "orgweb"),
            ("response_type", "code"),
            ("redirect_uri", acme_host()),
            ("organization", GLOBEX),
            ("organization", ACME),
        ],
    )
    _refused_on_a_page(repeated)
    # The exact callback keeps working without an organization, beside the placeholder.
    page = browser.authorize(client_id="orgweb", redirect_uri=CALLBACK)
    assert page.status_code == 200 and page.url.path == "/u/login"


def test_organization_names_off_means_a_name_cannot_fill_the_placeholder(live, browser) -> None:
    tenant, _ = live
    tenant.settings["allow_organization_name_in_authentication_api"] = False
    _refused_on_a_page(browser.authorize(client_id="orgweb", redirect_uri=acme_host(), organization="acme"))
    page = browser.authorize(client_id="orgweb", redirect_uri=acme_host(), organization=ACME)
    assert page.status_code == 200 and page.url.path == "/u/login"


def _m2m(base: str) -> httpx2.Client:
    token = httpx2.post(
        base + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "m2m",
            "client_secret": "m2m-secret",
            "audience": base + "/api/v2/",
        },
        timeout=10,
    ).json()["access_token"]
    return httpx2.Client(base_url=base + "/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _invite(api: httpx2.Client, org_id: str, email: str) -> httpx2.Response:
    return api.post(
        f"/organizations/{org_id}/invitations",
        json={
            "inviter": {"name": "Ann Admin"},
            "invitee": {"email": email},
            "client_id": "orgweb",
            "send_invitation_email": False,
        },
    )


def test_invitation_url_uses_the_organizations_host_and_the_link_signs_in_there(live, browser) -> None:
    _, base = live
    with _m2m(base) as api:
        acme = _invite(api, ACME, "new@acme.test")
        globex = _invite(api, GLOBEX, "new@globex.test")
    assert acme.status_code == 200 and globex.status_code == 200, (acme.text, globex.text)
    acme_url = urlsplit(acme.json()["invitation_url"])
    assert f"{acme_url.scheme}://{acme_url.netloc}{acme_url.path}" == acme_host("/login")
    assert urlsplit(globex.json()["invitation_url"]).netloc == f"globex.myapp.test:{APP_PORT}"
    query = {k: v[0] for k, v in parse_qs(acme_url.query).items()}
    assert query == {"invitation": acme.json()["ticket_id"], "organization": ACME, "organization_name": "acme"}
    # What the app at that login URI does: /authorize with its own host's callback, built from organization_name.
    redirect_uri = acme_host(org=query["organization_name"])
    verifier, challenge = pkce_pair()
    page = browser.authorize(
        client_id="orgweb",
        redirect_uri=redirect_uri,
        invitation=query["invitation"],
        organization=query["organization"],
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert page.status_code == 200 and page.url.path == "/u/signup", page.text[:300]
    params = _left_tenant(browser.submit({"name": "New Comer", "password": "a-new-password"}), redirect_uri)
    claims = verify_jwt(base, _exchange(base, params["code"], verifier, redirect_uri).json()["id_token"])
    assert claims["org_id"] == ACME and claims["email"] == "new@acme.test"


def test_unresolvable_login_uri_falls_back_to_the_tenant_login_route(live) -> None:
    tenant, base = live
    with _m2m(base) as api:
        # "open" has no public_login_host, and nothing to fall back to: Auth0's 400.
        missing = _invite(api, OPEN, "x@open.test")
        assert missing.status_code == 400
        assert "A default login route is required to generate the invitation url" in missing.json()["message"]
        # Metadata is writable through the Management API: a value that is not a host name never fills the URL.
        evil = api.post(
            "/organizations",
            json={"name": "evil", "metadata": {"public_login_host": "evil.test/steal?x="}},
        )
        assert evil.status_code in (200, 201), evil.text
        assert _invite(api, evil.json()["id"], "x@evil.test").status_code == 400
        tenant.settings["default_redirection_uri"] = "http://127.0.0.1:8000/login"
        fallback = _invite(api, OPEN, "x@open.test")
        again = _invite(api, evil.json()["id"], "y@evil.test")
    for response in (fallback, again):
        assert response.status_code == 200, response.text
        assert response.json()["invitation_url"].startswith("http://127.0.0.1:8000/login?invitation=")


def test_logout_return_to_never_takes_the_placeholder(browser) -> None:
    # The logout URL list is a wildcard here (a placeholder there stops the tenant at start-up, see above).
    ok = browser.http.get(f"/v2/logout?client_id=orgweb&returnTo={quote(acme_host('/'))}")
    assert ok.status_code == 302 and ok.headers["location"] == acme_host("/")
    for target in [acme_host("/", "{organization_name}"), acme_host("/", "%7Borganization_name%7D")]:
        literal = browser.http.get(f"/v2/logout?client_id=orgweb&returnTo={quote(target)}")
        assert literal.status_code == 400 and "location" not in literal.headers, target
        oidc = browser.http.get(f"/oidc/logout?client_id=orgweb&post_logout_redirect_uri={quote(target)}")
        assert oidc.status_code == 400 and "location" not in oidc.headers, target


def test_errors_after_a_placeholder_match_go_back_to_that_organizations_host(browser) -> None:
    """The organization that filled the placeholder is the one bound into the transaction."""
    page = browser.authorize(client_id="orgweb", redirect_uri=acme_host(org="globex"), organization=GLOBEX)
    assert page.status_code == 200
    # Ann is not a member of globex: Auth0's access_denied goes back to globex's own host, nowhere else.
    params = _left_tenant(browser.submit({"email": "ann@acme.test", "password": PASSWORD}), acme_host(org="globex"))
    assert params["error"] == "access_denied" and "code" not in params
