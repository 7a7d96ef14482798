"""Tokens whose header or payload is JSON nested past Python's recursion limit: the dev tenant answers as Auth0
would (401, or logout treating the hint as invalid), never a 500."""

from __future__ import annotations

import base64

import httpx2
import pytest

from orginvite.demo import demo_tenant_config
from orginvite.devtenant.app import DevTenant

DEEP = base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).rstrip(b"=").decode()
OBJECT = base64.urlsafe_b64encode(b'{"a":1}').rstrip(b"=").decode()


@pytest.fixture(scope="module")
def tenant():
    t = DevTenant(demo_tenant_config("http://127.0.0.1:8000"))
    server = t.serve().start()
    yield server.url
    server.stop()
    t.close()


@pytest.mark.parametrize("token", [f"{DEEP}.{OBJECT}.sig", f"{OBJECT}.{DEEP}.sig"])
def test_a_deeply_nested_bearer_token_is_a_401(tenant, token):
    response = httpx2.get(tenant + "/api/v2/organizations", headers={"authorization": "Bearer " + token})
    assert response.status_code == 401


def test_a_deeply_nested_id_token_hint_is_not_a_500(tenant):
    response = httpx2.get(tenant + "/oidc/logout", params={"id_token_hint": f"{DEEP}.{OBJECT}.sig"})
    assert response.status_code < 500
