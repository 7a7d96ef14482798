"""``/logout``: the session and the pending link are dropped, then the browser goes to the provider's logout (when
it has one) and back to a safe URL: a same-origin path, an allow-listed URL, else the configured default. Never an
open redirect, never ``Location: None``.

A sign-out another site asks for (``Sec-Fetch-Site: cross-site`` or ``same-site``, or a foreign ``Origin``: see
:meth:`~orginvite.login.context.LoginContext.foreign_request`) signs nobody out: any page could otherwise end a
user's session with a link or an image (logout CSRF). The signed-in user gets a small page whose "Sign out" link,
followed from our own page, is same-origin and signs out; the session cookie is left alone.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import Response

from orginvite.links import safe_return_path
from orginvite.login.context import ROUTE_KEY, LoginContext, local, path_prefix
from orginvite.tenancy.rules import Route

__all__ = ["logout", "logout_return_url"]

logger = logging.getLogger("orginvite.login")


def logout_return_url(ctx: LoginContext, value: str | None, route: Route | None = None) -> str:
    """An absolute URL to come back to after logout. ``route`` (multi-tenant routing): the request's allow-listed
    host is the origin."""
    s = ctx.settings
    base = s.base_url.rstrip("/")
    default = s.default_logout_return_url
    if route is not None and ctx.tenants is not None:
        base = ctx.tenants.url(route, "")
        target = s.post_logout_return_to or (route.path_prefix + s.default_return_to)
        default = base + target if target.startswith("/") else target
    if not value or len(value) > 2048:
        return default
    if value.startswith("/"):
        path = safe_return_path(value, "/")
        return base + path if path == value else default
    if value in s.allowed_logout_urls:
        return value
    return default


async def logout(ctx: LoginContext, request: Request) -> Response:
    if request.method not in ("GET", "HEAD", "POST"):
        return ctx.method_not_allowed("GET, HEAD, POST")
    return_to = None
    raw = request.scope["query_string"]
    if raw:
        try:
            pairs = parse_qsl(raw.decode("ascii"), max_num_fields=16)
        except (UnicodeDecodeError, ValueError):
            pairs = []
        values = [v for k, v in pairs if k == "returnTo"]
        return_to = values[0] if len(values) == 1 else None
    target = logout_return_url(ctx, return_to, request.scope.get(ROUTE_KEY))
    session = await ctx.current_session(request)
    user = None if session is None else session.user
    if ctx.foreign_request(request):
        if user is None:
            return ctx.redirect(target)  # nobody to sign out, and no provider hop on another site's say-so
        logger.warning("logout asked by another site refused: sub=%r", user.sub)
        own = local(request, path_prefix(request) + ctx.settings.logout_path)
        if return_to is not None:
            own += "?" + urlencode({"returnTo": return_to})  # checked again when the user follows the link
        return ctx.page(
            request, "logout_confirm.html", 403,
            {"error": "logout_cross_site", "message": "Sign-out refused: another site asked for it."},
            action_url=own,
        )
    provider = await ctx.oidc.end_session_url(target)
    if session is not None and session.record.tokens is not None and session.record.tokens.refresh_token:
        await ctx.provider_tokens.revoke(session.record.tokens.refresh_token)
    cookies = await ctx.store.end(ctx.cookie_header(request))
    logger.info("logout: sub=%r provider_logout=%s", user.sub if user else None, provider is not None)
    return ctx.redirect(provider or target, [*cookies, ctx.pending_header("", 0)])
