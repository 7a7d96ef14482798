"""The README's mounting examples (Starlette, FastAPI), websockets and lifespan, over loopback HTTP."""

from __future__ import annotations

import pytest
from login_support import Browser, Holder, MiniOP, settings_kwargs
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from orginvite.config import Settings
from orginvite.middleware import OrgInviteMiddleware
from orginvite.session import OrgUser, current_organization
from orginvite.testing import LiveServer

ORG = "org_" + "Q" * 16


def sign_in(browser: Browser, app_url: str, query: str = "") -> None:
    start = browser.get(app_url + "/login" + query)
    at_op = browser.get(start.headers["location"])
    assert browser.get(at_op.headers["location"]).status_code == 303


@pytest.fixture
def op():
    provider = MiniOP()
    provider.claims = {"https://orginvite.dev/roles": ["admin"]}
    with LiveServer(provider.app) as server:
        provider.url = server.url + "/"
        yield provider


def test_starlette_example(op):
    @requires("authenticated")
    async def dashboard(request: Request) -> JSONResponse:
        org = current_organization(request)
        return JSONResponse({"hello": request.user.display_name, "organization": org.id if org else None})

    @requires("role:admin")
    async def admin(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    holder = Holder()
    with LiveServer(holder) as server:
        settings = Settings(**settings_kwargs(op.url, server.url))
        holder.inner = OrgInviteMiddleware(
            Starlette(routes=[Route("/dashboard", dashboard), Route("/admin", admin)]), settings
        )
        browser = Browser()
        assert browser.get(server.url + "/dashboard").status_code == 403
        sign_in(browser, server.url, f"?organization={ORG}")
        assert browser.get(server.url + "/dashboard").json() == {"hello": "Alice", "organization": ORG}
        assert browser.get(server.url + "/admin").json() == {"ok": True}
        op.claims = {}
        sign_in(browser, server.url)
        assert browser.get(server.url + "/admin").status_code == 403
        browser.close()


def test_websockets_see_the_user_and_lifespan_closes_the_client(op):
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        user = websocket.scope["user"]
        await websocket.send_json({"authenticated": user.is_authenticated,
                                   "sub": getattr(user, "sub", None), "scopes": websocket.scope["auth"].scopes})
        await websocket.close()

    settings = Settings(**settings_kwargs(op.url, "http://localhost"))
    app = OrgInviteMiddleware(Starlette(routes=[WebSocketRoute("/ws", ws)]), settings)
    with TestClient(app, base_url="http://localhost") as client:
        with client.websocket_connect("/ws") as socket:
            assert socket.receive_json() == {"authenticated": False, "sub": None, "scopes": []}
        user = OrgUser("auth0|w", organization=None, expires_at=4_000_000_000)
        client.cookies.set("orginvite_session", app.sessions.issue(user))
        with client.websocket_connect("/ws") as socket:
            assert socket.receive_json() == {"authenticated": True, "sub": "auth0|w", "scopes": ["authenticated"]}
        assert not app.oidc._http.is_closed
    assert app.oidc._http.is_closed  # lifespan shutdown closed the app-wide HTTP client
