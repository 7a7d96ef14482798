"""A Management API (or a proxy in front of it) answering deeply nested JSON: a clear error, never a crash.

Python's json raises RecursionError, not ValueError, past ~1000 levels; uncaught, it reached the login route of
a multi-tenant app (the organization lookup) as a 500.
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orginvite.management import ManagementClient
from orginvite.management.errors import ManagementAPIError
from orginvite.testing import LiveServer

DEEP = b"[" * 50_000 + b"]" * 50_000


def hostile_api(where: str) -> Starlette:
    async def token(request: Request) -> Response:
        if where == "token":
            return Response(DEEP, media_type="application/json")
        return JSONResponse({"access_token": "t", "expires_in": 86400, "token_type": "Bearer"})

    async def api(request: Request) -> Response:
        if where == "error":
            return Response(b'{"message":' + DEEP + b"}", status_code=400, media_type="application/json")
        return Response(DEEP, media_type="application/json")

    return Starlette(routes=[Route("/oauth/token", token, methods=["POST"]),
                             Route("/api/v2/{path:path}", api, methods=["GET", "POST"])])


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["token", "body", "error"])
async def test_deeply_nested_json_is_a_management_api_error(where: str) -> None:
    with LiveServer(hostile_api(where)) as server:
        client = ManagementClient(server.url, "m2m", "secret", allow_http=True, max_retries=0)
        try:
            with pytest.raises(ManagementAPIError):
                await client.get_organization_by_name("acme")
        finally:
            await client.aclose()


def test_a_hostile_lookup_answer_is_the_provider_unavailable_page_not_a_500() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tenancy"))
    from tenancy_support import TenantWorld

    world = TenantWorld(names=False)
    try:
        with LiveServer(hostile_api("body")) as api:
            world.configure(management_client_id="m2m", management_client_secret="m2m-secret")
            directory = world.middleware.tenants.directory
            directory.client = ManagementClient(api.url, "m2m", "secret", allow_http=True, max_retries=0)
            page = world.http.get(world.org_url("acme") + "/login")
            assert page.status_code == 502 and 'data-page="provider_unavailable"' in page.text
    finally:
        world.close()
