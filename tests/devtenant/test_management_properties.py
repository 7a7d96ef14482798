"""Property tests over loopback HTTP: no body, query string or path the Management API can be sent gives a 5xx.

Whatever arrives, the answer is a 2xx or an Auth0-shaped 4xx with the rate-limit headers. (A newline in a path
is left out: Starlette's Mount pattern does not match it, so such a request never reaches /api/v2.)
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtenant_support import m2m_token
from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.config import (
    DEMO_ACME_ORG_ID,
    DEMO_ADMIN_USER_ID,
    DEMO_M2M_CLIENT_ID,
    DEMO_M2M_CLIENT_SECRET,
)

BODY_ENDPOINTS = [
    ("POST", "/organizations"),
    ("POST", f"/organizations/{DEMO_ACME_ORG_ID}/enabled_connections"),
    ("POST", f"/organizations/{DEMO_ACME_ORG_ID}/members"),
    ("DELETE", f"/organizations/{DEMO_ACME_ORG_ID}/members"),
    ("POST", f"/organizations/{DEMO_ACME_ORG_ID}/members/{DEMO_ADMIN_USER_ID}/roles"),
    ("DELETE", f"/organizations/{DEMO_ACME_ORG_ID}/members/{DEMO_ADMIN_USER_ID}/roles"),
    ("POST", f"/organizations/{DEMO_ACME_ORG_ID}/invitations"),
    ("POST", "/users"),
    ("POST", "/roles"),
]
LIST_ENDPOINTS = [
    "/organizations",
    f"/organizations/{DEMO_ACME_ORG_ID}/members",
    f"/organizations/{DEMO_ACME_ORG_ID}/invitations",
    f"/organizations/{DEMO_ACME_ORG_ID}/enabled_connections",
    f"/organizations/{DEMO_ACME_ORG_ID}/members/{DEMO_ADMIN_USER_ID}/roles",
    f"/users/{DEMO_ADMIN_USER_ID}/organizations",
    "/roles",
]
KEYS = [
    "name", "display_name", "members", "roles", "inviter", "invitee", "email", "client_id", "connection_id",
    "ttl_sec", "send_invitation_email", "user_metadata", "app_metadata", "connection", "password",
    "assign_membership_on_login", "metadata", "branding", "enabled_connections", "description",
]  # fmt: skip
QUERY_KEYS = ["page", "per_page", "include_totals", "from", "take", "fields", "include_fields", "sort", "x"]

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=12)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)
# Bodies that look like the real ones, so validation goes deep rather than failing at the first key.
near_valid = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(alphabet=string.ascii_lowercase + "-_A ", max_size=55),
        "inviter": st.fixed_dictionaries({}, optional={"name": scalars}),
        "invitee": st.fixed_dictionaries({}, optional={"email": st.emails() | st.text(max_size=10)}),
        "client_id": st.sampled_from(["demo-web-app", "demo-m2m", "ghost"]) | scalars,
        "members": st.lists(st.sampled_from([DEMO_ADMIN_USER_ID, "auth0|ghost"]) | scalars, max_size=12),
        "roles": st.lists(st.sampled_from(["rol_DemoMemberRole01", "rol_x"]) | scalars, max_size=3),
        "ttl_sec": st.integers(min_value=-5, max_value=3_000_000) | scalars,
        "connection_id": st.sampled_from(["con_DemoConnection01", "con_x"]) | scalars,
        "connection": st.sampled_from(["Username-Password-Authentication", "x"]),
        "email": st.emails(),
        "password": st.text(max_size=10),
    },
)


@pytest.fixture(scope="module")
def api() -> Iterator[httpx2.Client]:
    with DevTenant() as tenant, tenant.serve() as server:
        token = m2m_token(server.url, DEMO_M2M_CLIENT_ID, DEMO_M2M_CLIENT_SECRET)
        with httpx2.Client(
            base_url=server.url + "/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            yield client


def assert_well_formed(response: httpx2.Response) -> None:
    assert response.status_code < 500, response.text
    assert "x-ratelimit-remaining" in response.headers
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"statusCode", "error", "message", "errorCode"}
        assert body["statusCode"] == response.status_code


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(endpoint=st.sampled_from(BODY_ENDPOINTS), body=json_values | near_valid)
def test_any_json_body_gets_a_2xx_or_an_auth0_4xx(api: httpx2.Client, endpoint: tuple[str, str], body: Any) -> None:
    method, path = endpoint
    assert_well_formed(api.request(method, path, json=body))


@SETTINGS
@given(endpoint=st.sampled_from(BODY_ENDPOINTS), raw=st.binary(max_size=200))
def test_any_bytes_as_a_body_get_a_2xx_or_an_auth0_4xx(
    api: httpx2.Client, endpoint: tuple[str, str], raw: bytes
) -> None:
    method, path = endpoint
    assert_well_formed(api.request(method, path, content=raw, headers={"content-type": "application/json"}))


@SETTINGS
@given(
    path=st.sampled_from(LIST_ENDPOINTS),
    pairs=st.lists(st.tuples(st.sampled_from(QUERY_KEYS), st.text(max_size=12)), max_size=5),
)
def test_any_query_string_gets_a_2xx_or_an_auth0_4xx(
    api: httpx2.Client, path: str, pairs: list[tuple[str, str]]
) -> None:
    query = "&".join(f"{quote(key)}={quote(value)}" for key, value in pairs)
    assert_well_formed(api.get(f"{path}?{query}"))


@SETTINGS
@given(segment=st.text(min_size=1, max_size=80).filter(lambda text: "\n" not in text and text not in (".", "..")))
def test_any_path_id_gets_an_auth0_4xx_or_the_record(api: httpx2.Client, segment: str) -> None:
    encoded = quote(segment, safe="")
    for path in (f"/organizations/{encoded}", f"/users/{encoded}/organizations", f"/roles/{encoded}"):
        assert_well_formed(api.get(path))
