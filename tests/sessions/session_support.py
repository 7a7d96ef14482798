"""An app that calls its API as the signed-in member, served on loopback against the scriptable MiniOP.

``/token`` answers the access token ``get_access_token`` gives (401 JSON with the reason on SessionExpired, 502
on ProviderError); ``/me`` who is signed in. The world signs in once through the real login flow, then a test
moves the provider's clock-free knobs (``op.access_ttl``, ``op.refresh_mode``, ``op.refresh_claims``) and watches
``op.refresh_requests``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from login_support import Browser, MiniOP, settings_kwargs
from loopback_support import Holder
from orginvite import OrgInviteMiddleware, OrgUser, ProviderError, SessionExpired, Settings, get_access_token
from orginvite.testing import LiveServer

API = "https://api.acme.test/"
ORG = "org_" + "A1b2C3d4E5f6G7h8"
SCOPE = "openid profile email offline_access"


async def token(request: Request) -> JSONResponse:
    audience = request.query_params.get("audience")
    min_ttl = float(request.query_params.get("min_ttl", "60"))
    try:
        value = await get_access_token(request, audience=audience, min_ttl=min_ttl)
    except SessionExpired as exc:
        return JSONResponse({"error": "session_expired", "reason": exc.reason}, status_code=401)
    except ProviderError:
        return JSONResponse({"error": "provider_unavailable"}, status_code=502)
    return JSONResponse({"access_token": value})


async def me(request: Request) -> JSONResponse:
    user = request.user
    if not isinstance(user, OrgUser):
        return JSONResponse({"user": None}, status_code=401)
    return JSONResponse({"user": user.sub, "organization": user.organization.id if user.organization else None})


async def stream(request: Request) -> StreamingResponse:
    """A streaming answer whose body asks for the token: the refreshed session must still reach the browser."""
    value = await get_access_token(request)

    async def body():
        yield b"token:"
        yield value[:8].encode()

    return StreamingResponse(body(), media_type="text/plain")


def api_app() -> Starlette:
    return Starlette(routes=[Route("/token", token), Route("/me", me), Route("/stream", stream)])


class TokenWorld:
    """MiniOP and N app servers (separate middleware instances: separate processes' worth of state)."""

    def __init__(self, op: MiniOP, op_url: str, apps: list[tuple[Holder, str]], *, inner: Any = None,
                 **settings: Any) -> None:
        self.op, self.op_url = op, op_url
        self.urls = [url for _, url in apps]
        self.url = self.urls[0]
        self.middlewares = []
        self.holders = [holder for holder, _ in apps]
        for holder, url in apps:
            values = settings_kwargs(op_url, url, **{"audience": API, "scope": SCOPE, **settings})
            middleware = OrgInviteMiddleware(inner if inner is not None else api_app(), Settings(**values))
            holder.inner = middleware
            self.middlewares.append(middleware)
        self.browser = Browser()

    def middleware(self, **settings: Any) -> OrgInviteMiddleware:
        """Another middleware for the first server's URL (swap it in with ``world.holders[0].inner = ...``)."""
        values = settings_kwargs(self.op_url, self.url, **{"audience": API, "scope": SCOPE, **settings})
        return OrgInviteMiddleware(api_app(), Settings(**values))

    def sign_in(self, organization: str = ORG) -> httpx2.Response:
        login = self.browser.get(self.url + "/login", params={"organization": organization, "returnTo": "/me"})
        assert login.status_code == 302, login.text[:300]
        at_op = self.browser.get(login.headers["location"])
        callback = self.browser.get(at_op.headers["location"])
        assert callback.status_code == 303, callback.text[:500]
        return callback

    def token(self, url: str | None = None, **params: Any) -> httpx2.Response:
        return self.browser.get((url or self.url) + "/token", params=params)

    def me(self) -> httpx2.Response:
        return self.browser.get(self.url + "/me")

    def session_cookies(self) -> dict[str, str]:
        return self.browser.cookie("orginvite_session")


@contextmanager
def token_world(processes: int = 1, *, inner: Any = None, **settings: Any) -> Iterator[TokenWorld]:
    op = MiniOP()
    with ExitStack() as stack:
        op_server = stack.enter_context(LiveServer(op.app))
        apps = []
        for _ in range(processes):
            holder = Holder()
            server = stack.enter_context(LiveServer(holder))
            apps.append((holder, server.url))
        world = TokenWorld(op, op_server.url + "/", apps, inner=inner, **settings)
        try:
            yield world
        finally:
            world.browser.close()
