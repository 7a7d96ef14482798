"""The team workspace under multi-tenant routing: forms posted on an organization's own host are same-origin."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx2
import pytest
import workspace_support
from workspace_support import ACME, ADMIN_EMAIL, ADMIN_PASSWORD, Stack, forms_of

from orginvite.config import Settings
from orginvite.tenancy.rules import TenancyRules

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tenancy"))
from tenancy_support import ToLoopback

DOMAIN = "myapp.test"


@pytest.fixture(params=["starlette", "fastapi"])
def stack(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    original = workspace_support.demo_tenant_config

    def wildcard_callbacks(app_url: str) -> dict[str, Any]:
        config = original(app_url)
        port = app_url.rsplit(":", 1)[1]
        for client in config["clients"]:
            if "callbacks" in client:
                client["callbacks"] = [f"http://*.{DOMAIN}:{port}/callback"]
                client["allowed_logout_urls"] = [f"http://*.{DOMAIN}:{port}/"]
        return config

    monkeypatch.setattr(workspace_support, "demo_tenant_config", wildcard_callbacks)
    s = Stack(fastapi=request.param == "fastapi")
    port = s.app_server.port
    login = Settings(**{**{f.name: getattr(s.config.login, f.name) for f in dataclasses.fields(Settings)},
                        "base_url": f"http://{DOMAIN}:{port}",
                        "tenancy": TenancyRules(host_template=f"{{organization}}.{DOMAIN}:{port}")})
    s.config = dataclasses.replace(s.config, login=login)
    s.workspace = type(s.workspace)(s.config)
    if request.param == "fastapi":
        from example_app.fastapi_app import create_app
    else:
        from example_app.workspace import create_app
    s._holder.inner = create_app(workspace=s.workspace)
    s.url = f"http://acme.{DOMAIN}:{port}"
    yield s
    s.close()


def _sign_in(stack: Stack, client: httpx2.Client) -> httpx2.Response:
    page = client.get(stack.url + "/login")
    assert page.url.path == "/u/login", page.text[:300]
    form = forms_of(page.text)[0]
    done = client.post(urljoin(str(page.url), form["action"]),
                       data={**form["fields"], "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert str(done.url).startswith(stack.url) and 'data-page="dashboard"' in done.text, done.text[:500]
    return done


def test_an_admin_invites_from_the_organizations_own_host(stack: Stack) -> None:
    with httpx2.Client(transport=ToLoopback(), follow_redirects=True, timeout=15) as client:
        dashboard = _sign_in(stack, client)
        token = next(f for f in forms_of(dashboard.text) if f["action"] == "/invitations")["fields"]["csrf_token"]
        member = next(r["id"] for r in stack.tenant.store.list_roles(0, 100)[0] if r["name"] == "member")
        data = {"csrf_token": token, "email": "camille@example.test", "name": "Camille", "language": "fr",
                "roles": [member]}
        # what a browser sends with a same-origin form POST on acme's host
        sent = client.post(stack.url + "/invitations", data=data, follow_redirects=False,
                           headers={"origin": stack.url, "sec-fetch-site": "same-origin"})
        assert sent.status_code == 303, sent.text[:500]
        assert [i["invitee"]["email"] for i in stack.tenant.store.list_invitations(ACME)[0]] == ["camille@example.test"]
        for foreign in (f"http://globex.{DOMAIN}:{stack.app_server.port}", "http://evil.test", f"http://{DOMAIN}:1"):
            refused = client.post(stack.url + "/invitations", data={**data, "email": "x@example.test"},
                                  follow_redirects=False, headers={"origin": foreign})
            assert refused.status_code == 403 and 'data-error="csrf"' in refused.text, foreign
