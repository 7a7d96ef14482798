"""Sections 7 and 8: sessions that carry tokens (issue 11).

7 (cpu time): a request whose session holds a token set (a sealed cookie), with and without
``get_access_token`` on a fresh token; the sealed-cookie read against Starlette's ``SessionMiddleware`` with a
cookie of the same size; and, as a count, how many refreshes 100 concurrent requests of one expiring session
cause (the refresh itself is stubbed: what is counted is the single flight, not the provider).
8 (wall time, a real redis-server on loopback when one is installed): a request's session read from the Redis
store against one bare redis-py GET of the same record, in the same run.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from typing import Any

from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from benchmarks.harness import BROWSER_HEADERS, ASGICall, Case, Section, Target
from benchmarks.login import orginvite_app
from benchmarks.passthrough import session_user, starlette_session_cookie
from benchmarks.provider import SECRET_KEY, Provider
from orginvite import get_access_token
from orginvite.sessions.record import SessionRecord
from orginvite.sessions.tokens import AccessToken, TokenSet

API = "https://api.acme.test/"


async def _home(request: Request) -> Response:
    return PlainTextResponse("home")


async def _token(request: Request) -> Response:
    return PlainTextResponse(await get_access_token(request))


def _inner() -> Starlette:
    return Starlette(routes=[Route("/", _home), Route("/token", _token)])


def token_set(lifetime: float = 3600) -> TokenSet:
    now = time.time()
    return TokenSet(AccessToken("a" * 900, now + lifetime, "openid profile email offline_access"),
                    refresh_token="r" * 64, id_token="i" * 700, audience=API, sid="s" * 16)


class CountingRefresher:
    """Stands in for the provider: one refresh takes 20 ms and is counted."""

    def __init__(self) -> None:
        self.calls = 0

    async def refresh(self, tokens: TokenSet, user: Any, audience: str | None) -> TokenSet:
        self.calls += 1
        await asyncio.sleep(0.02)
        return token_set()


async def _single_flight_count(provider: Provider) -> int:
    app = orginvite_app(provider, audience=API, scope="openid profile email offline_access")
    app.app = _inner()
    refresher = CountingRefresher()
    app.context.access_tokens.refresher = refresher
    sealed = app.store.cipher.seal(SessionRecord(session_user(), token_set(lifetime=10)).to_payload())
    call = ASGICall(app, "/token", headers=[*BROWSER_HEADERS, (b"cookie", f"{app.store.name}={sealed}".encode())],
                    expect=200)
    await asyncio.gather(*(call() for _ in range(100)))
    return refresher.calls


def section(provider: Provider) -> Section:
    identity = orginvite_app(provider)
    identity.app = _inner()
    tokens = orginvite_app(provider, audience=API, scope="openid profile email offline_access")
    tokens.app = _inner()
    identity_cookie = identity.sessions.issue(session_user())
    sealed = tokens.store.cipher.seal(SessionRecord(session_user(), token_set()).to_payload())
    with_identity = [*BROWSER_HEADERS, (b"cookie", f"{identity.store.name}={identity_cookie}".encode())]
    with_tokens = [*BROWSER_HEADERS, (b"cookie", f"{tokens.store.name}={sealed}".encode())]
    same_size = starlette_session_cookie(len(sealed))
    sessions = SessionMiddleware(_inner(), secret_key=SECRET_KEY)
    extra: dict[str, Any] = {}

    async def setup() -> None:
        extra["refreshes for 100 concurrent requests of one expiring session"] = await _single_flight_count(provider)

    cases = [
        Case("authenticated request, identity cookie", ASGICall(identity, "/", headers=with_identity, expect=200)),
        Case("authenticated request, sealed token session", ASGICall(tokens, "/", headers=with_tokens, expect=200),
             note=f"JWE cookie of {len(sealed)} characters, memoized"),
        Case("get_access_token, fresh token", ASGICall(tokens, "/token", headers=with_tokens, expect=200)),
        Case("Starlette SessionMiddleware, same-size cookie",
             ASGICall(sessions, "/", headers=[*BROWSER_HEADERS, (b"cookie", f"session={same_size}".encode())],
                      expect=200), note=f"cookie of {len(same_size)} characters"),
    ]
    return Section(
        key="tokens", title="7. Sessions that carry tokens", cases=cases, baseline=cases[0].name, setup=setup,
        extra=extra,
        targets=[
            Target(cases[2].name, cases[1].name, "slowdown", 1.2),
            Target(cases[1].name, cases[3].name, "slowdown", 1.0),
        ],
    )


class _Redis:
    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.workdir = tempfile.TemporaryDirectory()
        self.port = 0

    def start(self) -> str:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", self.workdir.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
        self.workdir.cleanup()


def redis_section(provider: Provider) -> Section:
    title = "8. Redis session store"
    try:
        import redis.asyncio as redis_asyncio
    except ImportError:
        redis_asyncio = None
    if redis_asyncio is None or shutil.which("redis-server") is None:
        skip = "redis-server or redis-py is not installed"
        cases = [Case(name, _noop, skip=skip)
                 for name in ("redis-py GET, bare", "session read, Redis store", "whole request, Redis store")]
        return Section(key="redis", title=title, cases=cases, baseline=cases[0].name, timer=time.perf_counter)
    server = _Redis()
    url = server.start()
    app = orginvite_app(provider, audience=API, scope="openid profile email offline_access", session_store=url)
    app.app = _inner()
    # The same client settings as the store's: a socket timeout (an outage must fail fast, never hang a request),
    # which in redis-py costs an asyncio.wait_for around every read and write. Without it the bare GET would
    # measure a client nobody should run in production.
    client = redis_asyncio.from_url(url, socket_timeout=10.0, socket_connect_timeout=10.0)
    state: dict[str, Any] = {}

    async def setup() -> None:
        for _ in range(100):
            try:
                await client.ping()
                break
            except Exception:
                await asyncio.sleep(0.05)
        headers = await app.store.create(SessionRecord(session_user(), token_set()), {})
        cookie = headers[0][1].decode().split(";", 1)[0]
        state["call"] = ASGICall(app, "/", headers=[*BROWSER_HEADERS, (b"cookie", cookie.encode())], expect=200)
        state["cookie"] = cookie.encode()
        state["key"] = next(iter(await client.keys("orginvite:session:*")))

    async def teardown() -> None:
        await client.aclose()
        await app.store.aclose()
        server.stop()

    async def bare_get() -> None:
        await client.get(state["key"])

    async def request() -> None:
        await state["call"]()

    async def session_read() -> None:
        if await app.store.load(state["cookie"]) is None:
            raise AssertionError("the session did not read")

    cases = [Case("redis-py GET, bare", bare_get, note="the same record, the store's client settings"),
             Case("session read, Redis store", session_read,
                  note="the signed ID checked, one GET, the sealed record opened (memoized)"),
             Case("whole request, Redis store", request, note="the read, the middleware and a Starlette app")]
    return Section(key="redis", title=title, cases=cases, baseline=cases[0].name, setup=setup, teardown=teardown,
                   timer=time.perf_counter, targets=[Target(cases[1].name, cases[0].name, "slowdown", 1.5)])


async def _noop() -> None:
    return None
