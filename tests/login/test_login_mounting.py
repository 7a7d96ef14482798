"""The README's mounting examples (Starlette, FastAPI), websockets and lifespan, over loopback HTTP."""

from __future__ import annotations

import json

import pytest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from login_support import Browser, MiniOP, settings_kwargs
from loopback_support import Holder
from orginvite.config import Settings
from orginvite.login.middleware import OrgInviteMiddleware
from orginvite.sessions.user import Organization, OrgUser, current_organization
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


async def drive_websocket(app, cookie: bytes | None) -> dict:
    headers = [(b"cookie", cookie)] if cookie else []
    scope = {"type": "websocket", "path": "/ws", "raw_path": b"/ws", "query_string": b"", "headers": headers,
             "root_path": "", "scheme": "ws", "server": ("localhost", 80), "client": ("127.0.0.1", 1),
             "subprotocols": [], "asgi": {"version": "3.0"}}
    incoming = [{"type": "websocket.connect"}]
    sent: list[dict] = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["type"] == "websocket.accept"
    return json.loads(next(m["text"] for m in sent if m["type"] == "websocket.send"))


async def drive_lifespan(app) -> list[str]:
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return sent


@pytest.mark.anyio
async def test_websockets_see_the_user_and_lifespan_closes_the_client(op):
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        user = websocket.scope["user"]
        await websocket.send_json({"authenticated": user.is_authenticated,
                                   "sub": getattr(user, "sub", None), "scopes": websocket.scope["auth"].scopes})
        await websocket.close()

    settings = Settings(**settings_kwargs(op.url, "http://localhost"))
    app = OrgInviteMiddleware(Starlette(routes=[WebSocketRoute("/ws", ws)]), settings)
    assert await drive_websocket(app, None) == {"authenticated": False, "sub": None, "scopes": []}
    user = OrgUser("auth0|w", organization=Organization(ORG, "q"), roles=("admin",), expires_at=4_000_000_000)
    cookie = b"orginvite_session=" + app.sessions.issue(user).encode()
    assert await drive_websocket(app, cookie) == {
        "authenticated": True, "sub": "auth0|w", "scopes": ["authenticated", f"org:{ORG}", "role:admin"]}
    assert not app.oidc._http.is_closed
    assert await drive_lifespan(app) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert app.oidc._http.is_closed  # lifespan shutdown closed the app-wide HTTP client
