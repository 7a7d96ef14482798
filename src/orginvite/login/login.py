"""``/login``, the Application Login URI: an invitation link (or a plain sign-in) becomes an ``/authorize``
redirect, a page that says what is wrong with the link, or the wrong-account interstitial.

The query is parsed by :func:`~orginvite.links.parse_login_query` (a typed error is a 400 page, never a redirect);
under multi-tenant routing the link is placed on its organization's host first. ``POST /login`` is the
interstitial's answer (:func:`orginvite.login.interstitial.confirm`).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from orginvite.errors import InvalidLinkError
from orginvite.links import parse_login_query
from orginvite.login import interstitial, lifecycle, preflight
from orginvite.login.authorize import dead_invitation, place, start
from orginvite.login.context import LoginContext

__all__ = ["login"]

logger = logging.getLogger("orginvite.login")


async def login(ctx: LoginContext, request: Request) -> Response:
    method = request.method
    if method == "POST":
        return await interstitial.confirm(ctx, request)
    if method not in ("GET", "HEAD"):
        return ctx.method_not_allowed("GET, HEAD, POST")
    try:
        link = parse_login_query(
            request.scope["query_string"], ctx.settings.link_rules,
            default_return_to=ctx.settings.default_return_to,
        )
    except InvalidLinkError as exc:
        logger.info("invalid login link: %s (field %s)", exc.code, exc.field)
        return ctx.page(
            request, "invalid_link.html", 400,
            {"error": "invalid_link", "code": exc.code, "field": exc.field, "message": str(exc)},
            code=exc.code, field=exc.field, message=str(exc),
        )
    if ctx.tenants is not None:
        refusal = place(ctx, request, link)
        if refusal is not None:
            return refusal
    found = None
    if link.is_invitation:
        verdict = await preflight.check(ctx, link)
        if isinstance(verdict, preflight.Missing):
            lifecycle.dead_link(ctx, link.organization)
            return dead_invitation(ctx, request, verdict.organization_display_name, [])
        found = verdict
        user = await ctx.current_user(request)
        if user is not None:
            if found is None or not same_address(user.email, found.email):
                return interstitial.show(ctx, request, link, user, invited=found.email if found else None)
            logger.info("invitation %s: signed in as the invitee; straight to the provider", link.ticket_fingerprint)
    if link.switch and ctx.tenants is None and await ctx.current_user(request) is not None:
        # A signed-in member moving to another organization: silent first (the provider knows them); the old
        # session stays until the new organization's checks pass at the callback. Under multi-tenant routing the
        # switch lands on the other organization's host or path, where this session does not count: a plain login.
        return await start(ctx, request, link, prompt="none")
    return await start(ctx, request, link, found=found)


def same_address(a: str | None, b: str | None) -> bool:
    """Whether two email addresses are the same mailbox as providers compare them (case-insensitively)."""
    if not a or not b:
        return False
    return a.strip().casefold() == b.strip().casefold()
