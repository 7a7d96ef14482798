"""Section 9: revalidation of membership and roles (issue 12), as counts, and what a due request costs.

The counts: 1,000 requests of one session whose confirmation lapsed (``revalidate_every`` ago and more), all
carrying the same old cookie (the browser never stored what the first answer set: the worst case), at once and
one after another, each with a fresh middleware. With machine credentials they are counted at the provider
(``benchmarks/provider.py``, a loopback server that answers and counts the Management API's
``GET /api/v2/users/{id}/organizations`` and ``GET /api/v2/organizations/{org}/members/{id}/roles``); one
confirmation is those two requests (and one client-credentials token the first time). Without credentials a
session with a refresh token confirms by a refresh (stubbed here, as in section 7: what is counted is how many the
requests start).

The timed rows (cpu time): a request whose session was confirmed within the interval, and one whose session is due
with the confirmation already cached (the other 999 requests of such a burst: no call, the record written back).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.harness import BROWSER_HEADERS, ASGICall, Case, Section
from benchmarks.login import orginvite_app
from benchmarks.passthrough import bare_app, session_user
from benchmarks.provider import Provider
from benchmarks.tokens import CountingRefresher, token_set
from orginvite.login.middleware import OrgInviteMiddleware
from orginvite.sessions.record import SessionRecord

EVERY = 300
REQUESTS = 1000
CREDENTIALS = {"management_client_id": "bench-m2m", "management_client_secret": "bench-m2m-secret"}
_CALLS = ("users/{id}/organizations", "organizations/{org}/members/{id}/roles", "token")


def _app(provider: Provider, **settings: Any) -> OrgInviteMiddleware:
    app = orginvite_app(provider, revalidate_every=EVERY, **settings)
    app.app = bare_app()
    return app


def _lapsed_identity_call(app: OrgInviteMiddleware) -> ASGICall:
    """A request with an identity cookie last confirmed longer than the interval ago."""
    cookie = app.sessions.issue(session_user(), None, time.time() - EVERY - 1)
    return ASGICall(app, "/", headers=[*BROWSER_HEADERS, (b"cookie", f"{app.sessions.name}={cookie}".encode())],
                    expect=200)


async def _burst(call: ASGICall, concurrent: bool) -> None:
    if concurrent:
        await asyncio.gather(*(call() for _ in range(REQUESTS)))
    else:
        for _ in range(REQUESTS):
            await call()


async def _management_calls(provider: Provider, concurrent: bool) -> dict[str, int]:
    app = _app(provider, **CREDENTIALS)
    before = dict(provider.management_calls)
    try:
        await _burst(_lapsed_identity_call(app), concurrent)
    finally:
        await app.context.memberships.aclose()
    return {name: provider.management_calls.get(name, 0) - before.get(name, 0) for name in _CALLS}


async def _refreshes(provider: Provider, concurrent: bool) -> int:
    app = _app(provider, scope="openid profile email offline_access")
    refresher = CountingRefresher()
    app.context.access_tokens.refresher = refresher
    record = SessionRecord(session_user(), token_set(), confirmed_at=time.time() - EVERY - 1)
    sealed = app.store.cipher.seal(record.to_payload())
    call = ASGICall(app, "/", headers=[*BROWSER_HEADERS, (b"cookie", f"{app.store.name}={sealed}".encode())],
                    expect=200)
    await _burst(call, concurrent)
    return refresher.calls


def section(provider: Provider) -> Section:
    confirmed = _app(provider, **CREDENTIALS)
    cookie = confirmed.sessions.issue(session_user(), None, time.time())
    within = ASGICall(confirmed, "/", headers=[*BROWSER_HEADERS,
                                               (b"cookie", f"{confirmed.sessions.name}={cookie}".encode())], expect=200)
    due = _app(provider, **CREDENTIALS)
    lapsed = _lapsed_identity_call(due)
    extra: dict[str, Any] = {}

    async def setup() -> None:
        for concurrent, how in ((True, "at once"), (False, "one after another")):
            calls = await _management_calls(provider, concurrent)
            extra[f"Management API requests for {REQUESTS:,} requests of one lapsed session, {how}"] = calls
        for concurrent, how in ((True, "at once"), (False, "one after another")):
            extra[f"refreshes (no credentials) for {REQUESTS:,} requests of one lapsed session, {how}"] = (
                await _refreshes(provider, concurrent))
        await lapsed()  # the confirmation the timed row finds cached

    async def teardown() -> None:
        for app in (confirmed, due):
            await app.context.memberships.aclose()

    cases = [
        Case("session confirmed within the interval", within),
        Case("session due, confirmation cached", lapsed,
             note="no Management API call; the confirmed record re-issued as a cookie"),
    ]
    return Section(key="revalidation", title="9. Revalidation of membership", cases=cases, baseline=cases[0].name,
                   setup=setup, teardown=teardown, extra=extra)

