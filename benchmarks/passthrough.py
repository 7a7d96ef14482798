"""Section 2: what orginvite adds to an ordinary request of the host app (``GET /``).

Rows: the bare Starlette app; the app under orginvite without a cookie (nothing to do but look); with a valid
session cookie (one verify, the back-channel revocation check, the user put on the scope), and the same with
revocation off; Starlette's ``SessionMiddleware`` verifying a cookie of
the same size (what an app would use to keep a signed-in user otherwise; it also re-signs and re-sets the cookie
on every response, which is its documented behaviour). Every request carries the headers a browser sends.
"""

from __future__ import annotations

import base64
import itertools
import json
import tempfile
import time
from pathlib import Path
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
from orginvite.sessions.user import Organization, OrgUser


async def _home(request: Request) -> Response:
    return PlainTextResponse("home")


class NullMiddleware:
    """A pure ASGI middleware that does nothing: the floor any middleware (orginvite included) starts from."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def bare_app() -> Starlette:
    return Starlette(routes=[Route("/", _home)])


def session_user() -> OrgUser:
    return OrgUser("auth0|bench-user", email="bench@acme.test", name="Bench User",
                   organization=Organization(ORG_ID, "acme"), roles=("admin", "member"),
                   expires_at=time.time() + 3600)


def starlette_session_cookie(size: int, sub: str = "auth0|bench-user") -> str:
    """A SessionMiddleware cookie value of ``size`` characters, signed as SessionMiddleware signs it."""
    signer = TimestampSigner(SECRET_KEY)
    data: dict[str, Any] = {"user": {"sub": sub, "pad": ""}}
    while True:
        value = signer.sign(base64.b64encode(json.dumps(data).encode())).decode()
        if len(value) >= size:
            return value
        data["user"]["pad"] += "x"


def section(provider: Provider) -> Section:
    bare = bare_app()
    # back-channel revocation on (the cookie store's SQLite file, here a temporary one) and off
    revocations = Path(tempfile.mkdtemp(prefix="orginvite-bench-")) / "revocations.db"
    guarded = orginvite_app(provider, revocation_store=f"sqlite:///{revocations}")
    guarded.app = bare  # the same inner app for every row
    unrevoked = orginvite_app(provider, revocation_store="off")
    unrevoked.app = bare
    sessions = SessionMiddleware(bare, secret_key=SECRET_KEY)
    cookie = guarded.sessions.issue(session_user())
    session_cookie = starlette_session_cookie(len(cookie))
    with_cookie = [*BROWSER_HEADERS, (b"cookie", f"{guarded.sessions.name}={cookie}".encode())]
    # 2048 distinct cookies in turn: more than the memo of verified values holds, so every request verifies.
    fresh = [
        [*BROWSER_HEADERS, (b"cookie", f"{guarded.sessions.name}={guarded.sessions.issue(session_user())}".encode())]
        for _ in range(2048)
    ]
    cycle = itertools.cycle([ASGICall(guarded, "/", headers=headers, expect=200) for headers in fresh])

    async def first_sight() -> None:
        await next(cycle)()

    # The same for SessionMiddleware: 2048 distinct cookies of the same size in turn (the same memory traffic).
    session_cycle = itertools.cycle([
        ASGICall(sessions, "/", headers=[*BROWSER_HEADERS, (b"cookie", b"session=" + starlette_session_cookie(
            len(cookie), sub=f"auth0|u{index:06d}").encode())], expect=200)
        for index in range(2048)
    ])

    async def session_first_sight() -> None:
        await next(session_cycle)()

    cases = [
        Case("bare Starlette app", ASGICall(bare, "/", headers=BROWSER_HEADERS, expect=200)),
        Case("orginvite, no cookie", ASGICall(guarded, "/", headers=BROWSER_HEADERS, expect=200)),
        Case("do-nothing ASGI middleware (context)", ASGICall(NullMiddleware(bare), "/", headers=BROWSER_HEADERS,
                                                              expect=200)),
        Case("orginvite, valid session cookie", ASGICall(guarded, "/", headers=with_cookie, expect=200),
             note=f"cookie of {len(cookie)} characters"),
        Case("orginvite, valid session cookie, revocation off", ASGICall(unrevoked, "/", headers=with_cookie,
                                                                          expect=200),
             note="the same cookie with Settings(revocation_store='off'): no back-channel revocation check"),
        Case("orginvite, session cookie not yet memoized", first_sight,
             note="every request a cookie the memo has not seen: the full HMAC + JSON verify"),
        Case("Starlette SessionMiddleware, same-size cookie",
             ASGICall(sessions, "/", headers=[*BROWSER_HEADERS, (b"cookie", f"session={session_cookie}".encode())],
                      expect=200),
             note=f"cookie of {len(session_cookie)} characters"),
        Case("Starlette SessionMiddleware, 2048 cookies in turn", session_first_sight,
             note="the reference for the not-yet-memoized row: as many distinct cookies"),
    ]
    return Section(
        key="passthrough", title="2. Pass-through on an ordinary request", cases=cases, baseline=cases[0].name,
        targets=[
            Target(cases[1].name, cases[0].name, "slowdown", 1.05),
            Target(cases[3].name, cases[6].name, "slowdown", 1.0),
            Target(cases[3].name, cases[4].name, "slowdown", 1.1),
        ],
    )
