"""The Management API over real loopback HTTP: every endpoint, every documented status code, Auth0's bodies.

Tokens come from the tenant's own /oauth/token (client credentials of the demo machine-to-machine app); tokens
that /oauth/token would never issue (expired, wrong audience, foreign key, no scope) are minted with the
tenant's KeyRing. Every response is checked for the X-RateLimit-* headers by an httpx2 event hook.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from devtenant_support import TenantCopies
from loopback_support import SharedServer
from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.config import (
    DEMO_ACME_ORG_ID,
    DEMO_ADMIN_ROLE_ID,
    DEMO_ADMIN_USER_ID,
    DEMO_BILLING_ROLE_ID,
    DEMO_CONNECTION_ID,
    DEMO_CONSULTANT_USER_ID,
    DEMO_GLOBEX_ORG_ID,
    DEMO_M2M_CLIENT_ID,
    DEMO_M2M_CLIENT_SECRET,
    DEMO_MEMBER_ROLE_ID,
    DEMO_MEMBER_USER_ID,
    DEMO_WEB_CLIENT_ID,
    DEMO_WEB_LOGIN_URI,
    MANAGEMENT_API_SCOPES,
)
from orginvite.devtenant.keys import KeyRing
from orginvite.devtenant.store import Store
from orginvite.testing import LiveServer

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> TenantCopies:
    return TenantCopies(tmp_path_factory.mktemp("tenants"))


@pytest.fixture(scope="module")
def shared() -> Iterator[SharedServer]:
    with SharedServer() as shared:
        yield shared


@pytest.fixture
def tenant(copies: TenantCopies, clock: Clock) -> Iterator[DevTenant]:
    # a fresh tenant per test (the seeded records copied, not re-seeded), served on the module's one server
    with copies.tenant(clock=clock) as tenant:
        yield tenant


@pytest.fixture
def server(tenant: DevTenant, shared: SharedServer) -> Iterator[LiveServer]:
    with shared.serving(tenant.app) as server:
        yield server


def _has_rate_headers(response: httpx2.Response) -> None:
    missing = [name for name in RATE_HEADERS if name not in response.headers]
    assert not missing, f"{response.request.method} {response.request.url} -> {response.status_code} lacks {missing}"
    assert response.headers["cache-control"] == "no-store"  # answers may carry invitation tickets


def client_for(server: LiveServer, token: str | None) -> httpx2.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.Client(
        base_url=server.url + "/api/v2", headers=headers, event_hooks={"response": [_has_rate_headers]}, timeout=30
    )


def issue_token(server: LiveServer, scope: str | None = None) -> str:
    """A real access token from the tenant's /oauth/token (client credentials)."""
    form = {
        "grant_type": "client_credentials",
        "client_id": DEMO_M2M_CLIENT_ID,
        "client_secret": DEMO_M2M_CLIENT_SECRET,
        "audience": server.url + "/api/v2/",
    }
    if scope is not None:
        form["scope"] = scope
    response = httpx2.post(server.url + "/oauth/token", data=form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def mint(tenant: DevTenant, server: LiveServer, *, keys: KeyRing | None = None, **overrides: Any) -> str:
    """A token /oauth/token would not issue: expired, wrong audience, foreign key, ..."""
    now = tenant.now()
    claims: dict[str, Any] = {
        "iss": server.url + "/",
        "sub": f"{DEMO_M2M_CLIENT_ID}@clients",
        "aud": server.url + "/api/v2/",
        "iat": int(now),
        "exp": int(now) + 86400,
        "scope": " ".join(MANAGEMENT_API_SCOPES),
        "gty": "client-credentials",
        "azp": DEMO_M2M_CLIENT_ID,
    }
    claims.update(overrides)
    claims = {key: value for key, value in claims.items() if value is not None}
    return (keys or tenant.keys).sign(claims)


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx2.Client]:
    with client_for(server, issue_token(server)) as client:
        yield client


def assert_error(response: httpx2.Response, status: int, error_code: str | None, message: str | None = None) -> dict:
    """Auth0's error body; ``error_code`` None: a body without ``errorCode`` (Auth0's 401s)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"statusCode", "error", "message"} | ({"errorCode"} if error_code is not None else set())
    assert body["statusCode"] == status
    assert body.get("errorCode") == error_code
    if message is not None:
        assert body["message"] == message
    return body


def new_user(api: httpx2.Client, email: str, **extra: Any) -> dict:
    body = {
        "email": email,
        "password": "correct horse battery staple",
        "connection": "Username-Password-Authentication",
    }
    response = api.post("/users", json={**body, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def new_org(api: httpx2.Client, name: str, **extra: Any) -> dict:
    response = api.post("/organizations", json={"name": name, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def invite(api: httpx2.Client, org_id: str, email: str = "new@acme.test", **extra: Any) -> httpx2.Response:
    body = {"inviter": {"name": "Ada Admin"}, "invitee": {"email": email}, "client_id": DEMO_WEB_CLIENT_ID}
    return api.post(f"/organizations/{org_id}/invitations", json={**body, **extra})


# -- every endpoint: its scope (403), its 401, and the seeds' exact 403 wording ---------------------------------------

ENDPOINTS = [
    ("POST", "/organizations", "create:organizations", {"name": "x"}),
    ("GET", "/organizations", "read:organizations", None),
    ("GET", f"/organizations/{DEMO_ACME_ORG_ID}", "read:organizations", None),
    ("GET", "/organizations/name/acme", "read:organizations", None),
    ("DELETE", f"/organizations/{DEMO_ACME_ORG_ID}", "delete:organizations", None),
    (
        "POST",
        f"/organizations/{DEMO_ACME_ORG_ID}/enabled_connections",
        "create:organization_connections",
        {"connection_id": DEMO_CONNECTION_ID},
    ),
    ("GET", f"/organizations/{DEMO_ACME_ORG_ID}/enabled_connections", "read:organization_connections", None),
    ("POST", f"/organizations/{DEMO_ACME_ORG_ID}/members", "create:organization_members", {"members": ["x"]}),
    ("DELETE", f"/organizations/{DEMO_ACME_ORG_ID}/members", "delete:organization_members", {"members": ["x"]}),
    ("GET", f"/organizations/{DEMO_ACME_ORG_ID}/members", "read:organization_members", None),
    (
        "POST",
        f"/organizations/{DEMO_ACME_ORG_ID}/members/{DEMO_ADMIN_USER_ID}/roles",
        "create:organization_member_roles",
        {"roles": [DEMO_MEMBER_ROLE_ID]},
    ),
    (
        "DELETE",
        f"/organizations/{DEMO_ACME_ORG_ID}/members/{DEMO_ADMIN_USER_ID}/roles",
        "delete:organization_member_roles",
        {"roles": [DEMO_MEMBER_ROLE_ID]},
    ),
    (
        "GET",
        f"/organizations/{DEMO_ACME_ORG_ID}/members/{DEMO_ADMIN_USER_ID}/roles",
        "read:organization_member_roles",
        None,
    ),
    (
        "POST",
        f"/organizations/{DEMO_ACME_ORG_ID}/invitations",
        "create:organization_invitations",
        {"inviter": {"name": "a"}, "invitee": {"email": "a@b.test"}, "client_id": DEMO_WEB_CLIENT_ID},
    ),
    ("GET", f"/organizations/{DEMO_ACME_ORG_ID}/invitations", "read:organization_invitations", None),
    ("GET", f"/organizations/{DEMO_ACME_ORG_ID}/invitations/uinv_x", "read:organization_invitations", None),
    ("DELETE", f"/organizations/{DEMO_ACME_ORG_ID}/invitations/uinv_x", "delete:organization_invitations", None),
    ("POST", "/users", "create:users", {"email": "a@b.test", "connection": "x"}),
    ("GET", f"/users/{DEMO_ADMIN_USER_ID}", "read:users", None),
    ("GET", f"/users/{DEMO_ADMIN_USER_ID}/organizations", "read:organizations", None),
    ("POST", "/roles", "create:roles", {"name": "x"}),
    ("GET", "/roles", "read:roles", None),
    ("GET", f"/roles/{DEMO_ADMIN_ROLE_ID}", "read:roles", None),
    ("PATCH", f"/organizations/{DEMO_ACME_ORG_ID}", "update:organizations", {"display_name": "Acme"}),
    (
        "GET",
        f"/organizations/{DEMO_ACME_ORG_ID}/enabled_connections/{DEMO_CONNECTION_ID}",
        "read:organization_connections",
        None,
    ),
    (
        "PATCH",
        f"/organizations/{DEMO_ACME_ORG_ID}/enabled_connections/{DEMO_CONNECTION_ID}",
        "update:organization_connections",
        {"assign_membership_on_login": False},
    ),
    (
        "DELETE",
        f"/organizations/{DEMO_ACME_ORG_ID}/enabled_connections/{DEMO_CONNECTION_ID}",
        "delete:organization_connections",
        None,
    ),
    ("GET", "/users", "read:users", None),
    ("GET", "/users-by-email", "read:users", None),
    ("PATCH", f"/users/{DEMO_ADMIN_USER_ID}", "update:users", {"name": "Ann"}),
]


@pytest.mark.parametrize(("method", "path", "scope", "body"), ENDPOINTS)
def test_every_endpoint_wants_a_token_and_its_scope(
    server: LiveServer, method: str, path: str, scope: str, body: Any
) -> None:
    with client_for(server, None) as anonymous:
        assert_error(anonymous.request(method, path, json=body), 401, None, "Missing authentication")
    others = " ".join(s for s in MANAGEMENT_API_SCOPES if s != scope)
    with client_for(server, issue_token(server, scope=others)) as unscoped:
        response = unscoped.request(method, path, json=body)
        assert_error(response, 403, "insufficient_scope", f"Insufficient scope, expected any of: {scope}")
    with client_for(server, issue_token(server, scope=scope)) as scoped:
        # With exactly that scope the request gets past authorization (whatever the outcome of the operation).
        assert scoped.request(method, path, json=body).status_code not in (401, 403)


@pytest.mark.parametrize(("method", "path", "scope", "body"), ENDPOINTS)
def test_every_endpoint_checks_its_query_string_and_is_rate_limited(
    tenant: DevTenant, server: LiveServer, clock: Clock, method: str, path: str, scope: str, body: Any
) -> None:
    with client_for(server, issue_token(server)) as client:
        response = client.request(method, path, params={"bogus": "1"}, json=body)
        assert_error(
            response, 400, "invalid_query_string", "Query validation error: 'Additional properties not allowed: bogus'."
        )
        tenant.settings["management_api_rate_limit"] = 1
        clock.now += 60  # a fresh window for this client
        assert client.request(method, path, json=body).status_code != 429
        refused = client.request(method, path, json=body)
        assert_error(refused, 429, "too_many_requests", "Global limit has been reached")
        assert refused.headers["x-ratelimit-limit"] == "1" and refused.headers["x-ratelimit-remaining"] == "0"
        assert int(refused.headers["retry-after"]) == 60


# -- the bearer token --------------------------------------------------------------------------------------------------


def test_tokens_from_oauth_token_are_accepted(api: httpx2.Client) -> None:
    response = api.get("/organizations")
    assert response.status_code == 200
    assert {org["id"] for org in response.json()} == {DEMO_ACME_ORG_ID, DEMO_GLOBEX_ORG_ID}


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        ("Basic ZGVtbzpkZW1v", "Bad HTTP authentication header format"),
        ("Bearer", "Bad HTTP authentication header format"),
        ("Bearer a b", "Bad HTTP authentication header format"),
        ("Bearer not-a-jwt", "Invalid token"),
        ("Bearer a.b.c", "Invalid token"),
        ("Bearer eyJhbGciOiJSUzI1NiJ9..sig", "Invalid token"),
        ("Bearer " + "a" * 20000, "Invalid token"),
    ],
)
def test_malformed_authorization_is_401(server: LiveServer, authorization: str, message: str) -> None:
    response = httpx2.get(server.url + "/api/v2/organizations", headers={"Authorization": authorization})
    body = assert_error(response, 401, None, message)
    assert body["message"] == message
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_wrongly_signed_tokens_are_401(tenant: DevTenant, server: LiveServer) -> None:
    stranger = KeyRing(Store(":memory:"))
    with client_for(server, mint(tenant, server, keys=stranger)) as client:
        message = "Invalid signature received for JSON Web Token validation"
        assert_error(client.get("/organizations"), 401, None, message)
    header, payload, signature = mint(tenant, server).split(".")
    forged_payload = mint(tenant, server, azp="someone-else").split(".")[1]
    with client_for(server, f"{header}.{forged_payload}{payload[:0]}.{signature}") as client:
        assert_error(client.get("/organizations"), 401, None, message)
    none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
    with client_for(server, f"{none_header}.{payload}.") as client:
        assert_error(client.get("/organizations"), 401, None)


def test_expired_tokens_are_401(tenant: DevTenant, server: LiveServer, clock: Clock) -> None:
    token = issue_token(server)
    with client_for(server, token) as client:
        assert client.get("/roles").status_code == 200
        clock.now += 86400
        message = "Expired token received for JSON Web Token validation"
        assert_error(client.get("/roles"), 401, None, message)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"aud": "https://api.example.test/"}, "Bad audience"),
        ({"aud": None}, "Bad audience"),
        ({"iss": "https://elsewhere.test/"}, "Invalid token"),
        ({"exp": None}, "Invalid token"),
        ({"exp": "tomorrow"}, "Invalid token"),
        ({"scope": 42}, "Invalid token"),
        ({"sub": "auth0|someone"}, "Client is not global."),
        ({"gty": "password"}, "Client is not global."),
        ({"azp": "ghost", "sub": "ghost@clients"}, "Client is not global."),
    ],
)
def test_tokens_with_bad_claims_are_401(tenant: DevTenant, server: LiveServer, overrides: dict, message: str) -> None:
    with client_for(server, mint(tenant, server, **overrides)) as client:
        assert_error(client.get("/roles"), 401, None, message)


def test_tokens_signed_before_a_key_rotation_stay_valid(tenant: DevTenant, server: LiveServer) -> None:
    token = issue_token(server)
    tenant.keys.rotate()
    with client_for(server, token) as client:
        assert client.get("/roles").status_code == 200


def test_audience_accepts_a_list(tenant: DevTenant, server: LiveServer) -> None:
    token = mint(tenant, server, aud=["https://other.test/", server.url + "/api/v2/"])
    with client_for(server, token) as client:
        assert client.get("/roles").status_code == 200


# -- rate limit ------------------------------------------------------------------------------------------------------


def test_rate_limit_per_client_with_headers_and_429(tenant: DevTenant, server: LiveServer, clock: Clock) -> None:
    tenant.settings["management_api_rate_limit"] = 3
    with client_for(server, issue_token(server)) as client:
        remaining = [client.get("/roles").headers["x-ratelimit-remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        refused = client.get("/roles")
        assert refused.status_code == 429
        assert refused.json() == {
            "statusCode": 429,
            "error": "Too Many Requests",
            "message": "Global limit has been reached",
            "errorCode": "too_many_requests",
        }
        assert refused.headers["x-ratelimit-limit"] == "3"
        assert refused.headers["x-ratelimit-remaining"] == "0"
        reset = int(refused.headers["x-ratelimit-reset"])
        assert reset - 61 <= clock.now <= reset
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # A refused write changes nothing.
        assert client.post("/roles", json={"name": "never"}).status_code == 429
        assert tenant.store.get_role_by_name("never") is None
        # Another client has its own budget.
        with client_for(server, mint(tenant, server, azp=DEMO_WEB_CLIENT_ID, sub=f"{DEMO_WEB_CLIENT_ID}@clients")) as b:
            assert b.get("/roles").status_code == 200
        clock.now += 60
        again = client.get("/roles")
        assert again.status_code == 200
        assert again.headers["x-ratelimit-remaining"] == "2"


def test_unlimited_by_default_and_unauthenticated_callers_are_counted_too(
    tenant: DevTenant, server: LiveServer
) -> None:
    with client_for(server, issue_token(server)) as client:
        responses = [client.get("/roles") for _ in range(30)]
        assert all(response.status_code == 200 for response in responses)
        assert int(responses[-1].headers["x-ratelimit-limit"]) >= 1000
    tenant.settings["management_api_rate_limit"] = 1
    with client_for(server, None) as anonymous:
        assert anonymous.get("/roles").status_code == 401
        assert_error(anonymous.get("/roles"), 429, "too_many_requests", "Global limit has been reached")


# -- organizations ---------------------------------------------------------------------------------------------------


def test_create_and_get_organization(api: httpx2.Client) -> None:
    created = new_org(
        api,
        "initech",
        display_name="Initech",
        metadata={"lang": "fr"},
        branding={
            "logo_url": "https://initech.test/logo.png",
            "colors": {"primary": "#112233", "page_background": "#ffffff"},
        },
        enabled_connections=[{"connection_id": DEMO_CONNECTION_ID, "assign_membership_on_login": True}],
    )
    assert created["id"].startswith("org_") and len(created["id"]) == 20
    assert created["name"] == "initech"
    assert created["display_name"] == "Initech"
    assert created["metadata"] == {"lang": "fr"}
    assert created["branding"]["colors"]["primary"] == "#112233"
    assert created["enabled_connections"][0]["connection_id"] == DEMO_CONNECTION_ID
    assert created["enabled_connections"][0]["assign_membership_on_login"] is True
    by_id = api.get(f"/organizations/{created['id']}").json()
    by_name = api.get("/organizations/name/initech").json()
    assert by_id == by_name
    assert by_id["display_name"] == "Initech" and "enabled_connections" not in by_id


def test_create_organization_errors(api: httpx2.Client) -> None:
    assert_error(api.post("/organizations", json={"name": "acme"}), 409, "organization_conflict")
    assert_error(
        api.post("/organizations", json={}),
        400,
        "invalid_body",
        "Payload validation error: 'Missing required property: name'.",
    )
    assert_error(
        api.post("/organizations", json={"name": "Acme Corp"}),
        400,
        "invalid_body",
        "Payload validation error: 'String does not match pattern [a-z0-9_-]+' on property name.",
    )
    assert_error(
        api.post("/organizations", json={"name": "a" * 51}),
        400,
        "invalid_body",
        "Payload validation error: 'String is too long (51 chars), maximum 50' on property name.",
    )
    assert_error(
        api.post("/organizations", json={"name": "ok", "display_name": 7}),
        400,
        "invalid_body",
        "Payload validation error: 'Expected type string but found type integer' on property display_name.",
    )
    assert_error(
        api.post("/organizations", json={"name": "ok", "colour": "red"}),
        400,
        "invalid_body",
        "Payload validation error: 'Additional properties not allowed: colour'.",
    )
    assert_error(
        api.post("/organizations", json={"name": "ok", "enabled_connections": [{"connection_id": "con_nope"}]}),
        400,
        "invalid_body",
        "The specified connection does not exist.",
    )
    assert_error(
        api.post("/organizations", content=b'{"name": "ok",', headers={"content-type": "application/json"}),
        400,
        "invalid_body",
        "Invalid request payload JSON format",
    )
    assert_error(
        api.post("/organizations", content=b"\xff\xfe", headers={"content-type": "application/json"}),
        400,
        "invalid_body",
    )
    assert_error(api.post("/organizations", content=b"[1]*5000" * 0 + b"[" * 100000), 400, "invalid_body")
    assert api.get("/organizations/name/ok").status_code == 404  # nothing was created by the failures


def test_get_organization_errors(api: httpx2.Client) -> None:
    assert_error(
        api.get("/organizations/org_doesnotexist0000"),
        404,
        "inexistent_organization",
        "No organization found by that id.",
    )
    assert_error(api.get("/organizations/name/nope"), 404, "inexistent_organization")
    assert_error(
        api.get("/organizations/org_" + "x" * 47),
        400,
        "invalid_uri",
        "Path validation error: 'String is too long (51 chars), maximum 50' on property id.",
    )


def test_list_organizations_paging(api: httpx2.Client) -> None:
    for index in range(5):
        new_org(api, f"org-{index}")
    every = api.get("/organizations").json()
    assert isinstance(every, list) and len(every) == 7
    totals = api.get("/organizations", params={"page": 1, "per_page": 3, "include_totals": "true"}).json()
    assert totals["start"] == 3 and totals["limit"] == 3 and totals["total"] == 7
    assert [org["name"] for org in totals["organizations"]] == [org["name"] for org in every[3:6]]
    # Checkpoint paging (what auth0-python uses by default): follow `next` until it is absent.
    seen, params = [], {"take": 3}
    while True:
        page = api.get("/organizations", params=params).json()
        assert set(page) <= {"organizations", "next"}
        seen += [org["id"] for org in page["organizations"]]
        if "next" not in page:
            break
        params = {"take": 3, "from": page["next"]}
    assert seen == [org["id"] for org in every]
    descending = api.get("/organizations", params={"sort": "name:-1"}).json()
    assert [org["name"] for org in descending] == sorted((org["name"] for org in every), reverse=True)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"page": 20, "per_page": 50}, 400, "invalid_paging"),
        ({"page": 0, "per_page": 101}, 400, "invalid_query_string"),
        ({"per_page": 0}, 400, "invalid_query_string"),
        ({"page": "two"}, 400, "invalid_query_string"),
        ({"include_totals": "1"}, 400, "invalid_query_string"),
        ({"take": 0}, 400, "invalid_query_string"),
        ({"from": "%%%"}, 400, "invalid_query_string"),
        ({"take": 5, "page": 1}, 400, "invalid_query_string"),
        ({"sort": "created_at:2"}, 400, "invalid_query_string"),
        ({"q": "x"}, 400, "invalid_query_string"),
    ],
)
def test_list_organizations_query_errors(api: httpx2.Client, params: dict, status: int, code: str) -> None:
    assert_error(api.get("/organizations", params=params), status, code)


def test_delete_organization_removes_everything(api: httpx2.Client, tenant: DevTenant) -> None:
    assert invite(api, DEMO_ACME_ORG_ID).status_code == 200
    assert api.delete(f"/organizations/{DEMO_ACME_ORG_ID}").status_code == 204
    assert_error(api.get(f"/organizations/{DEMO_ACME_ORG_ID}"), 404, "inexistent_organization")
    assert_error(api.delete(f"/organizations/{DEMO_ACME_ORG_ID}"), 404, "inexistent_organization")
    assert api.get(f"/users/{DEMO_ADMIN_USER_ID}/organizations").json() == []
    assert tenant.store.list_invitations(DEMO_ACME_ORG_ID)[1] == 0


def test_enabled_connections(api: httpx2.Client, tenant: DevTenant) -> None:
    org = new_org(api, "hooli")
    path = f"/organizations/{org['id']}/enabled_connections"
    assert api.get(path).json() == []
    created = api.post(path, json={"connection_id": DEMO_CONNECTION_ID, "assign_membership_on_login": True})
    assert created.status_code == 201
    assert created.json() == {
        "connection_id": DEMO_CONNECTION_ID,
        "assign_membership_on_login": True,
        "connection": {"name": "Username-Password-Authentication", "strategy": "auth0"},
    }
    listed = api.get(path, params={"include_totals": "true"}).json()
    assert listed == {"start": 0, "limit": 50, "total": 1, "enabled_connections": [created.json()]}
    assert_error(api.post(path, json={"connection_id": DEMO_CONNECTION_ID}), 409, "connection_conflict")
    assert_error(
        api.post(path, json={"connection_id": "con_nope"}),
        400,
        "invalid_body",
        "The specified connection does not exist.",
    )
    assert_error(
        api.post(path, json={}),
        400,
        "invalid_body",
        "Payload validation error: 'Missing required property: connection_id'.",
    )
    assert_error(
        api.post("/organizations/org_nope/enabled_connections", json={"connection_id": DEMO_CONNECTION_ID}),
        404,
        "inexistent_organization",
    )
    assert_error(api.get("/organizations/org_nope/enabled_connections"), 404, "inexistent_organization")


# -- members ---------------------------------------------------------------------------------------------------------


def test_add_list_and_remove_members(api: httpx2.Client) -> None:
    users = [new_user(api, f"user{index}@initech.test", name=f"User {index}") for index in range(4)]
    org = new_org(api, "initech")
    path = f"/organizations/{org['id']}/members"
    response = api.post(path, json={"members": [user["user_id"] for user in users]})
    assert response.status_code == 204 and response.content == b""
    listed = api.get(path).json()
    assert sorted(member["user_id"] for member in listed) == sorted(user["user_id"] for user in users)
    assert set(listed[0]) == {"user_id", "email", "picture", "name"}
    assert api.post(path, json={"members": [users[0]["user_id"]]}).status_code == 204  # idempotent
    assert api.request("DELETE", path, json={"members": [users[0]["user_id"]]}).status_code == 204
    remaining = {member["user_id"] for member in api.get(path).json()}
    assert users[0]["user_id"] not in remaining and len(remaining) == 3
    organizations = api.get(f"/users/{users[1]['user_id']}/organizations").json()
    assert [item["id"] for item in organizations] == [org["id"]]
    assert api.get(f"/users/{users[0]['user_id']}/organizations").json() == []


def test_add_members_errors(api: httpx2.Client) -> None:
    path = f"/organizations/{DEMO_ACME_ORG_ID}/members"
    assert_error(
        api.post(path, json={"members": [f"auth0|{index}" for index in range(11)]}),
        400,
        "invalid_body",
        "Payload validation error: 'Array is too long (11), maximum 10' on property members.",
    )
    assert_error(
        api.post(path, json={"members": []}),
        400,
        "invalid_body",
        "Payload validation error: 'Array is too short (0), minimum 1' on property members.",
    )
    assert_error(
        api.post(path, json={}), 400, "invalid_body", "Payload validation error: 'Missing required property: members'."
    )
    assert_error(
        api.post(path, json={"members": "auth0|x"}),
        400,
        "invalid_body",
        "Payload validation error: 'Expected type array but found type string' on property members.",
    )
    assert_error(
        api.post(path, json={"members": [DEMO_MEMBER_USER_ID, "auth0|ghost"]}),
        400,
        "invalid_body",
        "One or more of the specified users do not exist: auth0|ghost",
    )
    # the valid one was not added either: acme still has its two seeded members
    assert {m["user_id"] for m in api.get(path).json()} == {DEMO_ADMIN_USER_ID, DEMO_CONSULTANT_USER_ID}
    assert_error(
        api.post("/organizations/org_nope/members", json={"members": [DEMO_MEMBER_USER_ID]}),
        404,
        "inexistent_organization",
    )
    assert_error(
        api.request("DELETE", "/organizations/org_nope/members", json={"members": ["x"]}),
        404,
        "inexistent_organization",
    )
    assert_error(api.request("DELETE", path, json={"members": []}), 400, "invalid_body")
    assert_error(api.get("/organizations/org_nope/members"), 404, "inexistent_organization")
    assert_error(
        api.post(path, params={"debug": "1"}, json={"members": [DEMO_MEMBER_USER_ID]}), 400, "invalid_query_string"
    )


def test_list_members_paging_checkpoints_and_fields(api: httpx2.Client) -> None:
    org = new_org(api, "umbrella")
    path = f"/organizations/{org['id']}/members"
    users = [new_user(api, f"m{index}@umbrella.test") for index in range(7)]
    for start in range(0, 7, 5):
        api.post(path, json={"members": [user["user_id"] for user in users[start : start + 5]]})
    ordered = sorted(user["user_id"] for user in users)
    totals = api.get(path, params={"page": 1, "per_page": 3, "include_totals": "true"}).json()
    assert (totals["start"], totals["limit"], totals["total"]) == (3, 3, 7)
    assert [member["user_id"] for member in totals["members"]] == ordered[3:6]
    seen, params = [], {"take": 3}
    while True:
        page = api.get(path, params=params).json()
        seen += [member["user_id"] for member in page["members"]]
        if "next" not in page:
            break
        params = {"take": 3, "from": page["next"]}
    assert seen == ordered
    assert_error(api.get(path, params={"from": "not base64!", "take": 2}), 400, "invalid_query_string")
    assert_error(
        api.get(path, params={"page": 10, "per_page": 100}),
        400,
        "invalid_paging",
        "Requesting page exceeds the allowed maximum of 1000 records.",
    )
    only = api.get(path, params={"fields": "user_id,email", "include_fields": "true"}).json()
    assert all(set(member) == {"user_id", "email"} for member in only)
    without = api.get(path, params={"fields": "picture", "include_fields": "false"}).json()
    assert all(set(member) == {"user_id", "email", "name"} for member in without)
    assert_error(api.get(path, params={"fields": "password"}), 400, "invalid_query_string")


def test_member_list_with_roles_needs_the_member_roles_scope(api: httpx2.Client, server: LiveServer) -> None:
    path = f"/organizations/{DEMO_ACME_ORG_ID}/members"
    listed = api.get(path, params={"fields": "user_id,roles"}).json()
    assert listed == [{"user_id": DEMO_ADMIN_USER_ID, "roles": [{"id": DEMO_ADMIN_ROLE_ID, "name": "admin"}]},
                      {"user_id": DEMO_CONSULTANT_USER_ID, "roles": [{"id": DEMO_MEMBER_ROLE_ID, "name": "member"}]}]
    with client_for(server, issue_token(server, scope="read:organization_members")) as narrow:
        assert narrow.get(path).status_code == 200
        assert_error(
            narrow.get(path, params={"fields": "user_id,roles"}),
            403,
            "insufficient_scope",
            "Insufficient scope, expected any of: read:organization_member_roles",
        )


# -- member roles ----------------------------------------------------------------------------------------------------


def test_member_roles_add_list_remove(api: httpx2.Client) -> None:
    path = f"/organizations/{DEMO_ACME_ORG_ID}/members/{DEMO_ADMIN_USER_ID}/roles"
    assert api.post(path, json={"roles": [DEMO_MEMBER_ROLE_ID, DEMO_BILLING_ROLE_ID]}).status_code == 204
    listed = api.get(path, params={"include_totals": "true"}).json()
    assert listed["total"] == 3 and listed["start"] == 0 and listed["limit"] == 50
    assert {role["name"] for role in listed["roles"]} == {"admin", "member", "billing"}
    assert set(listed["roles"][0]) >= {"id", "name", "description"}
    assert [role["name"] for role in api.get(path, params={"page": 1, "per_page": 2}).json()] == ["member"]
    assert api.request("DELETE", path, json={"roles": [DEMO_BILLING_ROLE_ID]}).status_code == 204
    assert {role["id"] for role in api.get(path).json()} == {DEMO_ADMIN_ROLE_ID, DEMO_MEMBER_ROLE_ID}


def test_member_roles_errors(api: httpx2.Client) -> None:
    path = f"/organizations/{DEMO_ACME_ORG_ID}/members/{DEMO_ADMIN_USER_ID}/roles"
    assert_error(
        api.post(path, json={"roles": [DEMO_MEMBER_ROLE_ID, "rol_nope1", "rol_nope2"]}),
        400,
        "invalid_body",
        "One or more of the specified roles do not exist: rol_nope1, rol_nope2",
    )
    assert_error(api.post(path, json={"roles": []}), 400, "invalid_body")
    assert_error(api.post(path, json={"role": [DEMO_MEMBER_ROLE_ID]}), 400, "invalid_body")
    assert_error(
        api.post(
            f"/organizations/{DEMO_ACME_ORG_ID}/members/{DEMO_MEMBER_USER_ID}/roles",
            json={"roles": [DEMO_MEMBER_ROLE_ID]},
        ),
        404,
        "inexistent_member",
        "The user is not a member of the organization.",
    )
    assert_error(
        api.get(f"/organizations/{DEMO_ACME_ORG_ID}/members/auth0%7Cghost/roles"),
        404,
        "inexistent_user",
        "The user does not exist.",
    )
    assert_error(api.get(f"/organizations/org_nope/members/{DEMO_ADMIN_USER_ID}/roles"), 404, "inexistent_organization")
    assert_error(api.get(path, params={"per_page": "x"}), 400, "invalid_query_string")
    assert_error(api.get(path, params={"page": 1000, "per_page": 1}), 400, "invalid_paging")


def test_a_member_has_at_most_100_roles(api: httpx2.Client, tenant: DevTenant) -> None:
    role_ids = [tenant.store.create_role(f"role-{index:03d}")["id"] for index in range(101)]
    path = f"/organizations/{DEMO_GLOBEX_ORG_ID}/members/{DEMO_MEMBER_USER_ID}/roles"
    assert_error(
        api.post(path, json={"roles": role_ids}),
        400,
        "invalid_body",
        "Payload validation error: 'Array is too long (101), maximum 100' on property roles.",
    )
    # The member already has "member": 99 more make 100, one more is refused.
    assert api.post(path, json={"roles": role_ids[:99]}).status_code == 204
    assert api.get(path, params={"include_totals": "true"}).json()["total"] == 100
    assert_error(
        api.post(path, json={"roles": [role_ids[99]]}),
        400,
        "invalid_body",
        "A member can have at most 100 roles in an organization.",
    )
    assert api.post(path, json={"roles": role_ids[:5]}).status_code == 204  # re-adding held roles is fine


# -- invitations -----------------------------------------------------------------------------------------------------


def test_create_invitation_shape_and_url(api: httpx2.Client, tenant: DevTenant, clock: Clock) -> None:
    response = invite(
        api,
        DEMO_ACME_ORG_ID,
        "Bob@Example.test",
        connection_id=DEMO_CONNECTION_ID,
        roles=[DEMO_MEMBER_ROLE_ID],
        app_metadata={"plan": "pro"},
        user_metadata={"lang": "fr"},
        send_invitation_email=False,
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id", "organization_id", "inviter", "invitee", "invitation_url", "created_at", "expires_at",
        "client_id", "connection_id", "app_metadata", "user_metadata", "roles", "ticket_id",
    }  # fmt: skip
    assert body["id"].startswith("uinv_") and len(body["id"]) == 21
    assert body["organization_id"] == DEMO_ACME_ORG_ID
    assert body["inviter"] == {"name": "Ada Admin"}
    assert body["invitee"] == {"email": "Bob@Example.test"}
    assert body["client_id"] == DEMO_WEB_CLIENT_ID
    assert body["connection_id"] == DEMO_CONNECTION_ID
    assert body["roles"] == [DEMO_MEMBER_ROLE_ID]
    assert body["app_metadata"] == {"plan": "pro"} and body["user_metadata"] == {"lang": "fr"}
    ticket = body["ticket_id"]
    assert len(ticket) >= 24 and all(char.isalnum() or char in "-_" for char in ticket)
    url = urlsplit(body["invitation_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == DEMO_WEB_LOGIN_URI
    assert parse_qs(url.query) == {
        "invitation": [ticket],
        "organization": [DEMO_ACME_ORG_ID],
        "organization_name": ["acme"],
    }
    assert list(parse_qs(url.query)) == ["invitation", "organization", "organization_name"]
    assert body["created_at"].endswith("Z") and body["expires_at"].endswith("Z")
    stored = tenant.store.get_invitation(DEMO_ACME_ORG_ID, body["id"])
    assert stored["send_invitation_email"] is False
    assert tenant.store.get_invitation_by_ticket(ticket)["id"] == body["id"]
    fetched = api.get(f"/organizations/{DEMO_ACME_ORG_ID}/invitations/{body['id']}").json()
    assert fetched == body


def _lifetime(body: dict) -> float:
    from datetime import datetime

    def parse(value: str) -> float:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()

    return parse(body["expires_at"]) - parse(body["created_at"])


def test_invitation_ttl_rules(api: httpx2.Client) -> None:
    default = invite(api, DEMO_ACME_ORG_ID, "a@x.test").json()
    assert _lifetime(default) == pytest.approx(604800, abs=0.002)
    zero = invite(api, DEMO_ACME_ORG_ID, "b@x.test", ttl_sec=0).json()
    assert _lifetime(zero) == pytest.approx(604800, abs=0.002)
    short = invite(api, DEMO_ACME_ORG_ID, "c@x.test", ttl_sec=60).json()
    assert _lifetime(short) == pytest.approx(60, abs=0.002)
    longest = invite(api, DEMO_ACME_ORG_ID, "d@x.test", ttl_sec=2592000).json()
    assert _lifetime(longest) == pytest.approx(2592000, abs=0.002)
    minimal = invite(api, DEMO_ACME_ORG_ID, "e@x.test").json()
    for absent in ("connection_id", "roles", "app_metadata", "user_metadata", "send_invitation_email"):
        assert absent not in minimal
    assert_error(
        invite(api, DEMO_ACME_ORG_ID, ttl_sec=2592001),
        400,
        "invalid_body",
        "Payload validation error: 'Value 2592001 is greater than maximum 2592000' on property ttl_sec.",
    )
    assert_error(
        invite(api, DEMO_ACME_ORG_ID, ttl_sec=-1),
        400,
        "invalid_body",
        "Payload validation error: 'Value -1 is less than minimum 0' on property ttl_sec.",
    )
    huge = assert_error(invite(api, DEMO_ACME_ORG_ID, ttl_sec=10**30), 400, "invalid_body")
    assert (
        huge["message"]
        == "Payload validation error: 'Value out of range is greater than maximum 2592000' on property ttl_sec."
    )
    assert_error(
        invite(api, DEMO_ACME_ORG_ID, ttl_sec="604800"),
        400,
        "invalid_body",
        "Payload validation error: 'Expected type integer but found type string' on property ttl_sec.",
    )


def test_create_invitation_errors(api: httpx2.Client, tenant: DevTenant) -> None:
    org = DEMO_ACME_ORG_ID
    cases = [
        (
            {"inviter": {"name": "a" * 301}},
            "Payload validation error: 'String is too long (301 chars), maximum 300' on property inviter.name.",
        ),
        ({"invitee": {}}, "Payload validation error: 'Missing required property: email' on property invitee."),
        (
            {"invitee": {"email": "nope"}},
            "Payload validation error: 'Object didn't pass validation for format email' on property invitee.email.",
        ),
        (
            {"roles": ["rol_x"] * 51},
            "Payload validation error: 'Array is too long (51), maximum 50' on property roles.",
        ),
        ({"client_id": "ghost-client"}, "The specified client_id does not exist."),
        ({"connection_id": "con_nope"}, "The specified connection does not exist."),
        (
            {"roles": [DEMO_ADMIN_ROLE_ID, "role1", "role2"]},
            "One or more of the specified roles do not exist: role1, role2",
        ),
        (
            {"send_invitation_email": "yes"},
            "Payload validation error: 'Expected type boolean but found type string' on property "
            "send_invitation_email.",
        ),
        (
            {"user_metadata": ["fr"]},
            "Payload validation error: 'Expected type object but found type array' on property user_metadata.",
        ),
        ({"ticket_id": "mine"}, "Payload validation error: 'Additional properties not allowed: ticket_id'."),
    ]
    for extra, message in cases:
        assert_error(invite(api, org, **extra), 400, "invalid_body", message)
    assert_error(
        api.post(
            f"/organizations/{org}/invitations", json={"inviter": {"name": "a"}, "invitee": {"email": "a@b.test"}}
        ),
        400,
        "invalid_body",
        "Payload validation error: 'Missing required property: client_id'.",
    )
    tenant.store.put_connection({"id": "con_Passwordless001", "name": "email", "strategy": "email"})
    tenant.store.enable_connection(org, "con_Passwordless001")
    assert_error(
        invite(api, org, connection_id="con_Passwordless001"),
        400,
        "invalid_body",
        "Passwordless connections are not supported.",
    )
    tenant.store.put_connection({"id": "con_NotEnabled00001", "name": "other-db", "strategy": "auth0"})
    assert_error(
        invite(api, org, connection_id="con_NotEnabled00001"),
        400,
        "invalid_body",
        "The specified connection is not enabled for the organization.",
    )
    tenant.store.put_client(
        {"client_id": "no-login-uri", "client_secret": "s", "name": "No login URI", "app_type": "regular_web"}
    )
    message = invite(api, org, client_id="no-login-uri").json()["message"]
    assert message.startswith("A default login route is required to generate the invitation url.")
    assert_error(invite(api, "org_nope"), 404, "inexistent_organization", "No organization found by that id.")
    assert tenant.store.list_invitations(org)[1] == 0  # no failure left an invitation behind


def test_new_invitation_for_the_same_email_revokes_older_ones(api: httpx2.Client) -> None:
    first = invite(api, DEMO_ACME_ORG_ID, "carol@x.test").json()
    other_org = invite(api, DEMO_GLOBEX_ORG_ID, "carol@x.test").json()
    second = invite(api, DEMO_ACME_ORG_ID, "CAROL@x.test").json()
    assert first["ticket_id"] != second["ticket_id"]
    assert_error(api.get(f"/organizations/{DEMO_ACME_ORG_ID}/invitations/{first['id']}"), 404, "inexistent_invitation")
    assert api.get(f"/organizations/{DEMO_ACME_ORG_ID}/invitations/{second['id']}").status_code == 200
    assert api.get(f"/organizations/{DEMO_GLOBEX_ORG_ID}/invitations/{other_org['id']}").status_code == 200


def test_list_invitations(api: httpx2.Client) -> None:
    path = f"/organizations/{DEMO_ACME_ORG_ID}/invitations"
    created = [invite(api, DEMO_ACME_ORG_ID, f"i{index}@x.test").json() for index in range(5)]
    newest_first = [item["id"] for item in reversed(created)]
    assert [item["id"] for item in api.get(path).json()] == newest_first
    assert [item["id"] for item in api.get(path, params={"sort": "created_at:1"}).json()] == newest_first[::-1]
    envelope = api.get(path, params={"page": 1, "per_page": 2, "include_totals": "true"}).json()
    assert envelope == {"start": 2, "limit": 2, "invitations": api.get(path).json()[2:4]}  # Auth0 gives no total here
    only = api.get(path, params={"fields": "id,invitee", "include_fields": "true"}).json()
    assert only[0] == {"id": newest_first[0], "invitee": {"email": "i4@x.test"}}
    without = api.get(path, params={"fields": "ticket_id,invitation_url", "include_fields": "false"}).json()
    assert "ticket_id" not in without[0] and "invitation_url" not in without[0] and "inviter" in without[0]
    single = api.get(f"{path}/{created[0]['id']}", params={"fields": "id"}).json()
    assert single == {"id": created[0]["id"]}
    assert_error(api.get(path, params={"sort": "email:1"}), 400, "invalid_query_string")
    assert_error(api.get(path, params={"fields": "secret"}), 400, "invalid_query_string")
    assert_error(api.get(path, params={"page": 20, "per_page": 50}), 400, "invalid_paging")
    assert_error(api.get("/organizations/org_nope/invitations"), 404, "inexistent_organization")


def test_get_and_delete_invitation(api: httpx2.Client) -> None:
    body = invite(api, DEMO_ACME_ORG_ID).json()
    path = f"/organizations/{DEMO_ACME_ORG_ID}/invitations/{body['id']}"
    assert api.get(path).json()["ticket_id"] == body["ticket_id"]
    # An invitation is only reachable through its own organization.
    assert_error(api.get(f"/organizations/{DEMO_GLOBEX_ORG_ID}/invitations/{body['id']}"), 404, "inexistent_invitation")
    deleted = api.delete(path)
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(api.get(path), 404, "inexistent_invitation", "The invitation does not exist.")
    assert_error(api.delete(path), 404, "inexistent_invitation")
    assert_error(api.get(f"/organizations/org_nope/invitations/{body['id']}"), 404, "inexistent_organization")


def test_expired_invitations_are_gone(api: httpx2.Client, clock: Clock) -> None:
    short = invite(api, DEMO_ACME_ORG_ID, "short@x.test", ttl_sec=60).json()
    long = invite(api, DEMO_ACME_ORG_ID, "long@x.test").json()
    clock.now += 61
    path = f"/organizations/{DEMO_ACME_ORG_ID}/invitations"
    assert [item["id"] for item in api.get(path).json()] == [long["id"]]
    assert_error(api.get(f"{path}/{short['id']}"), 404, "inexistent_invitation")


# -- users and roles ---------------------------------------------------------------------------------------------------


def test_create_and_get_user(api: httpx2.Client) -> None:
    user = new_user(
        api,
        "dora@initech.test",
        name="Dora",
        user_metadata={"lang": "de"},
        app_metadata={"plan": "pro"},
        email_verified=True,
    )
    assert user["user_id"].startswith("auth0|")
    assert user["email"] == "dora@initech.test" and user["name"] == "Dora" and user["email_verified"] is True
    assert user["user_metadata"] == {"lang": "de"} and user["app_metadata"] == {"plan": "pro"}
    assert user["identities"][0]["connection"] == "Username-Password-Authentication"
    assert "password" not in user and not any("hash" in key for key in user)
    fetched = api.get(f"/users/{user['user_id']}").json()
    assert fetched == user
    assert api.get(f"/users/{user['user_id']}", params={"fields": "email,name"}).json() == {
        "email": "dora@initech.test",
        "name": "Dora",
    }
    chosen = new_user(api, "eve@initech.test", user_id="eve123")
    assert chosen["user_id"] == "auth0|eve123"


def test_create_user_errors(api: httpx2.Client) -> None:
    assert_error(
        api.post(
            "/users",
            json={"email": "admin@acme.test", "password": "pw", "connection": "Username-Password-Authentication"},
        ),
        409,
        "auth0_idp_error",
        "The user already exists.",
    )
    assert_error(
        api.post("/users", json={"email": "a@b.test", "password": "pw"}),
        400,
        "invalid_body",
        "Payload validation error: 'Missing required property: connection'.",
    )
    assert_error(
        api.post("/users", json={"email": "a@b.test", "password": "pw", "connection": "nope"}),
        400,
        "invalid_body",
        "The connection does not exist.",
    )
    assert_error(
        api.post("/users", json={"password": "pw", "connection": "Username-Password-Authentication"}),
        400,
        "invalid_body",
        "Payload validation error: 'Missing required property: email'.",
    )
    assert_error(
        api.post("/users", json={"email": "a@b.test", "connection": "Username-Password-Authentication"}),
        400,
        "invalid_body",
        "Payload validation error: 'Missing required property: password'.",
    )
    assert_error(
        api.post(
            "/users",
            json={
                "email": "a@b.test",
                "password": "pw",
                "connection": "Username-Password-Authentication",
                "email_verified": "yes",
            },
        ),
        400,
        "invalid_body",
    )
    assert_error(api.get("/users/auth0%7Cghost"), 404, "inexistent_user", "The user does not exist.")


def test_user_organizations(api: httpx2.Client) -> None:
    api.post(f"/organizations/{DEMO_GLOBEX_ORG_ID}/members", json={"members": [DEMO_ADMIN_USER_ID]})
    listed = api.get(f"/users/{DEMO_ADMIN_USER_ID}/organizations", params={"include_totals": "true"}).json()
    assert listed["total"] == 2 and listed["start"] == 0 and listed["limit"] == 50
    assert [org["name"] for org in listed["organizations"]] == ["acme", "globex"]
    paged = api.get(f"/users/{DEMO_ADMIN_USER_ID}/organizations", params={"page": 1, "per_page": 1}).json()
    assert [org["name"] for org in paged] == ["globex"]
    assert_error(api.get("/users/auth0%7Cghost/organizations"), 404, "inexistent_user", "User not found")
    assert_error(api.get("/users/" + "u" * 301 + "/organizations"), 400, "invalid_uri")
    assert_error(
        api.get(f"/users/{DEMO_ADMIN_USER_ID}/organizations", params={"page": "x"}), 400, "invalid_query_string"
    )
    assert_error(
        api.get(f"/users/{DEMO_ADMIN_USER_ID}/organizations", params={"page": 11, "per_page": 100}),
        400,
        "invalid_paging",
    )


def test_roles(api: httpx2.Client) -> None:
    created = api.post("/roles", json={"name": "auditor", "description": "Reads the books"})
    assert created.status_code == 200
    role = created.json()
    assert role["id"].startswith("rol_") and role["name"] == "auditor" and role["description"] == "Reads the books"
    assert api.get(f"/roles/{role['id']}").json() == role
    listed = api.get("/roles", params={"include_totals": "true"}).json()
    assert listed["total"] == 4 and {item["name"] for item in listed["roles"]} == {
        "admin",
        "member",
        "billing",
        "auditor",
    }
    filtered = api.get("/roles", params={"name_filter": "AUD", "include_totals": "true"}).json()
    assert filtered["total"] == 1 and filtered["roles"] == [role]
    assert_error(api.post("/roles", json={"name": "auditor"}), 409, "role_conflict")
    assert_error(
        api.post("/roles", json={"description": "x"}),
        400,
        "invalid_body",
        "Payload validation error: 'Missing required property: name'.",
    )
    assert_error(api.get("/roles/rol_nope"), 404, "inexistent_role", "The role does not exist.")
    assert_error(api.get("/roles", params={"per_page": 1000}), 400, "invalid_query_string")


# -- anything else is a JSON answer, never a 500 ---------------------------------------------------------------------


def test_unknown_paths_and_methods_are_json_404s(api: httpx2.Client) -> None:
    assert_error(api.get("/tenant/settings"), 404, "not_found", "Not Found")
    assert_error(api.put("/organizations", json={}), 404, "not_found")
    assert_error(api.get(f"/roles/{DEMO_ADMIN_ROLE_ID}/users/extra"), 404, "not_found")
    assert_error(api.patch(f"/organizations/{DEMO_ACME_ORG_ID}/invitations/uinv_x", json={}), 404, "not_found")
    assert_error(api.get("/organizations/"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("GET", "/tenants/settings", "GET /api/v2/tenants/settings"),  # a path the tenant has nothing under
        ("PATCH", f"/roles/{DEMO_ADMIN_ROLE_ID}", "PATCH /api/v2/roles/{id}"),  # a path it has, another method
        ("POST", f"/organizations/{DEMO_ACME_ORG_ID}/client-grants", "POST /api/v2/organizations/{id}/client-grants"),
        (
            "DELETE",
            "/users/auth0|x/identities/google-oauth2/123",
            "DELETE /api/v2/users/{id}/identities/{provider}/{user_id}",
        ),
    ],
)
def test_auth0_routes_the_tenant_lacks_are_501s_naming_the_route(
    api: httpx2.Client, method: str, path: str, route: str
) -> None:
    """Not a 404 ("no such resource"): the route exists on Auth0, the dev tenant just does not implement it."""
    message = f"not implemented by the orginvite dev tenant: {route}"
    assert_error(api.request(method, path), 501, "not_implemented", message)


def test_oversized_bodies_are_refused(api: httpx2.Client) -> None:
    big = b'{"name": "' + b"a" * 1_100_000 + b'"}'
    response = api.post("/organizations", content=big, headers={"content-type": "application/json"})
    assert_error(response, 413, "payload_too_large")


JUNK_BODIES: list[Any] = [
    None, 0, -1, 1e308, "x", "", [], [None], {}, {"": ""}, {"members": None}, {"members": [None]},
    {"members": [["a"]]}, {"roles": [{}]}, {"inviter": "x", "invitee": "y", "client_id": 1},
    {"inviter": {"name": None}, "invitee": {"email": ["a"]}, "client_id": "x"}, {"name": "\u0000"},
    {"name": "é" * 10}, {"connection_id": 5}, {"email": "a@b.c", "connection": ["x"]}, {"a": {"b": {"c": [1] * 50}}},
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "scope", "body"), [e for e in ENDPOINTS if e[0] in ("POST", "DELETE")])
def test_junk_bodies_never_cause_a_500(api: httpx2.Client, method: str, path: str, scope: str, body: Any) -> None:
    for junk in JUNK_BODIES:
        response = api.request(method, path, json=junk)
        assert response.status_code < 500, (junk, response.text)
        if response.status_code >= 400:
            assert set(response.json()) == {"statusCode", "error", "message", "errorCode"}
    for raw in (b"\x00\xff", b"{", b"nul", b'{"a":1}{"b":2}', b"[" * 5000 + b"]" * 5000):
        response = api.request(method, path, content=raw, headers={"content-type": "application/json"})
        assert response.status_code < 500, (raw[:20], response.text)


@pytest.mark.parametrize(
    "query", ["%", "page=%ZZ", "page=%C0%AF", "a=1&" * 80, "page=1e3", "include_totals=TRUE", "fields="]
)
def test_junk_query_strings_never_cause_a_500(api: httpx2.Client, query: str) -> None:
    for path in (
        "/organizations",
        f"/organizations/{DEMO_ACME_ORG_ID}/members",
        f"/organizations/{DEMO_ACME_ORG_ID}/invitations",
    ):
        response = api.get(f"{path}?{query}")
        assert response.status_code < 500, (path, query, response.text)


@pytest.mark.parametrize("segment", ["%00", "%FF", "..%2F..", "a" * 400, "%20", "org_%09abc", "%E2%80%AE"])
def test_junk_path_segments_never_cause_a_500(api: httpx2.Client, segment: str) -> None:
    for path in (
        f"/organizations/{segment}",
        f"/organizations/{segment}/members",
        f"/users/{segment}",
        f"/roles/{segment}",
    ):
        response = api.get(path)
        assert 400 <= response.status_code < 500, (path, response.text)


def test_concurrent_invitations_for_one_email_leave_exactly_one(api: httpx2.Client, server: LiveServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    token = api.headers["Authorization"].split()[1]

    def create(_: int) -> int:
        with client_for(server, token) as client:
            return invite(client, DEMO_ACME_ORG_ID, "race@x.test").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(create, range(16)))
    assert statuses == [200] * 16
    listed = api.get(f"/organizations/{DEMO_ACME_ORG_ID}/invitations").json()
    assert [item["invitee"]["email"] for item in listed] == ["race@x.test"]
