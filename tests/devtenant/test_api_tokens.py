"""Access tokens for APIs ([[apis]]) over loopback HTTP: claims, signature, RBAC per organization, offline access.

Shared with test_refresh_tokens.py: :func:`api_config` (the test tenant plus three APIs and role permissions) and
:func:`login` (a code exchange for a given audience and scope).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from joserfc.errors import DecodeError
from test_auth_support import (
    ACME,
    OPEN,
    ROLES_CLAIM,
    Browser,
    Clock,
    callback_params,
    exchange,
    pkce_pair,
    running,
    sign_in,
    tenant_config,
    verify_jwt,
)

API = "https://api.acme.test/"
BILLING = "https://billing.acme.test/"
PLAIN = "urn:plain-api"  # no RBAC, no offline access
ALL = "openid profile email offline_access"


def api_config(**refresh_token: Any) -> dict[str, Any]:
    """The auth tests' tenant with APIs; ``webapp`` gets ``refresh_token`` settings when given."""
    config = copy.deepcopy(tenant_config())
    config["apis"] = [
        {
            "identifier": API,
            "name": "Acme API",
            "scopes": ["invoices:read", {"value": "invoices:write", "description": "Write"}, "reports:read"],
            "token_lifetime": 300,
            "allow_offline_access": True,
            "enforce_policies": True,
            "token_dialect": "access_token_authz",
        },
        {"identifier": BILLING, "scopes": ["bills:read", "bills:pay"], "allow_offline_access": True},
        {"identifier": PLAIN, "scopes": ["things:read"]},
    ]
    permission = lambda name: {"resource_server_identifier": API, "permission_name": name}  # noqa: E731
    for role in config["roles"]:
        names = ["invoices:read", "invoices:write"] if role["name"] == "admin" else ["invoices:read"]
        role["permissions"] = [permission(name) for name in names]
    # Ann is an admin in acme and a plain member in open: permissions are per organization.
    config["members"].append({"organization": "open", "user": "ann@acme.test", "roles": ["member"]})
    webapp = config["clients"][0]
    assert webapp["client_id"] == "webapp"
    if refresh_token:
        webapp["refresh_token"] = refresh_token
    config["clients"].append(
        {**webapp, "client_id": "norefresh", "client_secret": "norefresh-secret", "grant_types": ["authorization_code"]}
    )
    config["clients"][-1].pop("refresh_token", None)
    return config


def login(base: str, browser: Browser, *, client_id: str = "webapp", **params: str) -> httpx2.Response:
    """Sign in (organization, audience, scope as given) and exchange the code: the token response."""
    verifier, challenge = pkce_pair()
    params.setdefault("scope", ALL)
    result = sign_in(base, browser, client_id=client_id, code_challenge=challenge, code_challenge_method="S256",
                     **params)  # fmt: skip
    response = exchange(base, result["code"], verifier, client_id=client_id)
    assert response.status_code == 200, response.text
    return response


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def live(clock: Clock) -> Iterator[tuple[Any, str]]:
    with running(api_config(rotation_type="rotating", leeway=2), clock=clock) as pair:
        yield pair


@pytest.fixture
def browser(live: tuple[Any, str]) -> Iterator[Browser]:
    b = Browser(live[1])
    yield b
    b.close()


def test_an_api_access_token_is_a_jwt_with_auth0s_claims(live, browser) -> None:
    tenant, base = live
    body = login(base, browser, organization=ACME, audience=API,
                 scope=f"{ALL} invoices:read invoices:write bills:read unknown:scope").json()  # fmt: skip
    ann = tenant.store.get_user_by_email("ann@acme.test")
    claims = verify_jwt(base, body["access_token"])  # RS256, against the published JWKS
    granted = "openid profile email offline_access invoices:read invoices:write"
    assert body["scope"] == granted and body["expires_in"] == 300 and body["token_type"] == "Bearer"
    assert claims["iss"] == base + "/" and claims["sub"] == ann["user_id"] and claims["azp"] == "webapp"
    assert claims["aud"] == [API, base + "/userinfo"]
    assert claims["exp"] - claims["iat"] == 300 and abs(claims["iat"] - tenant.now()) < 2
    assert claims["scope"] == granted
    assert claims["org_id"] == ACME and claims["org_name"] == "acme"
    assert claims["permissions"] == ["invoices:read", "invoices:write"]
    assert "gty" not in claims  # Auth0 sets gty for the refresh_token and password grants only
    assert body["refresh_token"]
    id_token = verify_jwt(base, body["id_token"])
    assert id_token["sid"] and id_token["sid"] == claims["sid"]
    assert id_token[ROLES_CLAIM] == ["admin"] and id_token["org_id"] == ACME
    # The token also opens /userinfo (its second audience).
    info = httpx2.get(base + "/userinfo", headers={"authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200 and info.json()["sub"] == ann["user_id"]
    # Without organization names allowed, no org_name.
    tenant.settings["allow_organization_name_in_authentication_api"] = False
    claims = verify_jwt(base, login(base, browser, organization=ACME, audience=API).json()["access_token"])
    assert claims["org_id"] == ACME and "org_name" not in claims


def test_permissions_come_from_the_roles_held_in_the_login_organization(live, browser) -> None:
    _, base = live
    scope = "openid invoices:read invoices:write"
    in_open = login(base, browser, organization=OPEN, audience=API, scope=scope).json()
    claims = verify_jwt(base, in_open["access_token"])
    # RBAC: the scopes granted are those the member holds there; the claim lists every permission held.
    assert claims["permissions"] == ["invoices:read"] and claims["scope"] == "openid invoices:read"
    assert in_open["scope"] == "openid invoices:read"
    assert verify_jwt(base, in_open["id_token"])[ROLES_CLAIM] == ["member"]
    no_org = verify_jwt(base, login(base, browser, audience=API, scope=scope).json()["access_token"])
    assert no_org["permissions"] == [] and no_org["scope"] == "openid" and "org_id" not in no_org


def test_without_rbac_every_requested_scope_of_the_api_is_granted_and_no_permissions_claim(live, browser) -> None:
    _, base = live
    body = login(base, browser, organization=ACME, audience=PLAIN, scope="openid things:read invoices:read").json()
    claims = verify_jwt(base, body["access_token"])
    assert claims["scope"] == "openid things:read" and "permissions" not in claims
    assert claims["aud"] == [PLAIN, base + "/userinfo"] and claims["exp"] - claims["iat"] == 86400  # Auth0's default


def test_without_openid_the_audience_is_the_api_alone(live, browser) -> None:
    _, base = live
    body = login(base, browser, organization=ACME, audience=API, scope="invoices:read").json()
    claims = verify_jwt(base, body["access_token"])
    assert claims["aud"] == API and "id_token" not in body
    userinfo = httpx2.get(base + "/userinfo", headers={"authorization": f"Bearer {body['access_token']}"})
    assert userinfo.status_code == 401


def test_an_unknown_audience_is_refused_at_authorize(browser) -> None:
    page = browser.authorize(audience="https://nope.test/", organization=ACME)
    assert callback_params(page) | {"state": ""} == {
        "error": "access_denied",
        "error_description": "Service not found: https://nope.test/",
        "state": "",
    }


def test_without_an_audience_the_access_token_is_opaque_and_only_userinfo_takes_it(live, browser) -> None:
    tenant, base = live
    body = login(base, browser, organization=ACME).json()
    access = body["access_token"]
    assert "." not in access and body["expires_in"] == 86400
    with pytest.raises(DecodeError):
        verify_jwt(base, access)
    assert httpx2.get(base + "/userinfo", headers={"authorization": f"Bearer {access}"}).json()["org_id"] == ACME
    # Kept hashed: the store has no copy of the token itself.
    dump = "\n".join(tenant.store._db.iterdump())
    assert access not in dump and body["refresh_token"] not in dump
    # Auth0 issues refresh tokens for the default (/userinfo) audience too; a refresh gives an opaque token again.
    refreshed = httpx2.post(base + "/oauth/token", auth=("webapp", "webapp-secret"),
                           data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})  # fmt: skip
    assert refreshed.status_code == 200 and "." not in refreshed.json()["access_token"]
    assert refreshed.json()["scope"] == ALL


def test_offline_access_is_granted_only_when_client_and_api_allow_it(live, browser) -> None:
    _, base = live
    for client_id, audience in [("webapp", PLAIN), ("norefresh", API), ("norefresh", "")]:
        body = login(base, browser, client_id=client_id, organization=ACME, audience=audience).json()
        assert "refresh_token" not in body, (client_id, audience)
        assert body["scope"] == "openid profile email", (client_id, audience)
    body = login(base, browser, organization=ACME, audience=API, scope="openid invoices:read").json()
    assert "refresh_token" not in body  # not asked for
    assert "refresh_token" in login(base, browser, organization=ACME, audience=BILLING).json()


def test_token_calls_are_counted_per_grant_type(live, browser) -> None:
    tenant, base = live
    body = login(base, browser, organization=ACME, audience=API).json()
    for _ in range(3):
        httpx2.post(base + "/oauth/token", auth=("webapp", "webapp-secret"),
                   data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})  # fmt: skip
    httpx2.post(base + "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x"})  # refused: counted
    httpx2.post(base + "/oauth/revoke", auth=("webapp", "webapp-secret"), data={"token": "x"})
    assert tenant.token_calls["authorization_code"] == 1
    assert tenant.token_calls["refresh_token"] == 4 and tenant.token_calls["revoke"] == 1
