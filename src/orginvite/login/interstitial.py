"""The wrong-account interstitial: signed in, and an invitation arrives.

Auth0 consumes an invitation accepted with the wrong account, so before the provider sees it the invitee is asked
whether to continue as someone else. The link survives the page in a signed, short-lived, HttpOnly,
``SameSite=Strict`` cookie (never in the HTML, so the ticket is not echoed); the POST that continues carries a CSRF
token bound to that cookie, signs the current session out and makes the provider ask for credentials again.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from orginvite.errors import InvalidCookieError
from orginvite.forms import read_urlencoded_form
from orginvite.links import LoginRequest, safe_return_path
from orginvite.login import lifecycle, preflight
from orginvite.login.authorize import dead_invitation, place, start
from orginvite.login.context import LoginContext, local, path_prefix
from orginvite.login.pages import wants_json
from orginvite.sessions.user import OrgUser

__all__ = ["PENDING_TTL", "confirm", "show"]

logger = logging.getLogger("orginvite.login")

PENDING_TTL = 600
_MAX_FORM_BYTES = 4096


def show(
    ctx: LoginContext, request: Request, link: LoginRequest, user: OrgUser, *, invited: str | None = None
) -> Response:
    """The page that asks before the provider consumes the invitation with the signed-in account; ``invited`` is
    the invitee's address when the preflight found it (the page names both accounts)."""
    csrf = secrets.token_urlsafe(24)
    value = ctx.pending.sign({
        "invitation": link.invitation,
        "organization": link.organization,
        "organization_name": link.organization_name,
        "return_to": link.return_to,
        "csrf": csrf,
    })
    logger.info("invitation %s arrived while signed in; interstitial shown", link.ticket_fingerprint)
    return ctx.page(
        request, "interstitial.html", 409 if wants_json(request.headers.get("accept")) else 200,
        {"error": "already_signed_in", "message": "Signed in as another account; confirm to continue.",
         "signed_in_as": user.email or user.display_name, "invited": invited},
        [ctx.pending_header(value, PENDING_TTL)],
        user_label=user.email or user.display_name,
        invited=invited,
        csrf_token=csrf,
        action_url=local(request, path_prefix(request) + ctx.settings.login_path),
    )


async def _read_form(request: Request) -> dict[str, str] | None:
    pairs = await read_urlencoded_form(request, max_bytes=_MAX_FORM_BYTES, max_fields=10)
    if pairs is None:
        return None
    form = dict(pairs)
    return form if len(form) == len(pairs) else None  # a repeated field is a forged or broken post


async def confirm(ctx: LoginContext, request: Request) -> Response:
    """``POST /login`` from the interstitial: continue with the pending link (signed out first), or cancel."""
    # Browsers send "Origin: null" under Referrer-Policy: no-referrer; the CSRF token bound to the SameSite=Strict
    # pending cookie is the real check, Origin and Sec-Fetch-Site only refuse what is visibly cross-site.
    if ctx.foreign_request(request):
        logger.warning("interstitial POST from a foreign origin refused")
        return ctx.forbidden(request, "token", [])
    form = await _read_form(request)
    clear_pending = [ctx.pending_header("", 0)]
    raw = request.cookies.get(ctx.pending_name)
    try:
        if raw is None:
            raise InvalidCookieError("missing")
        pending = ctx.pending.unsign(raw, max_age=PENDING_TTL)
    except InvalidCookieError as exc:
        logger.info("interstitial POST without a valid pending link (%s)", exc.reason)
        return ctx.transaction_expired(request, clear_pending)
    expected = pending.get("csrf")
    token = (form or {}).get("csrf_token", "")
    if form is None or not isinstance(expected, str) or not hmac.compare_digest(token.encode(), expected.encode()):
        logger.warning("interstitial POST with a bad CSRF token refused")
        return ctx.forbidden(request, "token", clear_pending)
    action = form.get("action")
    if action == "cancel":
        return ctx.redirect(local(request, path_prefix(request) + ctx.settings.default_return_to), clear_pending)
    if action != "continue":
        return ctx.forbidden(request, "token", clear_pending)
    try:
        link = LoginRequest(
            invitation=_text_or_none(pending.get("invitation")),
            organization=_text_or_none(pending.get("organization")),
            organization_name=_text_or_none(pending.get("organization_name")),
            return_to=safe_return_path(_text_or_none(pending.get("return_to")), ctx.settings.default_return_to),
        )
    except TypeError:
        return ctx.transaction_expired(request, clear_pending)
    if link.invitation is not None and link.organization is None:
        return ctx.transaction_expired(request, clear_pending)
    if ctx.tenants is not None:
        # The cookie is Path=/: one made under /o/acme may be posted under /o/globex. Place it as /login does.
        refusal = place(ctx, request, link)
        if refusal is not None:
            refusal.raw_headers.extend(clear_pending)
            return refusal
    verdict = await preflight.check(ctx, link)  # cached since /login: the hints again, or a link dead since
    if isinstance(verdict, preflight.Missing):
        lifecycle.dead_link(ctx, link.organization)
        return dead_invitation(ctx, request, verdict.organization_display_name, clear_pending)
    # Sign out here, then make the provider ask for credentials again instead of reusing its SSO session.
    logger.info("interstitial: signing out and continuing with invitation %s", link.ticket_fingerprint)
    signed_out = await ctx.store.end(ctx.cookie_header(request))
    return await start(ctx, request, link, prompt="login", cookies=[*clear_pending, *signed_out], found=verdict)


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("pending link field is not a string")
    return value
