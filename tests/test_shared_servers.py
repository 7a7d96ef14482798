"""The helpers that let a test module share its servers (tests/loopback_support.SharedServer) and seed its dev
tenants once (tests/devtenant_support.TenantCopies) without sharing state between tests."""

from __future__ import annotations

from pathlib import Path

import httpx2
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from devtenant_support import TenantCopies
from loopback_support import SharedServer
from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.config import DEMO_ADMIN_EMAIL, DEMO_MEMBER_EMAIL


def answering(text: str) -> Starlette:
    async def page(request: object) -> PlainTextResponse:
        return PlainTextResponse(text)

    return Starlette(routes=[Route("/", page)])


def test_a_shared_server_serves_each_app_in_turn_and_nothing_between() -> None:
    with SharedServer() as shared:
        with shared.serving(answering("first")) as server:
            port = server.port
            assert httpx2.get(server.url + "/").text == "first"
        between = httpx2.get(shared.url + "/")
        assert between.status_code == 503
        with shared.serving(answering("second")) as server:
            assert server.port == port
            assert httpx2.get(server.url + "/").text == "second"


def _records(tenant: DevTenant) -> dict:
    store = tenant.store
    return {
        "organizations": store.list_organizations()[0],
        "roles": store.list_roles(0, 100)[0],
        "users": [store.get_user_by_email(email) for email in (DEMO_ADMIN_EMAIL, DEMO_MEMBER_EMAIL)],
        "connections": store.list_connections(),
    }


def test_tenant_copies_start_from_the_seed_and_share_nothing(tmp_path: Path) -> None:
    copies = TenantCopies(tmp_path)
    with DevTenant() as fresh:
        seeded = _records(fresh)
    with copies.tenant() as first:
        records = _records(first)
        # the same records a fresh tenant seeds (ids are the demo's fixed ones; timestamps are the seed's)
        assert [o["id"] for o in records["organizations"]] == [o["id"] for o in seeded["organizations"]]
        assert [r["name"] for r in records["roles"]] == [r["name"] for r in seeded["roles"]]
        assert [u["user_id"] for u in records["users"]] == [u["user_id"] for u in seeded["users"]]
        first.store.create_role("only-in-the-first")
        first.settings["management_api_rate_limit"] = 1
        first.keys.rotate()
        rotated = first.keys.current_kid
    with copies.tenant() as second:
        assert "only-in-the-first" not in [r["name"] for r in second.store.list_roles(0, 100)[0]]
        assert second.settings["management_api_rate_limit"] == 0
        assert second.keys.current_kid != rotated
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pristine.sqlite3"]  # each copy's files are gone
