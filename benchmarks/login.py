"""Section 1: the login redirect, ``/login?invitation=..&organization=..`` to the provider's ``/authorize``.

Each contender is an in-process ASGI app called directly: orginvite's middleware; Authlib's Starlette client
(``authorize_redirect`` behind Starlette's ``SessionMiddleware``, the documented setup); auth0-fastapi's
``/auth/login`` when the package is installed; and a bare Starlette route answering a fixed redirect (the floor:
what any redirect costs in Starlette). Discovery is served on loopback and cached by each after the warm-up call.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from benchmarks.harness import BROWSER_HEADERS, ASGICall, Case, Section, Target
from benchmarks.provider import CLIENT_ID, CLIENT_SECRET, ORG_ID, SECRET_KEY, TICKET, Provider
from orginvite.config import Settings
from orginvite.login.middleware import OrgInviteMiddleware

QUERY = urlencode({"invitation": TICKET, "organization": ORG_ID, "organization_name": "acme"}).encode()
BASE_URL = "http://127.0.0.1:8000"


async def _home(request: Request) -> Response:
    return PlainTextResponse("home")


def orginvite_app(provider: Provider, http_client: Any = None, **settings: Any) -> OrgInviteMiddleware:
    inner = Starlette(routes=[Route("/", _home)])
    return OrgInviteMiddleware(inner, Settings(
        issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, secret_keys=(SECRET_KEY,),
        base_url=BASE_URL, **settings,
    ), http_client=http_client)


def floor_app(provider: Provider) -> Starlette:
    fixed = provider.issuer + "authorize?" + urlencode({"client_id": CLIENT_ID, "organization": ORG_ID})

    async def login(request: Request) -> Response:
        return RedirectResponse(fixed, status_code=302)

    return Starlette(routes=[Route("/login", login)])


def authlib_oauth(provider: Provider) -> Any:
    """Authlib's Starlette client registered as its docs show (discovery from the loopback provider)."""
    from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    oauth.register(
        "bench", client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        server_metadata_url=provider.issuer + ".well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    )
    return oauth


def authlib_app(provider: Provider) -> Starlette:
    oauth = authlib_oauth(provider)

    async def login(request: Request) -> Response:
        params = request.query_params
        return await oauth.bench.authorize_redirect(
            request, BASE_URL + "/callback",
            organization=params["organization"], invitation=params["invitation"],
        )

    app = Starlette(routes=[Route("/login", login)])
    app.add_middleware(SessionMiddleware, secret_key=SECRET_KEY)
    return app


def auth0_fastapi_app(provider: Provider) -> tuple[Any, str | None]:
    """auth0-fastapi's router, or the reason it cannot run here."""
    import importlib.util

    if importlib.util.find_spec("auth0_fastapi") is None:
        return None, "auth0-fastapi is not installed; pip install -e '.[bench]'"
    from benchmarks.auth0_fastapi_case import build

    return build(provider, BASE_URL)


PREFLIGHT = {"management_client_id": "bench-m2m", "management_client_secret": "bench-m2m-secret",
             "invitation_preflight": True}


async def cold_organization_calls(provider: Provider, organizations: int = 8) -> dict[str, Any]:
    """Management API calls of ``/login`` with preflight on organizations never seen before, each one login: the
    listing pages it reads (one here: one pending invitation) and the users-by-email lookup for screen_hint.
    Fewer organizations than the budget for new ones (10 at once), so that every login really asks."""
    app = orginvite_app(provider, **PREFLIGHT)
    provider.management_calls.clear()
    for n in range(organizations):
        query = urlencode({"invitation": TICKET, "organization": f"org_Cold{n:012d}"}).encode()
        await ASGICall(app, "/login", query, BROWSER_HEADERS, expect=302)()
    calls = dict(provider.management_calls)
    return {"preflight, cold organization: Management API calls per /login":
            {what: count / organizations for what, count in sorted(calls.items()) if what != "token"},
            "preflight, cold organization: access tokens fetched in all": calls.get("token", 0)}


def section(provider: Provider) -> Section:
    cases = [
        Case("floor: bare Starlette fixed redirect",
             ASGICall(floor_app(provider), "/login", headers=BROWSER_HEADERS, expect=302)),
        Case("orginvite /login (invitation)",
             ASGICall(orginvite_app(provider), "/login", QUERY, BROWSER_HEADERS, expect=302)),
        Case("authlib authorize_redirect + SessionMiddleware",
             ASGICall(authlib_app(provider), "/login", QUERY, BROWSER_HEADERS, expect=302)),
        Case("orginvite /login (invitation, preflight, cached org)",
             ASGICall(orginvite_app(provider, **PREFLIGHT), "/login", QUERY, BROWSER_HEADERS, expect=302)),
    ]
    auth0_app, reason = auth0_fastapi_app(provider)
    if auth0_app is None:
        cases.append(Case("auth0-fastapi /auth/login", ASGICall(None, "/auth/login"), skip=reason))
    else:
        cases.append(Case("auth0-fastapi /auth/login", auth0_app))
    extra: dict[str, Any] = {}

    async def count_cold() -> None:
        extra.update(await cold_organization_calls(provider))

    return Section(
        key="login", title="1. Login redirect", cases=cases, baseline=cases[0].name,
        targets=[
            Target(cases[1].name, cases[2].name, "speedup", 100.0),
            Target(cases[1].name, cases[0].name, "speedup", 0.25),
            Target(cases[3].name, cases[1].name, "slowdown", 1.2),
        ],
        setup=count_cold, extra=extra,
    )
