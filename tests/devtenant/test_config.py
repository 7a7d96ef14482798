"""Tenant config: strict validation naming the field, references, the shipped example, the demo, idempotent seeding."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orginvite.devtenant import config as cfg
from orginvite.devtenant.config import (
    MANAGEMENT_API_SCOPES,
    TenantConfigError,
    demo_config,
    example_config_text,
    load_config,
    seed,
)
from orginvite.devtenant.store import Store
from orginvite.errors import ConfigurationError


def _error(data: Any) -> TenantConfigError:
    with pytest.raises(TenantConfigError) as info:
        load_config(data)
    return info.value


def _client(**fields: Any) -> dict[str, Any]:
    return {"client_id": "web", **fields}


# -- errors name the field


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"clients": [_client(), _client(client_id="b", organization_usage="maybe")]},
            "clients[1].organization_usage: must be one of deny, allow, require (got 'maybe')",
        ),
        (
            {"clients": [_client(organization_require_behavior="ask")]},
            "clients[0].organization_require_behavior: must be one of no_prompt, pre_login_prompt, "
            "post_login_prompt (got 'ask')",
        ),
        ({"clients": [{"name": "x"}]}, "clients[0].client_id: is required"),
        ({"clients": [_client(callbacks="http://x/cb")]}, "clients[0].callbacks: must be an array (got a string)"),
        (
            {"clients": [_client(callbacks=["http://ok.test/cb", "/relative"])]},
            "clients[0].callbacks[1]: must be an absolute http(s) URL (got '/relative')",
        ),
        (
            {"clients": [_client(callbacks=["http://app.*.test/cb"])]},
            "clients[0].callbacks[0]: a '*' may only stand for the leftmost host label, as in "
            "http://*.example.com/ (got 'http://app.*.test/cb')",
        ),
        (
            {"clients": [_client(initiate_login_uri="http://*.app.test/login")]},
            "clients[0].initiate_login_uri: must not contain a wildcard",
        ),
        (
            {"clients": [_client(callbacks=["javascript:alert(1)"])]},
            "clients[0].callbacks[0]: must be an absolute http(s) URL (got 'javascript:alert(1)')",
        ),
        (
            {"clients": [_client(grant_types=["password"])]},
            "clients[0].grant_types[0]: must be one of authorization_code, implicit, refresh_token, client_credentials "
            "(got 'password')",
        ),
        (
            {"clients": [_client(grant_types=["client_credentials"], app_type="non_interactive", scopes=["read:org"])]},
            "clients[0].scopes[0]: must be one of",
        ),
        (
            {"clients": [_client(scopes=["read:users"])]},
            "clients[0].scopes: Management API scopes need 'client_credentials' in grant_types",
        ),
        (
            {"clients": [_client(app_type="non_interactive", grant_types=["authorization_code"])]},
            "clients[0].grant_types: a 'non_interactive' client cannot use authorization_code",
        ),
        (
            {"clients": [_client(app_type="non_interactive", grant_types=["client_credentials", "implicit"])]},
            "clients[0].grant_types: a 'non_interactive' client cannot use implicit",
        ),
        ({"clients": [_client(app_type="spa")]}, "clients[0].app_type: must be one of regular_web, non_interactive"),
        ({"clients": [_client(client_id="has space")]}, "clients[0].client_id: must be letters, digits"),
        ({"clients": [_client(), _client()]}, "clients[1].client_id: 'web' is already used by clients[0]"),
        (
            {"tenant": {"allow_organization_name_in_authentication_api": "yes"}},
            "tenant.allow_organization_name_in_authentication_api: must be true or false (got 'yes')",
        ),
        ({"tenant": {"management_api_rate_limit": -1}}, "tenant.management_api_rate_limit: must be a whole number"),
        ({"tenant": {"management_api_rate_limit": True}}, "tenant.management_api_rate_limit: must be a whole number"),
        ({"tenant": {"support_email": "nope"}}, "tenant.support_email: must be an email address (got 'nope')"),
        ({"tenant": {"friendly_name": ""}}, "tenant.friendly_name: must not be empty"),
        ({"tenant": {"friendly_name": 3}}, "tenant.friendly_name: must be a string (got an integer)"),
        ({"tenant": []}, "tenant: must be a table (got an array)"),
        ({"clients": {"client_id": "x"}}, "clients: must be an array of tables ([[clients]]), got a table"),
        ({"organizations": [{"name": "Acme Inc"}]}, "organizations[0].name: must be 1 to 50 lowercase letters"),
        ({"organizations": [{"name": "a" * 51}]}, "organizations[0].name: must be 1 to 50 lowercase letters"),
        ({"organizations": [{"name": "acme", "id": "acme"}]}, "organizations[0].id: must be 'org_' followed"),
        ({"organizations": [{"name": "a"}, {"name": "a"}]}, "organizations[1].name: 'a' is already used by"),
        (
            {"organizations": [{"name": "a", "metadata": {"lang": 1}}]},
            "organizations[0].metadata.lang: must be a string (got an integer)",
        ),
        (
            {"organizations": [{"name": "a", "branding": {"colors": {"primary": "blue"}}}]},
            "organizations[0].branding.colors.primary: must be a #rrggbb color (got 'blue')",
        ),
        (
            {"organizations": [{"name": "a", "enabled_connections": [{"connection": "Nope"}]}]},
            "organizations[0].enabled_connections[0].connection: no connection named or with id 'Nope'",
        ),
        (
            {
                "organizations": [
                    {
                        "name": "a",
                        "enabled_connections": [
                            {"connection": "Username-Password-Authentication"},
                            {"connection": "Username-Password-Authentication"},
                        ],
                    }
                ]
            },
            "organizations[0].enabled_connections: lists a connection twice",
        ),
        ({"connections": [{"name": "db", "strategy": "google-oauth2"}]}, "connections[0].strategy: must be one of"),
        ({"connections": [{"name": "db", "id": "db"}]}, "connections[0].id: must be 'con_'"),
        ({"roles": [{"name": "admin"}, {"name": "admin"}]}, "roles[1].name: 'admin' is already used by roles[0]"),
        ({"roles": [{"description": "x"}]}, "roles[0].name: is required"),
        ({"users": [{"email": "not-an-email"}]}, "users[0].email: must be an email address"),
        (
            {"users": [{"email": "a@x.test"}, {"email": "A@X.test"}]},
            "users[1].email: 'A@X.test' is already used by users[0]",
        ),
        ({"users": [{"email": "a@x.test", "user_id": "123"}]}, "users[0].user_id: must be '<provider>|<id>'"),
        ({"users": [{"email": "a@x.test", "email_verified": 1}]}, "users[0].email_verified: must be true or false"),
        ({"users": [{"email": "a@x.test", "connection": "ldap"}]}, "users[0].connection: no connection named"),
        ({"users": [{"email": "a@x.test", "user_metadata": "fr"}]}, "users[0].user_metadata: must be a table"),
    ],
)
def test_errors_name_the_field(data: dict[str, Any], message: str) -> None:
    error = _error(data)
    assert str(error).startswith(message), str(error)
    assert error.setting == message.split(":", 1)[0]


def test_unknown_keys_are_errors_with_a_suggestion() -> None:
    error = _error({"clients": [_client(organisation_usage="allow")]})
    assert str(error) == "clients[0].organisation_usage: unknown key (did you mean 'organization_usage'?)"
    nested = _error({"organizations": [{"name": "a", "branding": {"colors": {"primray": "#000000"}}}]})
    assert nested.setting == "organizations[0].branding.colors.primray"
    top = _error({"organisations": []})
    assert str(top) == "organisations: unknown key (did you mean 'organizations'?)"
    unrelated = _error({"tenant": {"zzz": 1}})
    assert unrelated.setting == "tenant.zzz" and "expected one of friendly_name" in str(unrelated)


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ({"organization": "initech", "user": "a@x.test"}, "members[0].organization: no organization named or with id"),
        ({"organization": "acme", "user": "b@x.test"}, "members[0].user: no user with email or user_id 'b@x.test'"),
        (
            {"organization": "acme", "user": "a@x.test", "roles": ["admin", "owner"]},
            "members[0].roles[1]: no role named or with id 'owner'",
        ),
        ({"organization": "acme"}, "members[0].user: is required"),
    ],
)
def test_member_references_must_resolve(member: dict[str, Any], message: str) -> None:
    data = {
        "organizations": [{"name": "acme", "id": "org_AAAAAAAAAAAAAAAA"}],
        "users": [{"email": "a@x.test"}],
        "roles": [{"name": "admin"}],
        "members": [member],
    }
    assert str(_error(data)).startswith(message)


def test_references_accept_ids_names_and_any_email_case() -> None:
    data = {
        "connections": [{"id": "con_AAAAAAAAAAAAAAAA", "name": "db"}],
        "organizations": [
            {
                "name": "acme",
                "id": "org_AAAAAAAAAAAAAAAA",
                "enabled_connections": [{"connection": "con_AAAAAAAAAAAAAAAA"}],
            }
        ],
        "users": [{"email": "Ada@X.test", "user_id": "auth0|aaaaaaaaaaaaaaaaaaaaaaaa", "connection": "db"}],
        "roles": [{"name": "admin", "id": "rol_AAAAAAAAAAAAAAAA"}, {"name": "billing"}],
        "members": [
            {"organization": "org_AAAAAAAAAAAAAAAA", "user": "ADA@x.test", "roles": ["rol_AAAAAAAAAAAAAAAA", "billing"]}
        ],
    }
    with Store() as store:
        seed(store, load_config(data))
        assert store.is_member("org_AAAAAAAAAAAAAAAA", "auth0|aaaaaaaaaaaaaaaaaaaaaaaa")
        roles, _ = store.list_member_roles("org_AAAAAAAAAAAAAAAA", "auth0|aaaaaaaaaaaaaaaaaaaaaaaa")
        assert [r["name"] for r in roles] == ["admin", "billing"]
        assert store.list_enabled_connections("org_AAAAAAAAAAAAAAAA")[0]["connection"]["name"] == "db"
        assert store.get_user("auth0|aaaaaaaaaaaaaaaaaaaaaaaa")["identities"][0]["connection"] == "db"


def test_defaults_are_filled_in() -> None:
    config = load_config(
        {"clients": [_client()], "organizations": [{"name": "acme"}], "users": [{"email": "a@x.test"}]}
    )
    (client,) = config.clients
    assert client["organization_usage"] == "deny"
    assert client["organization_require_behavior"] == "no_prompt"
    assert client["grant_types"] == ["authorization_code", "implicit", "refresh_token"]  # Auth0's regular web default
    assert client["app_type"] == "regular_web" and client["name"] == "web" and client["scopes"] == []
    assert config.organizations[0]["display_name"] == "acme"
    assert config.users[0]["email_verified"] is True
    m2m = load_config({"clients": [_client(app_type="non_interactive")]}).clients[0]
    assert m2m["grant_types"] == ["client_credentials"]


def test_error_is_a_configuration_error() -> None:
    error = _error({"clients": [_client(organization_usage="maybe")]})
    assert isinstance(error, ConfigurationError)
    assert error.problem == "must be one of deny, allow, require (got 'maybe')"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert str(_error(missing)) == f"{missing}: file not found"
    broken = tmp_path / "broken.toml"
    broken.write_text("[tenant\nfriendly_name = 1\n")
    error = _error(broken)
    assert error.setting == str(broken) and "is not valid TOML" in str(error)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert _error(binary).setting == str(binary)


# -- the shipped example and the demo tenant


def test_example_config_is_valid_and_seeds() -> None:
    text = example_config_text()
    assert text.count("#") > 30  # it is the commented example
    config = load_config(tomllib.loads(text))
    with Store() as store:
        seed(store, config)
        acme = store.get_organization_by_name("acme")
        assert acme["id"] == "org_AcmeExample00001"
        assert acme["branding"]["colors"]["primary"] == "#0059d6"
        owner = store.verify_password("owner@acme.test", "owner-password-change-me")
        assert owner is not None and store.is_member(acme["id"], owner["user_id"])
        assert store.get_client("acme-backend")["scopes"]
        camille = store.verify_password("camille@globex.test", "camille-password-change-me")
        assert camille is not None  # a member of both organizations (what the switcher is for)
        assert [org["name"] for org in store.list_user_organizations(camille["user_id"])[0]] == ["acme", "globex"]
    assert [u.email for u in config.users_with_passwords()] == ["owner@acme.test", "camille@globex.test"]


def test_demo_tenant_is_what_the_docs_promise() -> None:
    config = load_config(None)
    with Store() as store:
        seed(store, config)
        web = store.get_client(cfg.DEMO_WEB_CLIENT_ID)
        assert web["client_secret"] == cfg.DEMO_WEB_CLIENT_SECRET
        assert web["callbacks"] == [
            "http://127.0.0.1:8000/callback",
            "http://localhost:8000/callback",
            "http://*.myapp.test:8000/callback",
        ]
        assert web["initiate_login_uri"] == "http://127.0.0.1:8000/login"
        assert web["organization_usage"] == "allow"
        assert "http://127.0.0.1:8000/" in web["allowed_logout_urls"]
        m2m = store.get_client(cfg.DEMO_M2M_CLIENT_ID)
        assert m2m["client_secret"] == cfg.DEMO_M2M_CLIENT_SECRET
        assert m2m["grant_types"] == ["client_credentials"]
        assert set(m2m["scopes"]) == set(MANAGEMENT_API_SCOPES)
        for resource in ["organizations", "organization_members", "organization_member_roles",
                         "organization_invitations", "organization_connections", "users", "roles"]:  # fmt: skip
            for action in ["read", "create", "delete", "update"]:
                assert f"{action}:{resource}" in m2m["scopes"]
        acme = store.get_organization(cfg.DEMO_ACME_ORG_ID)
        assert acme["name"] == "acme" and acme["display_name"] == "Acme Inc."
        globex = store.get_organization(cfg.DEMO_GLOBEX_ORG_ID)
        assert globex["name"] == "globex"
        for org_id in (cfg.DEMO_ACME_ORG_ID, cfg.DEMO_GLOBEX_ORG_ID):
            (enabled,) = store.list_enabled_connections(org_id)
            assert enabled["connection_id"] == cfg.DEMO_CONNECTION_ID
            assert enabled["connection"]["name"] == "Username-Password-Authentication"
        roles, _ = store.list_roles()
        assert {r["name"]: r["id"] for r in roles} == {
            "admin": cfg.DEMO_ADMIN_ROLE_ID,
            "member": cfg.DEMO_MEMBER_ROLE_ID,
            "billing": cfg.DEMO_BILLING_ROLE_ID,
        }
        admin = store.verify_password(cfg.DEMO_ADMIN_EMAIL, cfg.DEMO_ADMIN_PASSWORD)
        assert admin["user_id"] == cfg.DEMO_ADMIN_USER_ID and admin["email_verified"] is True
        assert store.list_member_roles(cfg.DEMO_ACME_ORG_ID, cfg.DEMO_ADMIN_USER_ID)[0][0]["name"] == "admin"
        member = store.verify_password(cfg.DEMO_MEMBER_EMAIL, cfg.DEMO_MEMBER_PASSWORD)
        assert member["user_id"] == cfg.DEMO_MEMBER_USER_ID
        assert store.is_member(cfg.DEMO_GLOBEX_ORG_ID, cfg.DEMO_MEMBER_USER_ID)
        assert not store.is_member(cfg.DEMO_ACME_ORG_ID, cfg.DEMO_MEMBER_USER_ID)
        # one member of both organizations, for the workspace's organization switcher
        consultant = store.verify_password(cfg.DEMO_CONSULTANT_EMAIL, cfg.DEMO_CONSULTANT_PASSWORD)
        assert consultant["user_id"] == cfg.DEMO_CONSULTANT_USER_ID
        roles_in = {org: [r["name"] for r in store.list_member_roles(org, cfg.DEMO_CONSULTANT_USER_ID)[0]]
                    for org in (cfg.DEMO_ACME_ORG_ID, cfg.DEMO_GLOBEX_ORG_ID)}
        assert roles_in == {cfg.DEMO_ACME_ORG_ID: ["member"], cfg.DEMO_GLOBEX_ORG_ID: ["admin"]}
    assert config.settings["allow_organization_name_in_authentication_api"] is True
    assert config.settings["id_token_roles_claim"] == "https://orginvite.dev/roles"


def test_demo_ids_have_auth0_shapes() -> None:
    import re

    assert re.fullmatch(r"org_[A-Za-z0-9]{16}", cfg.DEMO_ACME_ORG_ID)
    assert re.fullmatch(r"org_[A-Za-z0-9]{16}", cfg.DEMO_GLOBEX_ORG_ID)
    assert re.fullmatch(r"con_[A-Za-z0-9]{16}", cfg.DEMO_CONNECTION_ID)
    for role_id in (cfg.DEMO_ADMIN_ROLE_ID, cfg.DEMO_MEMBER_ROLE_ID, cfg.DEMO_BILLING_ROLE_ID):
        assert re.fullmatch(r"rol_[A-Za-z0-9]{16}", role_id)
    for user_id in (cfg.DEMO_ADMIN_USER_ID, cfg.DEMO_MEMBER_USER_ID, cfg.DEMO_CONSULTANT_USER_ID):
        assert re.fullmatch(r"auth0\|[0-9a-f]{24}", user_id)


def test_demo_config_is_a_fresh_copy_each_time() -> None:
    first = demo_config()
    first["clients"].clear()
    assert len(demo_config()["clients"]) == 2


# -- idempotent seeding into a persistent database


def test_seeding_twice_keeps_existing_records(tmp_path: Path) -> None:
    path = tmp_path / "tenant.sqlite3"
    with Store(path) as store:
        seed(store, load_config(None))
        store.set_password(cfg.DEMO_ADMIN_USER_ID, "changed by the user")
        store.remove_member_roles(cfg.DEMO_ACME_ORG_ID, cfg.DEMO_ADMIN_USER_ID, [cfg.DEMO_ADMIN_ROLE_ID])
        store.add_member_roles(cfg.DEMO_ACME_ORG_ID, cfg.DEMO_ADMIN_USER_ID, [cfg.DEMO_BILLING_ROLE_ID])
    changed = demo_config()
    changed["clients"][0]["callbacks"] = ["http://127.0.0.1:9000/callback"]
    changed["tenant"]["friendly_name"] = "Renamed"
    with Store(path) as store:
        seed(store, load_config(changed))
        assert store.verify_password(cfg.DEMO_ADMIN_EMAIL, "changed by the user") is not None
        names = sorted(r["name"] for r in store.list_member_roles(cfg.DEMO_ACME_ORG_ID, cfg.DEMO_ADMIN_USER_ID)[0])
        assert names == ["admin", "billing"]  # config roles are added back, API changes are kept
        assert store.list_organizations()[1] == 2 and store.list_users()[1] == len(changed["users"])  # none twice
        assert store.get_client(cfg.DEMO_WEB_CLIENT_ID)["callbacks"] == ["http://127.0.0.1:9000/callback"]
        assert store.get_tenant()["friendly_name"] == "Renamed"


def test_generated_ids_and_secrets_are_stable_across_restarts(tmp_path: Path) -> None:
    data = {
        "clients": [_client()],
        "connections": [{"name": "db"}],
        "organizations": [{"name": "acme", "enabled_connections": [{"connection": "db"}]}],
        "users": [{"email": "a@x.test", "password": "pw"}],
        "roles": [{"name": "admin"}],
        "members": [{"organization": "acme", "user": "a@x.test", "roles": ["admin"]}],
    }
    path = tmp_path / "tenant.sqlite3"
    with Store(path) as store:
        first = load_config(copy.deepcopy(data))
        seed(store, first)
        secret = store.get_client("web")["client_secret"]
        org_id = store.get_organization_by_name("acme")["id"]
        connection_id = store.get_connection_by_name("db")["id"]
        (seeded_user,) = first.users_with_passwords()
    assert len(secret) >= 32 and seeded_user.user_id.startswith("auth0|")
    with Store(path) as store:
        again = load_config(copy.deepcopy(data))
        seed(store, again)
        assert store.get_client("web")["client_secret"] == secret
        assert store.get_organization_by_name("acme")["id"] == org_id
        assert store.get_connection_by_name("db")["id"] == connection_id
        assert again.users_with_passwords()[0].user_id == seeded_user.user_id
        assert store.list_member_roles(org_id, seeded_user.user_id)[1] == 1


def test_an_id_clash_with_the_database_names_the_entry() -> None:
    with Store() as store:
        store.create_organization("acme", id="org_BBBBBBBBBBBBBBBB")
        store.create_role("admin", id="rol_BBBBBBBBBBBBBBBB")
        store.create_user("a@x.test", user_id="auth0|bbbbbbbbbbbbbbbbbbbbbbbb")
        with pytest.raises(TenantConfigError, match=r"organizations\[0\]\.id: the name 'acme' belongs to"):
            seed(store, load_config({"organizations": [{"name": "acme", "id": "org_AAAAAAAAAAAAAAAA"}]}))
        with pytest.raises(TenantConfigError, match=r"roles\[0\]\.id"):
            seed(store, load_config({"roles": [{"name": "admin", "id": "rol_AAAAAAAAAAAAAAAA"}]}))
        with pytest.raises(TenantConfigError, match=r"users\[0\]\.user_id"):
            seed(store, load_config({"users": [{"email": "a@x.test", "user_id": "auth0|aaaaaaaaaaaaaaaaaaaaaaaa"}]}))
        store.put_connection({"id": "con_BBBBBBBBBBBBBBBB", "name": "db"})
        with pytest.raises(TenantConfigError, match=r"connections\[0\]\.name"):
            seed(store, load_config({"connections": [{"name": "db", "id": "con_AAAAAAAAAAAAAAAA"}]}))


# -- whatever the input, a TenantConfigError or a config: never a crash

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), st.sampled_from(
        ["", "acme", "org_AAAAAAAAAAAAAAAA", "http://*.x.test/cb", "a@x.test", "allow", "admin", "rol_AAAAAAAAAAAAAAAA"]
    ), st.text(max_size=8)
)  # fmt: skip
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["name", "id", "connection", "colors", "primary", "x"]), children, max_size=3)
    ),
    max_leaves=8,
)
_fields = st.sampled_from(
    ["client_id", "name", "id", "email", "callbacks", "organization_usage", "scopes", "grant_types", "app_type",
     "branding", "metadata", "enabled_connections", "organization", "user", "roles", "password", "user_id",
     "friendly_name", "management_api_rate_limit", "strategy", "typo"]
)  # fmt: skip
_entry = st.dictionaries(_fields, _values, max_size=5)
_document = st.fixed_dictionaries(
    {},
    optional={
        "tenant": st.one_of(_entry, _values),
        "clients": st.one_of(st.lists(_entry, max_size=3), _values),
        "connections": st.lists(_entry, max_size=2),
        "organizations": st.lists(_entry, max_size=3),
        "roles": st.lists(_entry, max_size=2),
        "users": st.lists(_entry, max_size=2),
        "members": st.lists(_entry, max_size=2),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_document)
def test_any_document_validates_or_fails_with_a_named_field(document: dict[str, Any]) -> None:
    try:
        config = load_config(document)
    except TenantConfigError as error:
        assert error.setting and error.problem
        return
    with Store() as store:  # what validates also seeds
        seed(store, config)
