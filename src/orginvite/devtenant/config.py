"""The dev tenant's configuration: a TOML file in Auth0's own field names, validated, then seeded into the store.

Validation is strict because a typo in a tenant file would otherwise surface much later as a puzzling login
failure: unknown keys are errors, every value is type-checked, references between tables must resolve, and every
error names the field path (``clients[1].organization_usage: must be one of deny, allow, require (got 'maybe')``).

Seeding is idempotent: what already exists in a persistent database is kept (organizations, roles, users and their
passwords), while clients, connections and tenant settings follow the file, so restarting with the same file
never fails. ``DEMO_*`` constants name the seeded demo tenant's fixed IDs and credentials.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from orginvite.errors import ConfigurationError

from .store import ConflictError, Record, Store, generate_id
from .token_claims import OIDC_SCOPES
from .url_placeholders import (
    ORGANIZATION_NAME,
    callback_placeholder_problem,
    has_placeholder,
    login_uri_placeholder_problem,
)

__all__ = [
    "DEFAULT_CONNECTION_ID",
    "DEFAULT_CONNECTION_NAME",
    "DEFAULT_SETTINGS",
    "MANAGEMENT_API_SCOPES",
    "SeededUser",
    "TenantConfig",
    "TenantConfigError",
    "demo_config",
    "example_config_text",
    "load_config",
    "seed",
]


class TenantConfigError(ConfigurationError):
    """The tenant configuration is malformed; ``setting`` is the field path (``clients[1].callbacks[0]``)."""


# -- the demo tenant's fixed identifiers, so docs and tests can refer to them
DEMO_FRIENDLY_NAME = "orginvite dev tenant"
DEMO_ROLES_CLAIM = "https://orginvite.dev/roles"
DEMO_API_IDENTIFIER = "https://api.acme.test/"
DEMO_API_SCOPES = ("invoices:read", "invoices:write")
DEMO_WEB_CLIENT_ID = "demo-web-app"
DEMO_WEB_CLIENT_SECRET = "demo-web-app-secret-for-local-development-only"
DEMO_WEB_CALLBACKS = (
    "http://127.0.0.1:8000/callback",
    "http://localhost:8000/callback",
    "http://*.myapp.test:8000/callback",
)
DEMO_WEB_LOGOUT_URLS = ("http://127.0.0.1:8000/", "http://localhost:8000/", "http://*.myapp.test:8000/")
DEMO_WEB_LOGIN_URI = "http://127.0.0.1:8000/login"
DEMO_M2M_CLIENT_ID = "demo-m2m"
DEMO_M2M_CLIENT_SECRET = "demo-m2m-secret-for-local-development-only"
DEMO_CONNECTION_ID = "con_DemoConnection01"
DEMO_CONNECTION_NAME = "Username-Password-Authentication"
DEMO_ACME_ORG_ID = "org_AcmeDemoOrg00001"
DEMO_ACME_ORG_NAME = "acme"
DEMO_GLOBEX_ORG_ID = "org_GlobexDemoOrg001"
DEMO_GLOBEX_ORG_NAME = "globex"
DEMO_ADMIN_ROLE_ID = "rol_DemoAdminRole001"
DEMO_MEMBER_ROLE_ID = "rol_DemoMemberRole01"
DEMO_BILLING_ROLE_ID = "rol_DemoBillingRol01"
DEMO_ADMIN_USER_ID = "auth0|64656d6f0000000000000001"
DEMO_ADMIN_EMAIL = "admin@acme.test"
DEMO_ADMIN_PASSWORD = "acme-admin-demo-password"
DEMO_MEMBER_USER_ID = "auth0|64656d6f0000000000000002"
DEMO_MEMBER_EMAIL = "member@globex.test"
DEMO_MEMBER_PASSWORD = "globex-member-demo-password"
# A member of both organizations (admin of Globex, member of Acme): the one who switches between them.
DEMO_CONSULTANT_USER_ID = "auth0|64656d6f0000000000000003"
DEMO_CONSULTANT_EMAIL = "consultant@partners.test"
DEMO_CONSULTANT_PASSWORD = "two-orgs-consultant-demo-password"

# A config with no [[connections]] gets Auth0's default database connection under this fixed ID.
DEFAULT_CONNECTION_ID = DEMO_CONNECTION_ID
DEFAULT_CONNECTION_NAME = DEMO_CONNECTION_NAME

_MANAGEMENT_RESOURCES = (
    "organizations",
    "organization_members",
    "organization_member_roles",
    "organization_invitations",
    "organization_connections",
    "users",
    "roles",
    "connections",
    "clients",
    "sessions",
)
MANAGEMENT_API_SCOPES: tuple[str, ...] = tuple(
    f"{action}:{resource}" for resource in _MANAGEMENT_RESOURCES for action in ("read", "create", "update", "delete")
)

# Defaults of the [tenant] table (DevTenant.settings starts from these).
DEFAULT_SETTINGS: dict[str, Any] = {
    "friendly_name": DEMO_FRIENDLY_NAME,
    "support_email": None,
    "support_url": None,
    "default_redirection_uri": None,
    "default_locale": "en",
    "allow_organization_name_in_authentication_api": False,
    "id_token_roles_claim": None,
    "management_api_rate_limit": 0,
}


@dataclass(frozen=True)
class SeededUser:
    """A user the config defines with a password: what `orginvite tenant serve` prints."""

    email: str
    password: str
    user_id: str


@dataclass
class TenantConfig:
    """A validated configuration: every table normalized with its defaults filled in."""

    tenant: dict[str, Any] = field(default_factory=dict)
    clients: list[Record] = field(default_factory=list)
    connections: list[Record] = field(default_factory=list)
    organizations: list[Record] = field(default_factory=list)
    roles: list[Record] = field(default_factory=list)
    users: list[Record] = field(default_factory=list)
    members: list[Record] = field(default_factory=list)
    apis: list[Record] = field(default_factory=list)

    @property
    def settings(self) -> dict[str, Any]:
        return {**DEFAULT_SETTINGS, **self.tenant}

    def users_with_passwords(self) -> list[SeededUser]:
        return [
            SeededUser(user["email"], user["password"], user["user_id"] or "")
            for user in self.users
            if user.get("password")
        ]


# -- field checkers: each returns the normalized value or raises TenantConfigError naming the path

Checker = Callable[[str, Any], Any]

_ORG_NAME = re.compile(r"^[a-z0-9_-]{1,50}$")
_ORG_ID = re.compile(r"^org_[A-Za-z0-9]{1,46}$")
_ROLE_ID = re.compile(r"^rol_[A-Za-z0-9]{1,46}$")
_CONNECTION_ID = re.compile(r"^con_[A-Za-z0-9]{1,46}$")
_USER_ID = re.compile(r"^[A-Za-z0-9_-]+\|[^\s|]+$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_CONNECTION_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,126}[A-Za-z0-9])?$")


def _fail(path: str, problem: str) -> TenantConfigError:
    return TenantConfigError(path, problem)


def _type_name(value: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "an integer", list: "an array", dict: "a table"}.get(
        type(value), type(value).__name__
    )


def _str(*, pattern: re.Pattern[str] | None = None, describe: str = "", max_length: int = 2000) -> Checker:
    def check(path: str, value: Any) -> str:
        if not isinstance(value, str):
            raise _fail(path, f"must be a string (got {_type_name(value)})")
        if not value.strip():
            raise _fail(path, "must not be empty")
        if len(value) > max_length:
            raise _fail(path, f"must be at most {max_length} characters")
        if pattern is not None and not pattern.match(value):
            raise _fail(path, f"must be {describe} (got {value!r})")
        return value

    return check


def _optional_str(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"must be a string (got {_type_name(value)})")
    return value


def _bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, f"must be true or false (got {value!r})")
    return value


def _non_negative_int(path: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, f"must be a whole number, 0 or more (got {value!r})")
    return value


def _positive_int(*, maximum: int) -> Checker:
    def check(path: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
            raise _fail(path, f"must be a whole number of seconds from 1 to {maximum} (got {value!r})")
        return value

    return check


def _one_of(*choices: str) -> Checker:
    def check(path: str, value: Any) -> str:
        if value not in choices:
            raise _fail(path, f"must be one of {', '.join(choices)} (got {value!r})")
        return value

    return check


def _url(*, wildcard: bool = False, placeholders: str | None = None) -> Checker:
    """An absolute http(s) URL; with ``wildcard`` a ``*`` may stand for the leftmost host label only.

    ``placeholders`` names the field's Auth0 placeholders (:mod:`.url_placeholders`): ``"callback"`` for
    ``{organization_name}``, ``"login_uri"`` for ``{organization.metadata.public_KEY}``. Any other field refuses
    braces, saying where the placeholder would have worked, since a URL with one there would never match.
    """

    def check(path: str, value: Any) -> str:
        value = _str()(path, value)
        if has_placeholder(value):
            return _placeholder_url(path, value, placeholders)
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises ValueError on a malformed port)
        except ValueError as exc:
            raise _fail(path, f"must be an absolute http(s) URL (got {value!r})") from exc
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise _fail(path, f"must be an absolute http(s) URL (got {value!r})")
        if parts.username or parts.password:
            raise _fail(path, "must not contain credentials")
        if "*" in value:
            host = parts.hostname
            if not wildcard:
                raise _fail(path, "must not contain a wildcard")
            labels = host.split(".")
            if value.count("*") != 1 or "*" not in labels[0] or len(labels) < 3:
                raise _fail(
                    path,
                    f"a '*' may only stand for the leftmost host label, as in http://*.example.com/ (got {value!r})",
                )
        if parts.fragment:
            raise _fail(path, "must not contain a fragment")
        return value

    return check


def _placeholder_url(path: str, value: str, kind: str | None) -> str:
    if kind == "callback":
        problem = callback_placeholder_problem(value)
    elif kind == "login_uri":
        problem = login_uri_placeholder_problem(value)
    elif kind == "logout" and ORGANIZATION_NAME in value:
        problem = (
            f"does not accept {ORGANIZATION_NAME}: Auth0 evaluates it in Allowed Callback URLs only (a logout "
            "request carries no organization); list each host, or use a '*' wildcard such as http://*.example.com/"
        )
    else:
        problem = (
            f"must not contain a placeholder: Auth0 accepts {ORGANIZATION_NAME} in a client's callbacks and "
            "{organization.metadata.public_KEY} in its initiate_login_uri only"
        )
    if problem is not None:
        raise _fail(path, problem)
    # The placeholders keep the URL's shape; check the rest with a stand-in label.
    stand_in = value.replace(ORGANIZATION_NAME, "org")
    stand_in = re.sub(r"\{organization\.metadata\.[^{}]*\}", "org.example", stand_in)
    try:
        _url()(path, stand_in)
    except TenantConfigError as exc:
        raise _fail(path, exc.problem.replace(repr(stand_in), repr(value))) from exc
    return value


def _list_of(item: Checker, *, max_items: int = 100) -> Checker:
    def check(path: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _fail(path, f"must be an array (got {_type_name(value)})")
        if len(value) > max_items:
            raise _fail(path, f"must have at most {max_items} entries")
        return [item(f"{path}[{index}]", entry) for index, entry in enumerate(value)]

    return check


def _string_map(*, max_keys: int = 25, max_value_length: int = 255) -> Checker:
    """Auth0's organization metadata: up to 25 string keys with string values of up to 255 characters."""

    def check(path: str, value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            raise _fail(path, f"must be a table (got {_type_name(value)})")
        if len(value) > max_keys:
            raise _fail(path, f"must have at most {max_keys} keys")
        for key, entry in value.items():
            if not isinstance(entry, str):
                raise _fail(f"{path}.{key}", f"must be a string (got {_type_name(entry)})")
            if len(entry) > max_value_length:
                raise _fail(f"{path}.{key}", f"must be at most {max_value_length} characters")
        return dict(value)

    return check


def _json_table(path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, f"must be a table (got {_type_name(value)})")
    return dict(value)


def _table(fields: Mapping[str, Checker], *, required: tuple[str, ...] = ()) -> Checker:
    """A table with exactly these keys: an unknown one is an error naming it (with a suggestion)."""

    def check(path: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(path, f"must be a table (got {_type_name(value)})")
        for key in value:
            if key not in fields:
                close = difflib.get_close_matches(str(key), list(fields), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (expected one of {', '.join(fields)})"
                raise _fail(_join(path, key), "unknown key" + hint)
        for key in required:
            if key not in value:
                raise _fail(_join(path, key), "is required")
        return {key: checker(_join(path, key), value[key]) for key, checker in fields.items() if key in value}

    return check


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


_TENANT = _table(
    {
        "friendly_name": _str(max_length=255),
        "support_email": _str(pattern=_EMAIL, describe="an email address"),
        "support_url": _url(),
        # The tenant's login route: invitation links fall back to it (Auth0 allows no placeholder here).
        "default_redirection_uri": _url(),
        "default_locale": _str(pattern=re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$"), describe="a locale"),
        "allow_organization_name_in_authentication_api": _bool,
        "id_token_roles_claim": _optional_str,
        "management_api_rate_limit": _non_negative_int,
    }
)

# Auth0's limits: token lifetimes up to 30 days (2592000 s), refresh token lifetimes up to a year.
_MAX_ACCESS_TOKEN_LIFETIME = 2592000
_MAX_REFRESH_TOKEN_LIFETIME = 31557600
_SCOPE_VALUE = re.compile(r"^[\x21-\x7e]{1,280}$")


def _api_identifier(path: str, value: Any) -> str:
    """Auth0 takes any string as an API identifier and recommends a URL; a URL here is checked as one."""
    value = _str(max_length=600)(path, value)
    if value.startswith(("http://", "https://")) or has_placeholder(value):
        return _url()(path, value)
    if any(ch.isspace() for ch in value):
        raise _fail(path, f"must not contain whitespace (got {value!r})")
    return value


def _api_scope(path: str, value: Any) -> dict[str, str]:
    """A scope as a bare name or Auth0's ``{ value = ..., description = ... }``."""
    bare = isinstance(value, str)
    entry = _table({"value": _str(max_length=280), "description": _optional_str}, required=("value",))(
        path, {"value": value} if bare else value
    )
    name = entry["value"]
    if not _SCOPE_VALUE.match(name):
        raise _fail(path if bare else f"{path}.value", f"must be a scope name without spaces (got {name!r})")
    if name in OIDC_SCOPES:
        raise _fail(path, f"{name!r} is an OpenID Connect scope every login can ask for; an API cannot define it")
    return {"value": name, "description": entry.get("description", "")}


_API = _table(
    {
        "identifier": _api_identifier,
        "name": _str(max_length=255),
        "scopes": _list_of(_api_scope, max_items=1000),
        "token_lifetime": _positive_int(maximum=_MAX_ACCESS_TOKEN_LIFETIME),
        "allow_offline_access": _bool,
        "enforce_policies": _bool,
        "token_dialect": _one_of("access_token", "access_token_authz"),
    },
    required=("identifier",),
)

_REFRESH_POLICY = _table(
    {"audience": _str(max_length=600), "scope": _list_of(_str(max_length=280))}, required=("audience",)
)

_REFRESH_TOKEN = _table(
    {
        "rotation_type": _one_of("rotating", "non-rotating"),
        "expiration_type": _one_of("expiring", "non-expiring"),
        "leeway": _non_negative_int,
        "token_lifetime": _positive_int(maximum=_MAX_REFRESH_TOKEN_LIFETIME),
        "idle_token_lifetime": _positive_int(maximum=_MAX_REFRESH_TOKEN_LIFETIME),
        "infinite_token_lifetime": _bool,
        "infinite_idle_token_lifetime": _bool,
        "policies": _list_of(_REFRESH_POLICY),
    }
)

_CLIENT = _table(
    {
        "client_id": _str(pattern=_CLIENT_ID, describe="letters, digits and . _ ~ - (up to 128)"),
        "client_secret": _str(max_length=512),
        "name": _str(max_length=255),
        "app_type": _one_of("regular_web", "non_interactive"),
        "callbacks": _list_of(_url(wildcard=True, placeholders="callback")),
        "allowed_logout_urls": _list_of(_url(wildcard=True, placeholders="logout")),
        "initiate_login_uri": _url(placeholders="login_uri"),
        "organization_usage": _one_of("deny", "allow", "require"),
        "organization_require_behavior": _one_of("no_prompt", "pre_login_prompt", "post_login_prompt"),
        "grant_types": _list_of(_one_of("authorization_code", "implicit", "refresh_token", "client_credentials")),
        "scopes": _list_of(_one_of(*MANAGEMENT_API_SCOPES), max_items=len(MANAGEMENT_API_SCOPES)),
        "client_metadata": _string_map(max_keys=10),
        "logo_uri": _url(),
        "refresh_token": _REFRESH_TOKEN,
        # Auth0's client field for OIDC Back-Channel Logout: one URL. Auth0 refuses loopback and private addresses
        # there; the dev tenant accepts them, since the app it calls runs on this machine.
        "oidc_logout": _table({"backchannel_logout_urls": _list_of(_url(), max_items=1)}),
    },
    required=("client_id",),
)

_CONNECTION = _table(
    {
        "id": _str(pattern=_CONNECTION_ID, describe="'con_' followed by letters and digits"),
        "name": _str(pattern=_CONNECTION_NAME, describe="letters, digits and '-' (as Auth0 connection names)"),
        "strategy": _one_of("auth0"),
    },
    required=("name",),
)

_ENABLED_CONNECTION = _table({"connection": _str(), "assign_membership_on_login": _bool}, required=("connection",))

_BRANDING = _table(
    {
        "logo_url": _url(),
        "colors": _table(
            {
                "primary": _str(pattern=_COLOR, describe="a #rrggbb color"),
                "page_background": _str(pattern=_COLOR, describe="a #rrggbb color"),
            }
        ),
    }
)

_ORGANIZATION = _table(
    {
        "id": _str(pattern=_ORG_ID, describe="'org_' followed by letters and digits, at most 50 characters"),
        "name": _str(pattern=_ORG_NAME, describe="1 to 50 lowercase letters, digits, '_' or '-'"),
        "display_name": _str(max_length=255),
        "metadata": _string_map(),
        "branding": _BRANDING,
        "enabled_connections": _list_of(_ENABLED_CONNECTION),
    },
    required=("name",),
)

_ROLE = _table(
    {
        "id": _str(pattern=_ROLE_ID, describe="'rol_' followed by letters and digits"),
        "name": _str(max_length=255),
        "description": _optional_str,
        "permissions": _list_of(
            _table(
                {"resource_server_identifier": _str(max_length=600), "permission_name": _str(max_length=280)},
                required=("resource_server_identifier", "permission_name"),
            ),
            max_items=1000,
        ),
    },
    required=("name",),
)

_USER = _table(
    {
        "user_id": _str(pattern=_USER_ID, describe="'<provider>|<id>', e.g. 'auth0|' followed by 24 hex digits"),
        "email": _str(pattern=_EMAIL, describe="an email address", max_length=320),
        "password": _str(max_length=1024),
        "name": _str(max_length=300),
        "email_verified": _bool,
        "connection": _str(),
        "user_metadata": _json_table,
        "app_metadata": _json_table,
    },
    required=("email",),
)

_MEMBER = _table(
    {"organization": _str(), "user": _str(), "roles": _list_of(_str())},
    required=("organization", "user"),
)

_TABLES: dict[str, Checker] = {
    "tenant": _TENANT,
    "clients": _CLIENT,
    "connections": _CONNECTION,
    "organizations": _ORGANIZATION,
    "roles": _ROLE,
    "users": _USER,
    "members": _MEMBER,
    "apis": _API,
}


def _entries(data: Mapping[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise _fail(key, f"must be an array of tables ([[{key}]]), got {_type_name(value)}")
    checker = _TABLES[key]
    return [(f"{key}[{index}]", checker(f"{key}[{index}]", entry)) for index, entry in enumerate(value)]


def _unique(entries: list[tuple[str, dict[str, Any]]], key: str, *, fold: bool = False) -> None:
    seen: dict[Any, str] = {}
    for path, entry in entries:
        if entry.get(key) is None:
            continue
        value = entry[key].lower() if fold else entry[key]
        if value in seen:
            raise _fail(f"{path}.{key}", f"{entry[key]!r} is already used by {seen[value]}")
        seen[value] = path


def _validate(data: Mapping[str, Any]) -> TenantConfig:
    if not isinstance(data, Mapping):
        raise _fail("config", f"must be a table (got {_type_name(data)})")
    for key in data:
        if key not in _TABLES:
            close = difflib.get_close_matches(str(key), list(_TABLES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (expected one of {', '.join(_TABLES)})"
            raise _fail(str(key), "unknown key" + hint)

    tenant = _TENANT("tenant", data.get("tenant", {}))
    clients = _entries(data, "clients")
    connections = _entries(data, "connections")
    organizations = _entries(data, "organizations")
    roles = _entries(data, "roles")
    users = _entries(data, "users")
    members = _entries(data, "members")
    apis = _entries(data, "apis")

    for entries, keys in [
        (clients, [("client_id", False)]),
        (connections, [("id", False), ("name", False)]),
        (organizations, [("id", False), ("name", False)]),
        (roles, [("id", False), ("name", False)]),
        (users, [("user_id", False), ("email", True)]),
        (apis, [("identifier", False)]),
    ]:
        for key, fold in keys:
            _unique(entries, key, fold=fold)

    normalized = TenantConfig(tenant=tenant)
    normalized.apis = [_normalize_api(path, api) for path, api in apis]
    api_scopes = {api["identifier"]: [s["value"] for s in api["scopes"]] for api in normalized.apis}
    for path, client in clients:
        record = _normalize_client(path, client)
        record["refresh_token"] = _normalize_refresh_token(path, client, record["grant_types"], api_scopes)
        normalized.clients.append(record)

    if not connections:
        connections = [("connections[default]", {"id": DEFAULT_CONNECTION_ID, "name": DEFAULT_CONNECTION_NAME})]
    normalized.connections = [{"id": c.get("id"), "name": c["name"], "strategy": "auth0"} for _, c in connections]
    connection_names = {c["name"] for c in normalized.connections}
    connection_ids = {c["id"]: c["name"] for c in normalized.connections if c["id"]}

    def connection_ref(path: str, ref: str) -> str:
        if ref in connection_names:
            return ref
        if ref in connection_ids:
            return connection_ids[ref]
        raise _fail(path, f"no connection named or with id {ref!r} in [[connections]]")

    for path, org in organizations:
        enabled = [
            {
                "connection": connection_ref(f"{path}.enabled_connections[{index}].connection", entry["connection"]),
                "assign_membership_on_login": entry.get("assign_membership_on_login", False),
            }
            for index, entry in enumerate(org.get("enabled_connections", []))
        ]
        if len({entry["connection"] for entry in enabled}) != len(enabled):
            raise _fail(f"{path}.enabled_connections", "lists a connection twice")
        normalized.organizations.append(
            {
                "id": org.get("id"),
                "name": org["name"],
                "display_name": org.get("display_name") or org["name"],
                "metadata": org.get("metadata", {}),
                "branding": org.get("branding", {}),
                "enabled_connections": enabled,
            }
        )

    normalized.roles = [
        {
            "id": role.get("id"),
            "name": role["name"],
            "description": role.get("description", ""),
            "permissions": _role_permissions(path, role, api_scopes),
        }
        for path, role in roles
    ]

    # Users sign up through Auth0's default database connection when there is one, else the first configured.
    default_connection = (
        DEFAULT_CONNECTION_NAME if DEFAULT_CONNECTION_NAME in connection_names else normalized.connections[0]["name"]
    )
    for path, user in users:
        normalized.users.append(
            {
                "user_id": user.get("user_id"),
                "email": user["email"].strip().lower(),
                "password": user.get("password"),
                "name": user.get("name"),
                "email_verified": user.get("email_verified", True),
                "connection": connection_ref(f"{path}.connection", user.get("connection", default_connection)),
                "user_metadata": user.get("user_metadata", {}),
                "app_metadata": user.get("app_metadata", {}),
            }
        )

    org_refs = {org["name"]: org["name"] for org in normalized.organizations}
    org_refs |= {org["id"]: org["name"] for org in normalized.organizations if org["id"]}
    user_refs = {user["email"]: user["email"] for user in normalized.users}
    user_refs |= {user["user_id"]: user["email"] for user in normalized.users if user["user_id"]}
    role_refs = {role["name"]: role["name"] for role in normalized.roles}
    role_refs |= {role["id"]: role["name"] for role in normalized.roles if role["id"]}

    for path, member in members:
        organization = org_refs.get(member["organization"])
        if organization is None:
            raise _fail(
                f"{path}.organization",
                f"no organization named or with id {member['organization']!r} in [[organizations]]",
            )
        user = user_refs.get(member["user"]) or user_refs.get(member["user"].strip().lower())
        if user is None:
            raise _fail(f"{path}.user", f"no user with email or user_id {member['user']!r} in [[users]]")
        role_names = []
        for index, ref in enumerate(member.get("roles", [])):
            if ref not in role_refs:
                raise _fail(f"{path}.roles[{index}]", f"no role named or with id {ref!r} in [[roles]]")
            role_names.append(role_refs[ref])
        normalized.members.append({"organization": organization, "user": user, "roles": role_names})
    return normalized


def _normalize_api(path: str, api: dict[str, Any]) -> Record:
    """An API (Auth0 "resource server") with Auth0's defaults: 24 h tokens, no offline access, no RBAC."""
    scopes = api.get("scopes", [])
    seen: set[str] = set()
    for index, scope in enumerate(scopes):
        if scope["value"] in seen:
            raise _fail(f"{path}.scopes[{index}]", f"{scope['value']!r} is listed twice")
        seen.add(scope["value"])
    dialect = api.get("token_dialect", "access_token")
    enforce = api.get("enforce_policies", False)
    if dialect == "access_token_authz" and not enforce:
        raise _fail(
            f"{path}.token_dialect",
            "'access_token_authz' (permissions in the access token) needs enforce_policies = true (RBAC), as on Auth0",
        )
    return {
        "identifier": api["identifier"],
        "name": api.get("name", api["identifier"]),
        "scopes": scopes,
        "token_lifetime": api.get("token_lifetime", 86400),
        "allow_offline_access": api.get("allow_offline_access", False),
        "enforce_policies": enforce,
        "token_dialect": dialect,
        "signing_alg": "RS256",
    }


def _api_scope_ref(
    paths: tuple[str, str], identifier: str, scope: str | None, api_scopes: Mapping[str, list[str]]
) -> None:
    """``identifier`` names a configured API and ``scope`` (if any) is one it defines; paths: (identifier, scope)."""
    if identifier not in api_scopes:
        raise _fail(paths[0], f"no API with identifier {identifier!r} in [[apis]]")
    if scope is not None and scope not in api_scopes[identifier]:
        defined = ", ".join(api_scopes[identifier]) or "none"
        raise _fail(paths[1], f"{scope!r} is not a scope of {identifier} (it defines: {defined})")


def _role_permissions(path: str, role: dict[str, Any], api_scopes: Mapping[str, list[str]]) -> list[Record]:
    """Auth0's role permission objects: ``{resource_server_identifier, permission_name}``, each an API's scope."""
    permissions: list[Record] = []
    for index, entry in enumerate(role.get("permissions", [])):
        entry_path = f"{path}.permissions[{index}]"
        identifier, name = entry["resource_server_identifier"], entry["permission_name"]
        paths = (f"{entry_path}.resource_server_identifier", f"{entry_path}.permission_name")
        _api_scope_ref(paths, identifier, name, api_scopes)
        record = {"resource_server_identifier": identifier, "permission_name": name}
        if record in permissions:
            raise _fail(entry_path, f"{name!r} of {identifier} is listed twice")
        permissions.append(record)
    return permissions


#: Auth0's defaults for a client's ``refresh_token`` object: non-rotating, without expiry.
_REFRESH_DEFAULTS = {"token_lifetime": 2592000, "idle_token_lifetime": 1296000}


def _normalize_refresh_token(
    path: str, client: dict[str, Any], grant_types: list[str], api_scopes: Mapping[str, list[str]]
) -> Record:
    """The client's refresh token settings in Auth0's names.

    A lifetime given without its ``infinite_*`` flag is enforced (``infinite_token_lifetime`` defaults to whether
    ``token_lifetime`` is absent; the same for the idle pair), so ``token_lifetime = 2`` alone expires tokens.
    """
    given = client.get("refresh_token")
    settings = given or {}
    path = f"{path}.refresh_token"
    if given is not None and "refresh_token" not in grant_types:
        raise _fail(path, "needs 'refresh_token' in grant_types")
    result: Record = {
        "rotation_type": settings.get("rotation_type", "non-rotating"),
        "leeway": settings.get("leeway", 0),
    }
    for lifetime, infinite in (
        ("token_lifetime", "infinite_token_lifetime"),
        ("idle_token_lifetime", "infinite_idle_token_lifetime"),
    ):
        result[lifetime] = settings.get(lifetime, _REFRESH_DEFAULTS[lifetime])
        result[infinite] = settings.get(infinite, lifetime not in settings)
        if lifetime in settings and result[infinite]:
            raise _fail(f"{path}.{lifetime}", f"has no effect while {infinite} is true")
    finite = not (result["infinite_token_lifetime"] and result["infinite_idle_token_lifetime"])
    expiration = settings.get("expiration_type", "expiring" if finite else "non-expiring")
    if expiration == "non-expiring" and finite:
        raise _fail(f"{path}.expiration_type", "'non-expiring' contradicts the finite lifetimes given")
    result["expiration_type"] = expiration
    if (
        not result["infinite_token_lifetime"]
        and not result["infinite_idle_token_lifetime"]
        and result["idle_token_lifetime"] > result["token_lifetime"]
    ):
        raise _fail(f"{path}.idle_token_lifetime", "must not be longer than token_lifetime")
    policies = []
    for index, policy in enumerate(settings.get("policies", [])):
        policy_path = f"{path}.policies[{index}]"
        scopes = policy.get("scope", [])
        _api_scope_ref((f"{policy_path}.audience", ""), policy["audience"], None, api_scopes)
        for scope_index, scope in enumerate(scopes):
            paths = (f"{policy_path}.audience", f"{policy_path}.scope[{scope_index}]")
            _api_scope_ref(paths, policy["audience"], scope, api_scopes)
        policies.append({"audience": policy["audience"], "scope": scopes})
    result["policies"] = policies
    return result


def _normalize_client(path: str, client: dict[str, Any]) -> Record:
    app_type = client.get("app_type", "regular_web")
    default_grants = (
        # Auth0's defaults for a regular web app include implicit (ID tokens from /authorize, as
        # express-openid-connect's default response_type=id_token needs).
        ["client_credentials"] if app_type == "non_interactive" else ["authorization_code", "implicit", "refresh_token"]
    )
    grant_types = client.get("grant_types", default_grants)
    scopes = client.get("scopes", [])
    if scopes and "client_credentials" not in grant_types:
        raise _fail(f"{path}.scopes", "Management API scopes need 'client_credentials' in grant_types")
    if app_type == "regular_web" and "client_credentials" in grant_types and "authorization_code" not in grant_types:
        raise _fail(f"{path}.app_type", "a client with only client_credentials must be 'non_interactive'")
    for interactive in ("authorization_code", "implicit"):
        if app_type == "non_interactive" and interactive in grant_types:
            raise _fail(f"{path}.grant_types", f"a 'non_interactive' client cannot use {interactive}")
    usage = client.get("organization_usage", "deny")
    if usage == "deny":
        for index, url in enumerate(client.get("callbacks", [])):
            if ORGANIZATION_NAME in url:
                raise _fail(
                    f"{path}.callbacks[{index}]",
                    f"{ORGANIZATION_NAME} is only evaluated when organization_usage is allow or require",
                )
        if has_placeholder(client.get("initiate_login_uri") or ""):
            raise _fail(
                f"{path}.initiate_login_uri",
                "organization metadata placeholders need organization_usage allow or require",
            )
    return {
        "client_id": client["client_id"],
        "client_secret": client.get("client_secret"),
        "name": client.get("name", client["client_id"]),
        "app_type": app_type,
        "callbacks": client.get("callbacks", []),
        "allowed_logout_urls": client.get("allowed_logout_urls", []),
        "oidc_logout": {
            "backchannel_logout_urls": (client.get("oidc_logout") or {}).get("backchannel_logout_urls", []),
        },
        "initiate_login_uri": client.get("initiate_login_uri"),
        "organization_usage": usage,
        "organization_require_behavior": client.get("organization_require_behavior", "no_prompt"),
        "grant_types": grant_types,
        "scopes": scopes,
        "client_metadata": client.get("client_metadata", {}),
        "logo_uri": client.get("logo_uri"),
    }


def load_config(source: str | Path | Mapping[str, Any] | None) -> TenantConfig:
    """Validates a TOML file path, or the parsed form as a Mapping; None gives the seeded demo tenant."""
    if source is None:
        return _validate(demo_config())
    if isinstance(source, Mapping):
        return _validate(source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise _fail(str(path), "file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(str(path), f"cannot be read ({exc})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(str(path), f"is not valid TOML: {exc}") from exc
    return _validate(data)


def seed(store: Store, config: TenantConfig) -> None:
    """Writes the config into the store, keeping what a persistent database already has.

    Tenant settings, clients, connections and APIs follow the config (a changed callback applies on restart).
    Organizations, roles and users are created when missing (matched by id, else by name or email) and never
    overwritten, so changes made through the Management API survive restarts. Memberships, member roles and role
    permissions are added, never removed. A config entry whose id is taken by a different record raises
    TenantConfigError.
    """
    store.set_tenant(config.settings)
    store.set_resource_servers(config.apis)

    for client in config.clients:
        record = dict(client)
        if not record.get("client_secret"):
            existing = store.get_client(record["client_id"])
            record["client_secret"] = (existing or {}).get("client_secret") or generate_id("", 48)
        store.put_client(record)

    for index, connection in enumerate(config.connections):
        existing = store.get_connection_by_name(connection["name"])
        record = dict(connection)
        if record["id"] is None:
            record["id"] = existing["id"] if existing else generate_id("con_")
        try:
            store.put_connection(record)
        except ConflictError as exc:
            raise _fail(f"connections[{index}].name", f"{connection['name']!r} exists with another id") from exc
    connection_ids = {c["name"]: c["id"] for c in store.list_connections()}

    org_ids: dict[str, str] = {}
    for index, org in enumerate(config.organizations):
        existing = store.get_organization(org["id"]) if org["id"] else None
        existing = existing or store.get_organization_by_name(org["name"])
        if existing is None:
            existing = store.create_organization(
                org["name"], org["display_name"], org["branding"] or None, org["metadata"], id=org["id"]
            )
        elif org["id"] and existing["id"] != org["id"]:
            raise _fail(f"organizations[{index}].id", f"the name {org['name']!r} belongs to {existing['id']} already")
        org_ids[org["name"]] = existing["id"]
        for entry in org["enabled_connections"]:
            store.enable_connection(
                existing["id"], connection_ids[entry["connection"]], entry["assign_membership_on_login"]
            )

    role_ids: dict[str, str] = {}
    for index, role in enumerate(config.roles):
        existing = store.get_role(role["id"]) if role["id"] else None
        existing = existing or store.get_role_by_name(role["name"])
        if existing is None:
            existing = store.create_role(role["name"], role["description"], id=role["id"])
        elif role["id"] and existing["id"] != role["id"]:
            raise _fail(f"roles[{index}].id", f"the name {role['name']!r} belongs to {existing['id']} already")
        role_ids[role["name"]] = existing["id"]
        store.add_role_permissions(existing["id"], role["permissions"])

    user_ids: dict[str, str] = {}
    for index, user in enumerate(config.users):
        existing = store.get_user(user["user_id"]) if user["user_id"] else None
        existing = existing or store.get_user_by_email(user["email"])
        if existing is None:
            existing = store.create_user(
                user["email"],
                user["password"],
                name=user["name"],
                user_metadata=user["user_metadata"],
                app_metadata=user["app_metadata"],
                user_id=user["user_id"],
                connection=user["connection"],
                email_verified=user["email_verified"],
            )
        elif user["user_id"] and existing["user_id"] != user["user_id"]:
            raise _fail(f"users[{index}].user_id", f"{user['email']!r} belongs to {existing['user_id']} already")
        user_ids[user["email"]] = existing["user_id"]
        if user["user_id"] is None:
            user["user_id"] = existing["user_id"]

    for member in config.members:
        org_id, user_id = org_ids[member["organization"]], user_ids[member["user"]]
        store.add_members(org_id, [user_id])
        store.add_member_roles(org_id, user_id, [role_ids[name] for name in member["roles"]])


def _demo_permission(name: str) -> dict[str, str]:
    return {"resource_server_identifier": DEMO_API_IDENTIFIER, "permission_name": name}


def demo_config() -> dict[str, Any]:
    """The seeded demo tenant, in the TOML form (so it goes through the same validation as a file)."""
    return {
        "tenant": {
            "friendly_name": DEMO_FRIENDLY_NAME,
            "support_email": "support@orginvite.test",
            "default_locale": "en",
            "allow_organization_name_in_authentication_api": True,
            "id_token_roles_claim": DEMO_ROLES_CLAIM,
            "management_api_rate_limit": 0,
        },
        "clients": [
            {
                "client_id": DEMO_WEB_CLIENT_ID,
                "client_secret": DEMO_WEB_CLIENT_SECRET,
                "name": "Demo web app",
                "app_type": "regular_web",
                "callbacks": list(DEMO_WEB_CALLBACKS),
                "allowed_logout_urls": list(DEMO_WEB_LOGOUT_URLS),
                "oidc_logout": {"backchannel_logout_urls": ["http://127.0.0.1:8000/backchannel-logout"]},
                "initiate_login_uri": DEMO_WEB_LOGIN_URI,
                "organization_usage": "allow",
                "organization_require_behavior": "no_prompt",
                "grant_types": ["authorization_code", "implicit", "refresh_token"],
                "refresh_token": {"rotation_type": "rotating", "leeway": 2},
            },
            {
                "client_id": DEMO_M2M_CLIENT_ID,
                "client_secret": DEMO_M2M_CLIENT_SECRET,
                "name": "Demo backend (Management API)",
                "app_type": "non_interactive",
                "grant_types": ["client_credentials"],
                "scopes": list(MANAGEMENT_API_SCOPES),
            },
        ],
        "connections": [{"id": DEMO_CONNECTION_ID, "name": DEMO_CONNECTION_NAME, "strategy": "auth0"}],
        "organizations": [
            {
                "id": DEMO_ACME_ORG_ID,
                "name": DEMO_ACME_ORG_NAME,
                "display_name": "Acme Inc.",
                "branding": {"colors": {"primary": "#0059d6", "page_background": "#f4f4f5"}},
                "enabled_connections": [{"connection": DEMO_CONNECTION_NAME, "assign_membership_on_login": False}],
            },
            {
                "id": DEMO_GLOBEX_ORG_ID,
                "name": DEMO_GLOBEX_ORG_NAME,
                "display_name": "Globex Corporation",
                "enabled_connections": [{"connection": DEMO_CONNECTION_NAME, "assign_membership_on_login": False}],
            },
        ],
        "apis": [
            {
                "identifier": DEMO_API_IDENTIFIER,
                "name": "Acme API",
                "scopes": [
                    {"value": "invoices:read", "description": "Read invoices"},
                    {"value": "invoices:write", "description": "Create and change invoices"},
                ],
                "token_lifetime": 300,
                "allow_offline_access": True,
                "enforce_policies": True,
                "token_dialect": "access_token_authz",
            }
        ],
        "roles": [
            {
                "id": DEMO_ADMIN_ROLE_ID,
                "name": "admin",
                "description": "Manages the workspace and its members",
                "permissions": [_demo_permission(scope) for scope in DEMO_API_SCOPES],
            },
            {
                "id": DEMO_MEMBER_ROLE_ID,
                "name": "member",
                "description": "Uses the workspace",
                "permissions": [_demo_permission("invoices:read")],
            },
            {"id": DEMO_BILLING_ROLE_ID, "name": "billing", "description": "Manages invoices and payment"},
        ],
        "users": [
            {
                "user_id": DEMO_ADMIN_USER_ID,
                "email": DEMO_ADMIN_EMAIL,
                "password": DEMO_ADMIN_PASSWORD,
                "name": "Ada Admin",
                "email_verified": True,
            },
            {
                "user_id": DEMO_MEMBER_USER_ID,
                "email": DEMO_MEMBER_EMAIL,
                "password": DEMO_MEMBER_PASSWORD,
                "name": "Max Member",
                "email_verified": True,
            },
            {
                "user_id": DEMO_CONSULTANT_USER_ID,
                "email": DEMO_CONSULTANT_EMAIL,
                "password": DEMO_CONSULTANT_PASSWORD,
                "name": "Casey Consultant",
                "email_verified": True,
            },
        ],
        "members": [
            {"organization": DEMO_ACME_ORG_NAME, "user": DEMO_ADMIN_EMAIL, "roles": ["admin"]},
            {"organization": DEMO_GLOBEX_ORG_NAME, "user": DEMO_MEMBER_EMAIL, "roles": ["member"]},
            {"organization": DEMO_ACME_ORG_NAME, "user": DEMO_CONSULTANT_EMAIL, "roles": ["member"]},
            {"organization": DEMO_GLOBEX_ORG_NAME, "user": DEMO_CONSULTANT_EMAIL, "roles": ["admin"]},
        ],
    }


def example_config_text() -> str:
    """The commented example shipped with the package (``orginvite tenant example-config`` prints it)."""
    return resources.files("orginvite.devtenant").joinpath("example_tenant.toml").read_text(encoding="utf-8")
