"""The anonymous pass-through, in process: what it adds to the scope is exactly what the app's helpers need.

The benchmark's no-cookie row is this path; the test holds it to three scope keys (each one more is paid by every
anonymous request) while the guards' localized pages and ``logout_form_token`` still find the login context.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from login_support import settings_kwargs
from orginvite.config import Settings
from orginvite.login.context import CONTEXT_KEY, LoginContext
from orginvite.login.logout import logout_form_token
from orginvite.login.middleware import OrgInviteMiddleware
from orginvite.sessions.guards import GUARD_PAGES_KEY, requires_roles
from orginvite.sessions.user import ANONYMOUS


@requires_roles("admin")
async def admin(request: Request) -> Response:
    return PlainTextResponse("admin")


async def form(request: Request) -> Response:
    return PlainTextResponse(logout_form_token(request))


class Recorder:
    """The app under the middleware: keeps the scope keys the middleware added before Starlette adds its own."""

    def __init__(self) -> None:
        self.app = Starlette(routes=[Route("/admin", admin), Route("/form", form)])
        self.added: list[set[str]] = []
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.added.append(set(scope) - set(_scope("/")))
        self.scopes.append(dict(scope))
        await self.app(scope, receive, send)


def _scope(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), *(headers or [])], "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


async def _call(app: Any, path: str, headers: list[tuple[bytes, bytes]], *, root_path: str | None = "",
                ) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = _scope(path, headers)
    if root_path is None:
        del scope["root_path"]  # optional in ASGI
    else:
        scope["root_path"] = root_path
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


@pytest.mark.anyio
async def test_an_anonymous_request_gets_three_scope_keys_and_the_guards_and_the_form_token_still_work() -> None:
    recorder = Recorder()
    middleware = OrgInviteMiddleware(recorder, Settings(**settings_kwargs(
        "http://127.0.0.1:9/", "http://127.0.0.1:8000", revocation_store="off")))
    assert GUARD_PAGES_KEY == CONTEXT_KEY  # one key serves the guards' pages and the app's helpers
    status, page = await _call(middleware, "/admin", [(b"accept-language", b"fr"),
                                                      (b"cookie", b"theme=dark; lang=fr")])  # no session cookie
    assert recorder.added == [{"user", "auth", CONTEXT_KEY}]
    scope = recorder.scopes[0]
    assert scope["user"] is ANONYMOUS and not scope["user"].is_authenticated and scope["auth"].scopes == []
    assert isinstance(scope[CONTEXT_KEY], LoginContext)
    assert status == 401 and b'data-page="guard_denied"' in page and b'lang="fr"' in page  # the localized page
    status, token = await _call(middleware, "/form", [])
    assert status == 200 and len(token) >= 20 and recorder.added[1] == {"user", "auth", CONTEXT_KEY}
    # the route match reads root_path when there is one, and does without it
    assert (await _call(middleware, "/admin", [], root_path=None))[0] == 401
    status, _ = await _call(middleware, "/app/logout", [], root_path="/app")
    assert status == 200 and len(recorder.added) == 3  # the logout route's button page: not the app's
