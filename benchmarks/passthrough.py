"""Section 2: what orginvite adds to an ordinary request of the host app (``GET /``).

Rows: the bare Starlette app; the app under orginvite without a cookie (nothing to do but look); with a valid
session cookie (one verify, the user put on the scope); Starlette's ``SessionMiddleware`` verifying a cookie of
the same size (what an app would use to keep a signed-in user otherwise; it also re-signs and re-sets the cookie
on every response, which is its documented behaviour). Every request carries the headers a browser sends.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from itsdangerous import TimestampSigner
from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from benchmarks.harness import BROWSER_HEADERS, ASGICall, Case, Section, Target
from benchmarks.login import orginvite_app
from benchmarks.provider import ORG_ID, SECRET_KEY, Provider
from orginvite.session import Organization, OrgUser


async def _home(request: Request) -> Response:
    return PlainTextResponse("home")


def bare_app() -> Starlette:
    return Starlette(routes=[Route("/", _home)])


def session_user() -> OrgUser:
    return OrgUser("auth0|bench-user", email="bench@acme.test", name="Bench User",
                   organization=Organization(ORG_ID, "acme"), roles=("admin", "member"),
                   expires_at=time.time() + 3600)


def starlette_session_cookie(size: int) -> str:
    """A SessionMiddleware cookie value of ``size`` characters, signed as SessionMiddleware signs it."""
    signer = TimestampSigner(SECRET_KEY)
    data: dict[str, Any] = {"user": {"sub": "auth0|bench-user", "pad": ""}}
    while True:
        value = signer.sign(base64.b64encode(json.dumps(data).encode())).decode()
        if len(value) >= size:
            return value
        data["user"]["pad"] += "x"


def section(provider: Provider) -> Section:
    bare = bare_app()
    guarded = orginvite_app(provider)
    guarded.app = bare  # the same inner app for every row
    cookie = guarded.sessions.issue(session_user())
    session_cookie = starlette_session_cookie(len(cookie))
    sessions = SessionMiddleware(bare, secret_key=SECRET_KEY)
    with_cookie = [*BROWSER_HEADERS, (b"cookie", f"{guarded.sessions.name}={cookie}".encode())]
    cases = [
        Case("bare Starlette app", ASGICall(bare, "/", headers=BROWSER_HEADERS, expect=200)),
        Case("orginvite, no cookie", ASGICall(guarded, "/", headers=BROWSER_HEADERS, expect=200)),
        Case("orginvite, valid session cookie", ASGICall(guarded, "/", headers=with_cookie, expect=200),
             note=f"cookie of {len(cookie)} characters"),
        Case("Starlette SessionMiddleware, same-size cookie",
             ASGICall(sessions, "/", headers=[*BROWSER_HEADERS, (b"cookie", f"session={session_cookie}".encode())],
                      expect=200),
             note=f"cookie of {len(session_cookie)} characters"),
    ]
    return Section(
        key="passthrough", title="2. Pass-through on an ordinary request", cases=cases, baseline=cases[0].name,
        targets=[
            Target(cases[1].name, cases[0].name, "slowdown", 1.05),
            Target(cases[2].name, cases[3].name, "slowdown", 1.0),
        ],
    )
