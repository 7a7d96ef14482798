"""``/logout``: the session and the pending link are dropped, then the browser goes to the provider's logout (when
it has one) and back to a safe URL: a same-origin path, an allow-listed URL, else the configured default. Never an
open redirect, never ``Location: None``.

Only ``POST /logout`` signs out, and only with the session's CSRF token (:func:`logout_form_token`, or the form of
the page below) and not when another site asks (``Sec-Fetch-Site: cross-site`` or ``same-site``, or a foreign
``Origin``: see :meth:`~orginvite.login.context.LoginContext.foreign_request`): any page could otherwise end a
user's session with a link, an image or an auto-submitted form (logout CSRF). ``GET /logout`` answers a small page
with a "Sign out" button that POSTs (no side effect), unless ``Settings(logout_on_get=True)``; a refused sign-out
gets the same page with a 403. The provider's logout gets the session's ID token and ``sid`` as hints.
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import Response

from orginvite.forms import read_urlencoded_form
from orginvite.links import safe_return_path
from orginvite.login.context import CONTEXT_KEY, ROUTE_KEY, LoginContext, local, path_prefix
from orginvite.tenancy.rules import Route

__all__ = ["logout", "logout_form_token", "logout_return_url"]

logger = logging.getLogger("orginvite.login")

_MAX_FORM_BYTES = 4096


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


def logout_form_token(request: Request) -> str:
    """The CSRF token a sign-out form of the app must POST as ``csrf_token`` to ``/logout`` (browsers that send
    neither ``Origin`` nor ``Sec-Fetch-Site`` are checked by it): bound to the request's session, so a token seen
    by another site is worthless once the session changes. Needs :class:`~orginvite.OrgInviteMiddleware`."""
    ctx = request.scope.get(CONTEXT_KEY)
    if not isinstance(ctx, LoginContext):
        raise RuntimeError("logout_form_token needs OrgInviteMiddleware around the app")
    return ctx.logout_token(request)


async def _posted_token(request: Request) -> str | None:
    pairs = await read_urlencoded_form(request, max_bytes=_MAX_FORM_BYTES, max_fields=10)
    if pairs is None:
        return None
    tokens = [value for name, value in pairs if name == "csrf_token"]
    return tokens[0] if len(tokens) == 1 else None


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
    foreign = ctx.foreign_request(request)
    if request.method == "POST":
        token = await _posted_token(request)
        confirmed = not foreign and token is not None and hmac.compare_digest(
            token.encode(), ctx.logout_token(request).encode())
    else:
        confirmed = ctx.settings.logout_on_get and not foreign
    if not confirmed:
        if user is None and (foreign or request.method == "POST"):
            return ctx.redirect(target)  # nobody to sign out, and no provider hop on another site's say-so
        if foreign or request.method == "POST":
            logger.warning("logout refused (%s): sub=%r", "another site asked" if foreign else "no valid token",
                           user.sub if user else None)
        own = local(request, path_prefix(request) + ctx.settings.logout_path)
        if return_to is not None:
            own += "?" + urlencode({"returnTo": return_to})  # checked again when the user posts the form
        refused = foreign or request.method == "POST"
        return ctx.page(
            request, "logout_confirm.html", 403 if refused else 200,
            {"error": "logout_cross_site", "message": "Sign-out refused: another site asked for it."} if refused
            else {"error": "logout_confirm", "message": "Sign out with a POST from the sign-out button."},
            action_url=own, csrf_token=ctx.logout_token(request), foreign=refused,
        )
    tokens = None if session is None else session.record.tokens
    provider = await ctx.oidc.end_session_url(
        target, id_token_hint=None if tokens is None else tokens.id_token,
        sid=None if session is None else session.record.provider_sid)
    if tokens is not None and tokens.refresh_token:
        await ctx.provider_tokens.revoke(tokens.refresh_token)
    cookies = await ctx.store.end(ctx.cookie_header(request))
    logger.info("logout: sub=%r provider_logout=%s", user.sub if user else None, provider is not None)
    return ctx.redirect(provider or target, [*cookies, ctx.pending_header("", 0)])
