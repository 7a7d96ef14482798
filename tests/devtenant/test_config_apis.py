"""Tenant config for API access: [[apis]] (Auth0 resource servers), role permissions, a client's refresh_token."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orginvite.devtenant.config import TenantConfigError, demo_config, example_config_text, load_config, seed
from orginvite.devtenant.store import Store

API = "https://api.acme.test/"


def _api(**fields: Any) -> dict[str, Any]:
    return {"identifier": API, "scopes": ["invoices:read", "invoices:write"], **fields}


def _config(**tables: Any) -> dict[str, Any]:
    return {"apis": [_api()], **tables}


def _web(**fields: Any) -> dict[str, Any]:
    return {"client_id": "web", "grant_types": ["authorization_code", "refresh_token"], **fields}


def _error(data: Any) -> TenantConfigError:
    with pytest.raises(TenantConfigError) as info:
        load_config(data)
    return info.value


def test_an_api_gets_auth0s_defaults_and_scope_descriptions() -> None:
    config = load_config({"apis": [_api(scopes=["invoices:read", {"value": "invoices:write", "description": "W"}])]})
    assert config.apis == [
        {
            "identifier": API,
            "name": API,
            "scopes": [{"value": "invoices:read", "description": ""}, {"value": "invoices:write", "description": "W"}],
            "token_lifetime": 86400,
            "allow_offline_access": False,
            "enforce_policies": False,
            "token_dialect": "access_token",
            "signing_alg": "RS256",
        }
    ]
    # Auth0 takes any identifier string, not only URLs.
    assert load_config({"apis": [{"identifier": "urn:acme:api"}]}).apis[0]["identifier"] == "urn:acme:api"


def test_client_refresh_token_defaults_are_auth0s_and_lifetimes_given_are_enforced() -> None:
    plain = load_config({"clients": [_web()]}).clients[0]["refresh_token"]
    assert plain == {
        "rotation_type": "non-rotating",
        "leeway": 0,
        "token_lifetime": 2592000,
        "infinite_token_lifetime": True,
        "idle_token_lifetime": 1296000,
        "infinite_idle_token_lifetime": True,
        "expiration_type": "non-expiring",
        "policies": [],
    }
    short = load_config({"clients": [_web(refresh_token={"rotation_type": "rotating", "token_lifetime": 2})]})
    settings = short.clients[0]["refresh_token"]
    assert settings["token_lifetime"] == 2 and settings["infinite_token_lifetime"] is False
    assert settings["infinite_idle_token_lifetime"] is True and settings["expiration_type"] == "expiring"


def test_role_permissions_are_seeded_per_role() -> None:
    config = load_config(
        _config(
            roles=[
                {
                    "name": "admin",
                    "permissions": [
                        {"resource_server_identifier": API, "permission_name": "invoices:read"},
                        {"resource_server_identifier": API, "permission_name": "invoices:write"},
                    ],
                },
                {"name": "viewer"},
            ]
        )
    )
    with Store() as store:
        seed(store, config)
        admin = store.get_role_by_name("admin")
        assert [p["permission_name"] for p in store.list_role_permissions(admin["id"])] == [
            "invoices:read",
            "invoices:write",
        ]
        assert store.list_role_permissions(store.get_role_by_name("viewer")["id"]) == []
        assert store.get_resource_server(API)["scopes"][0]["value"] == "invoices:read"


_PERMISSION = {"resource_server_identifier": API, "permission_name": "invoices:read"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"apis": [{"name": "x"}]}, "apis[0].identifier: is required"),
        ({"apis": [_api(), _api()]}, f"apis[1].identifier: '{API}' is already used by apis[0]"),
        ({"apis": [_api(identifier="has space")]}, "apis[0].identifier: must not contain whitespace"),
        ({"apis": [_api(identifier="https://{organization_name}.api.test/")]}, "apis[0].identifier: must not contain"),
        ({"apis": [_api(identifier="https://")]}, "apis[0].identifier: must be an absolute http(s) URL"),
        ({"apis": [_api(token_lifetime=0)]}, "apis[0].token_lifetime: must be a whole number of seconds from 1 to"),
        ({"apis": [_api(token_lifetime=True)]}, "apis[0].token_lifetime: must be a whole number of seconds"),
        (
            {"apis": [_api(token_dialect="jwt")]},
            "apis[0].token_dialect: must be one of access_token, access_token_authz",
        ),
        (
            {"apis": [_api(token_dialect="access_token_authz")]},
            "apis[0].token_dialect: 'access_token_authz' (permissions in the access token) needs enforce_policies",
        ),
        ({"apis": [_api(allow_offline_access="yes")]}, "apis[0].allow_offline_access: must be true or false"),
        ({"apis": [_api(scopes=["a", "a"])]}, "apis[0].scopes[1]: 'a' is listed twice"),
        ({"apis": [_api(scopes=["offline_access"])]}, "apis[0].scopes[0]: 'offline_access' is an OpenID Connect"),
        ({"apis": [_api(scopes=["read invoices"])]}, "apis[0].scopes[0]: must be a scope name without spaces"),
        ({"apis": [_api(scopes=[{"value": "a b"}])]}, "apis[0].scopes[0].value: must be a scope name without spaces"),
        ({"apis": [_api(scopes=[{"value": "a", "desc": "x"}])]}, "apis[0].scopes[0].desc: unknown key"),
        ({"apis": [_api(scopes=[3])]}, "apis[0].scopes[0]: must be a table"),
        ({"apis": [_api(audience="x")]}, "apis[0].audience: unknown key"),
        ({"apis": {"identifier": API}}, "apis: must be an array of tables ([[apis]])"),
        (
            _config(roles=[{"name": "r", "permissions": [{**_PERMISSION, "resource_server_identifier": "urn:x"}]}]),
            "roles[0].permissions[0].resource_server_identifier: no API with identifier 'urn:x'",
        ),
        (
            _config(roles=[{"name": "r", "permissions": [{**_PERMISSION, "permission_name": "invoices:delete"}]}]),
            f"roles[0].permissions[0].permission_name: 'invoices:delete' is not a scope of {API} (it defines: "
            "invoices:read, invoices:write)",
        ),
        (
            _config(roles=[{"name": "r", "permissions": [_PERMISSION, _PERMISSION]}]),
            f"roles[0].permissions[1]: 'invoices:read' of {API} is listed twice",
        ),
        (
            _config(roles=[{"name": "r", "permissions": [{"resource_server_identifier": API}]}]),
            "roles[0].permissions[0].permission_name: is required",
        ),
        (
            {"clients": [_web(refresh_token={"rotation_type": "sliding"})]},
            "clients[0].refresh_token.rotation_type: must be one of rotating, non-rotating",
        ),
        ({"clients": [_web(refresh_token={"reuse_interval": 2})]}, "clients[0].refresh_token.reuse_interval: unknown"),
        ({"clients": [_web(refresh_token={"leeway": -1})]}, "clients[0].refresh_token.leeway: must be a whole number"),
        (
            {"clients": [_web(refresh_token={"token_lifetime": 0})]},
            "clients[0].refresh_token.token_lifetime: must be a whole number of seconds from 1",
        ),
        (
            {"clients": [_web(refresh_token={"token_lifetime": 60, "infinite_token_lifetime": True})]},
            "clients[0].refresh_token.token_lifetime: has no effect while infinite_token_lifetime is true",
        ),
        (
            {"clients": [_web(refresh_token={"token_lifetime": 60, "idle_token_lifetime": 120})]},
            "clients[0].refresh_token.idle_token_lifetime: must not be longer than token_lifetime",
        ),
        (
            {"clients": [_web(refresh_token={"token_lifetime": 60, "expiration_type": "non-expiring"})]},
            "clients[0].refresh_token.expiration_type: 'non-expiring' contradicts the finite lifetimes given",
        ),
        (
            {"clients": [_web(grant_types=["authorization_code"], refresh_token={"rotation_type": "rotating"})]},
            "clients[0].refresh_token: needs 'refresh_token' in grant_types",
        ),
        (
            {"clients": [{"client_id": "m2m", "app_type": "non_interactive", "refresh_token": {"leeway": 1}}]},
            "clients[0].refresh_token: needs 'refresh_token' in grant_types",
        ),
        (
            _config(clients=[_web(refresh_token={"policies": [{"audience": "https://other.test/"}]})]),
            "clients[0].refresh_token.policies[0].audience: no API with identifier 'https://other.test/'",
        ),
        (
            _config(clients=[_web(refresh_token={"policies": [{"audience": API, "scope": ["invoices:x"]}]})]),
            f"clients[0].refresh_token.policies[0].scope[0]: 'invoices:x' is not a scope of {API}",
        ),
    ],
)
def test_errors_name_the_field(data: dict[str, Any], message: str) -> None:
    error = _error(data)
    assert str(error).startswith(message), str(error)


def test_the_demo_tenant_has_the_acme_api_with_rbac_and_rotating_refresh_tokens() -> None:
    config = load_config(demo_config())
    (api,) = config.apis
    assert api["identifier"] == API and api["name"] == "Acme API" and api["token_lifetime"] == 300
    assert [s["value"] for s in api["scopes"]] == ["invoices:read", "invoices:write"]
    assert api["allow_offline_access"] and api["enforce_policies"] and api["token_dialect"] == "access_token_authz"
    web = next(c for c in config.clients if c["client_id"] == "demo-web-app")
    assert "refresh_token" in web["grant_types"]
    assert web["refresh_token"]["rotation_type"] == "rotating" and web["refresh_token"]["leeway"] == 2
    permissions = {r["name"]: [p["permission_name"] for p in r["permissions"]] for r in config.roles}
    assert permissions["admin"] == ["invoices:read", "invoices:write"] and permissions["member"] == ["invoices:read"]


def test_the_example_config_has_the_acme_api_and_rotating_refresh_tokens() -> None:
    config = load_config(tomllib.loads(example_config_text()))
    assert config.apis == load_config(demo_config()).apis  # the same API as the demo tenant's
    web = next(c for c in config.clients if c["client_id"] == "acme-web")
    assert web["refresh_token"]["rotation_type"] == "rotating" and web["refresh_token"]["leeway"] == 2
    with Store() as store:
        seed(store, config)
        acme = store.get_organization_by_name("acme")
        owner = store.get_user_by_email("owner@acme.test")
        assert store.member_permissions(acme["id"], owner["user_id"], API) == ["invoices:read", "invoices:write"]
        globex = store.get_organization_by_name("globex")
        camille = store.get_user_by_email("camille@globex.test")
        assert store.member_permissions(globex["id"], camille["user_id"], API) == ["invoices:read"]


_any = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.sampled_from([API, "invoices:read", "rotating", ""])),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(
        st.sampled_from(["identifier", "scopes", "value", "token_lifetime", "enforce_policies", "token_dialect",
                         "resource_server_identifier", "permission_name", "audience", "scope", "x"]),
        children, max_size=3),
    max_leaves=8,
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.dictionaries(st.sampled_from(["identifier", "scopes", "token_dialect", "x"]), _any), max_size=2),
    st.lists(st.dictionaries(st.sampled_from(["name", "permissions"]), _any), max_size=2),
    st.dictionaries(st.sampled_from(["rotation_type", "leeway", "token_lifetime", "policies", "x"]), _any),
)
def test_any_api_document_validates_or_fails_with_a_named_field(apis: Any, roles: Any, refresh: Any) -> None:
    try:
        config = load_config({"apis": apis, "roles": roles, "clients": [_web(refresh_token=refresh)]})
    except TenantConfigError as error:
        assert error.setting and error.problem
        return
    with Store() as store:
        seed(store, config)
