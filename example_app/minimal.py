"""The smallest real app: ``uvicorn example_app.minimal:app``, configured only from environment variables.

    ORGINVITE_ISSUER=http://127.0.0.1:8765/  ORGINVITE_CLIENT_ID=...  ORGINVITE_CLIENT_SECRET=...
    ORGINVITE_SECRET_KEYS=<32+ random characters>  ORGINVITE_BASE_URL=http://127.0.0.1:8000
    uvicorn example_app.minimal:app --port 8000

Works the same against the dev tenant (``orginvite devtenant``), Auth0 (``AUTH0_DOMAIN``, ``AUTH0_CLIENT_ID``,
``AUTH0_CLIENT_SECRET``) or any OpenID Connect provider. A missing or malformed variable stops the app at import
with the variable's name.
"""

from __future__ import annotations

import logging
from html import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from orginvite import (
    OrgInviteMiddleware,
    RedactInvitationTickets,
    Settings,
    current_organization,
    current_roles,
    logout_form_token,
)


async def home(request: Request) -> Response:
    user = request.user
    if not user.is_authenticated:
        body = '<p>You are signed out.</p><p><a href="/login">Sign in</a></p>'
    else:
        org = current_organization(request)
        where = f" in <bdi>{escape(org.name or org.id or '')}</bdi>" if org else ""
        body = (
            f"<p>Signed in as <bdi>{escape(user.display_name)}</bdi>{where}.</p>"
            '<p><a href="/me">/me</a></p><form method="post" action="/logout">'
            f'<input type="hidden" name="csrf_token" value="{logout_form_token(request)}">'
            '<button type="submit">Sign out</button></form>'
        )
    return HTMLResponse(f'<!doctype html><html lang="en"><title>orginvite demo</title><body>{body}</body></html>')


async def me(request: Request) -> Response:
    user = request.user
    if not user.is_authenticated:
        return JSONResponse({"error": "unauthenticated", "login": "/login"}, status_code=401)
    org = current_organization(request)
    return JSONResponse(
        {
            "user": {"sub": user.sub, "email": user.email, "name": user.name},
            "organization": {"id": org.id, "name": org.name} if org else None,
            "roles": list(current_roles(request)),
        }
    )


def create_app(settings: Settings | None = None) -> OrgInviteMiddleware:
    """The demo app wrapped in the middleware; ``settings=None`` reads the environment."""
    return OrgInviteMiddleware(Starlette(routes=[Route("/", home), Route("/me", me)]), settings)


def __getattr__(name: str) -> object:
    """``app`` for uvicorn, built (from the environment) on first access: ``from example_app.minimal import me``
    reads no environment, so other apps reuse the handlers."""
    if name == "app":
        # Access logs print request URLs; invitation tickets are secrets: log their hash instead.
        logging.getLogger("uvicorn.access").addFilter(RedactInvitationTickets())
        globals()["app"] = application = create_app()
        return application
    raise AttributeError(name)
