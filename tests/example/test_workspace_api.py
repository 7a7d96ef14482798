"""The workspace calls its API as the signed-in member: a real token from the dev tenant, a real bearer check."""

from __future__ import annotations

import pytest
from workspace_support import ACME, Stack

API = "https://api.acme.test/"


@pytest.fixture(params=["starlette", "fastapi"])
def stack(request):
    s = Stack(fastapi=request.param == "fastapi", audience=API, scope="openid profile email offline_access",
              api_token_lifetime=30)  # under get_access_token's 60 s: every call refreshes (and rotates)
    yield s
    s.close()


def test_invoices_are_fetched_with_the_members_token_refreshed_and_rotated_at_the_tenant(stack):
    client = stack.client()
    assert client.get(stack.url + "/invoices").status_code == 401
    stack.sign_in(client)
    page = client.get(stack.url + "/invoices")
    assert page.status_code == 200, page.text[:300]
    body = page.json()
    assert body["api"] == API and body["status"] == 200
    assert body["answer"]["organization"] == ACME
    assert set(body["answer"]["permissions"]) == {"invoices:read", "invoices:write"}  # the admin role's, via RBAC
    assert stack.tenant.token_calls["refresh_token"] == 1
    again = client.get(stack.url + "/invoices")
    assert again.status_code == 200 and again.json()["answer"]["organization"] == ACME
    # a second refresh with the rotated refresh token: the tenant revokes the family on any older one
    assert stack.tenant.token_calls["refresh_token"] == 2
    client.close()


def test_the_api_refuses_what_is_not_a_valid_token_for_it(stack):
    client = stack.client()
    assert client.get(stack.url + "/api/invoices").status_code == 401
    for value in ("Bearer nonsense", "Basic abc", "Bearer a.b.c"):
        answer = client.get(stack.url + "/api/invoices", headers={"authorization": value})
        assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
    client.close()
