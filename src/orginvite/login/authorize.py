"""Sending the browser to the provider's ``/authorize``: the one way a login starts, from ``/login`` or from the
interstitial's continue.

Under multi-tenant routing the link is placed first (:func:`place`): a link on the apex goes to its
organization's own host, one that contradicts the host's organization is refused. Then :func:`start` binds the
organization, the PKCE verifier, the nonce and the return path into a per-``state`` transaction cookie and
redirects with an allow-list of parameters only (:meth:`~orginvite.login.oidc.OIDCClient.authorization_request`).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from orginvite.errors import ProviderError
from orginvite.i18n import locales
from orginvite.links import LoginRequest
from orginvite.login.context import ROUTE_KEY, Cookies, LoginContext
from orginvite.login.preflight import Found
from orginvite.login.transactions import Transaction
from orginvite.tenancy.routing import UnknownOrganization
from orginvite.tenancy.rules import Route, TenancyError, canonical_login_url, placement

__all__ = ["dead_invitation", "place", "start"]

logger = logging.getLogger("orginvite.login")


def place(ctx: LoginContext, request: Request, link: LoginRequest) -> Response | None:
    """A link on the apex goes (303) to its organization's own login URL, with the validated parameters only;
    one that contradicts the organization of the host (or path) it arrived on is refused."""
    assert ctx.tenants is not None
    route_: Route = request.scope[ROUTE_KEY]
    rules = ctx.tenants.rules
    name = link.organization_name
    where = placement(route_, name, rules)
    if where == "redirect" and name is not None:
        query = [("invitation", link.invitation), ("organization", link.organization), ("organization_name", name)]
        if link.return_to != ctx.settings.default_return_to:
            query.append(("returnTo", link.return_to))
        try:
            url = canonical_login_url(name, rules, ctx.tenants.scheme, query,
                                      login_path=ctx.tenants.base_path + ctx.settings.login_path)
        except TenancyError as exc:  # a name the routing rules refuse (reserved, punycode...)
            return organization_mismatch(ctx, request, name, None, exc.code)
        logger.info("login link for organization %s moved to its own host: invitation=%s",
                    name, link.ticket_fingerprint)
        return ctx.redirect(url, status=303)
    host_org = route_.organization_name
    if where == "conflict":
        return organization_mismatch(ctx, request, name, host_org, "organization_name_mismatch")
    if (host_org is not None and link.organization is not None and not link.organization.startswith("org_")
            and link.organization.lower() != host_org):
        return organization_mismatch(ctx, request, link.organization, host_org, "organization_mismatch")
    return None


def organization_mismatch(
    ctx: LoginContext, request: Request, wanted: str | None, here: str | None, code: str
) -> Response:
    logger.warning("login link refused: organization %r opened on the host of %r (%s)", wanted, here, code)
    return ctx.page(
        request, "organization_mismatch.html", 400,
        {"error": "organization_mismatch", "code": code, "organization": wanted, "host_organization": here,
         "message": "The link belongs to another organization than the address it was opened on."},
        wanted=wanted, here=here, code=code,
    )


def dead_invitation(ctx: LoginContext, request: Request, display_name: str | None, cookies: Cookies) -> Response:
    """The preflight found no pending invitation for the ticket: the "ask for a new invitation" page at once."""
    return ctx.page(
        request, "callback_invitation_invalid.html", 400,
        {"error": "invitation_invalid", "organization": display_name,
         "message": "This invitation can no longer be used; ask for a new one."},
        cookies, kind="invitation_invalid", organization_display_name=display_name,
    )


def _unknown_organization(ctx: LoginContext, request: Request, name: str, cookies: Cookies) -> Response:
    logger.info("login on the host of an unknown organization %r", name)
    return ctx.page(
        request, "unknown_organization.html", 404,
        {"error": "unknown_organization", "organization": name,
         "message": "No organization has this name."},
        cookies, organization_name=name,
    )


async def _tenant_organization(
    ctx: LoginContext, request: Request, link: LoginRequest, cookies: Cookies
) -> tuple[str | None, str | None] | Response:
    """``(organization for /authorize, the host organization's ID if looked up)``, or a page that refuses."""
    assert ctx.tenants is not None
    route_: Route = request.scope[ROUTE_KEY]
    host_org = route_.organization_name
    organization = link.organization
    if host_org is None:
        return organization, None
    directory = ctx.tenants.directory
    if directory is None:  # the provider accepts names: send the host's, check org_name at the callback
        return organization or host_org, None
    try:
        org_id = await directory.resolve(host_org)
    except UnknownOrganization:
        return _unknown_organization(ctx, request, host_org, cookies)
    except ProviderError as exc:
        return ctx.provider_unavailable(request, exc, cookies, retry_url="")
    if organization is not None and organization.startswith("org_") and organization != org_id:
        return organization_mismatch(ctx, request, organization, host_org, "organization_mismatch")
    return org_id, org_id


def _ui_locales(ctx: LoginContext, request: Request) -> str | None:
    header = request.headers.get("accept-language")
    if not header:
        return None
    resolution = locales.negotiate_accept_language(ctx.pages.available, header)
    return locales.to_bcp47(resolution.locale) if resolution.source == "accept_language" else None


async def start(
    ctx: LoginContext,
    request: Request,
    link: LoginRequest,
    *,
    prompt: str | None = None,
    cookies: Cookies | None = None,
    found: Found | None = None,
) -> Response:
    """Redirect to ``/authorize`` with a new transaction cookie (and ``cookies``), or a page that says why not.

    ``found`` (the invitation preflight's answer) adds ``login_hint``, the invitation's language ahead of the
    browser's as ``ui_locales``, and ``screen_hint=signup`` for an invitee the tenant has no user for yet."""
    cookies = list(cookies or ())
    organization, host_org, host_org_id, host, redirect_uri = link.organization, None, None, None, None
    path_prefix = None
    return_to = link.return_to
    if ctx.tenants is not None:
        placed = await _tenant_organization(ctx, request, link, cookies)
        if isinstance(placed, Response):
            return placed
        organization, host_org_id = placed
        route_: Route = request.scope[ROUTE_KEY]
        host_org, host = route_.organization_name, route_.host
        redirect_uri = ctx.tenants.redirect_uri(route_)
        path_prefix = route_.path_prefix or None
        if route_.path_prefix and return_to == ctx.settings.default_return_to:
            return_to = route_.path_prefix + return_to
    try:
        auth = await ctx.oidc.authorization_request(
            organization=organization,
            invitation=link.invitation,
            ui_locales=(found.language if found is not None and found.language else None) or _ui_locales(ctx, request),
            prompt=prompt,
            redirect_uri=redirect_uri,
            login_hint=found.email if found is not None else None,
            screen_hint="signup" if found is not None and found.signup else None,
        )
    except ProviderError as exc:
        return ctx.provider_unavailable(request, exc, cookies, retry_url="")
    transaction = Transaction(
        state=auth.state,
        nonce=auth.nonce,
        code_verifier=auth.code_verifier,
        organization=organization,
        invitation=link.is_invitation,
        return_to=return_to,
        created_at=round(ctx.clock(), 3),  # ms: the cap evicts the oldest, even within one second
        redirect_uri=auth.redirect_uri,
        host_organization=host_org,
        host_organization_id=host_org_id,
        host=host,
        path_prefix=path_prefix,
        prompt="none" if prompt == "none" else None,
        invitation_id=found.invitation_id if found is not None else None,
        invitee_email=found.email if found is not None else None,
    )
    cookies.extend(ctx.transactions.start(transaction, request.cookies))
    if logger.isEnabledFor(logging.INFO):  # the fingerprint is a SHA-256: not for a log line nobody keeps
        logger.info(
            "login started: organization=%s invitation=%s prompt=%s",
            organization, link.ticket_fingerprint, prompt or "-",
        )
    return ctx.redirect(auth.url, cookies, status=303 if request.method == "POST" else 302)
