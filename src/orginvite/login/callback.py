"""``/callback``: the provider's answer becomes a session, or a page that tells the invitee what to do.

The transaction is read and deleted whatever the outcome (an ``error=`` answer included, so nothing piles up);
``error=`` is classified into a page (expired invitation, wrong account, not a member...); a code is exchanged,
the ID token verified (signature, nonce, claims) and its organization checked against the one the login bound
(:mod:`orginvite.login.claims`), then against the host's under multi-tenant routing, ``allowed_organizations`` and
the app's ``on_accept`` hook. Only then is the session cookie issued.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from orginvite.errors import (
    CallbackError,
    InvalidCookieError,
    OrganizationClaimError,
    OrgInviteError,
    ProviderError,
    SessionStoreError,
    SessionTooLarge,
    TokenError,
)
from orginvite.links import LoginRequest
from orginvite.login import lifecycle
from orginvite.login.authorize import start
from orginvite.login.claims import check_host_organization, check_organization, organization_of
from orginvite.login.context import PREFIX_KEY, ROUTE_KEY, Cookies, LoginContext, local, path_prefix
from orginvite.login.pages import classify_callback_error
from orginvite.login.tokens import check_access_token
from orginvite.sessions.record import SessionRecord, provider_sid
from orginvite.sessions.tokens import TokenSet
from orginvite.sessions.user import Organization, OrgUser, user_from_claims

__all__ = ["AcceptanceVetoed", "callback"]

logger = logging.getLogger("orginvite.login")

#: OpenID Connect Core 3.1.2.6: what a provider answers ``prompt=none`` when it would have to show a page.
_SILENT_REFUSALS = frozenset({"login_required", "interaction_required", "consent_required",
                              "account_selection_required"})
_CALLBACK_STATUS = {
    "invitation_invalid": 400,
    "wrong_account": 403,
    "not_a_member": 403,
    "organization_required": 400,
    "organization_invalid": 400,
    "access_denied": 403,
    "other": 400,
}


class AcceptanceVetoed(CallbackError):
    """The host app's ``on_accept`` hook refused the session (a 403 page; kind ``access_denied``)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__("access_denied", "vetoed", reason)


def _query(request: Request) -> tuple[dict[str, str], bool]:
    """The callback's parameters, and whether any was repeated (then no ``state`` is trusted)."""
    params: dict[str, str] = {}
    repeated = False
    try:
        for key, value in parse_qsl(
            request.scope["query_string"].decode("latin-1"), keep_blank_values=True, max_num_fields=32
        ):
            if key in params:
                repeated = True
            params[key] = value
    except ValueError:
        repeated = True
    return params, repeated


async def callback(ctx: LoginContext, request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        return ctx.method_not_allowed("GET, HEAD")
    params, repeated = _query(request)
    state = None if repeated else params.get("state")
    cookies = request.cookies
    try:
        transaction = ctx.transactions.load(state, cookies)
    except InvalidCookieError as exc:
        logger.info("callback without a valid transaction (%s)", exc.reason)
        cleanup = []
        if state and ctx.transactions.cookie_name(state) in cookies:
            cleanup.append(ctx.transactions.delete_header(state))
        if await ctx.current_user(request) is not None:
            return ctx.redirect(local(request, ctx.settings.default_return_to), cleanup)
        return ctx.transaction_expired(request, cleanup)

    done = [ctx.transactions.delete_header(transaction.state)]  # whatever happens next, this login is over
    route_ = request.scope.get(ROUTE_KEY)
    if route_ is not None and transaction.path_prefix is not None:
        request.scope[PREFIX_KEY] = transaction.path_prefix  # the pages below link back under it
    if route_ is not None and transaction.host is not None and transaction.host != route_.host:
        logger.warning("callback on another host than the login that started it; refused")
        return ctx.transaction_expired(request, done)
    error = params.get("error")
    if error in _SILENT_REFUSALS and transaction.prompt == "none":
        # A silent organization switch the provider cannot finish without a page: ask again, interactively.
        logger.info("silent organization switch answered %s; restarting interactively", error)
        again = LoginRequest(organization=transaction.organization, return_to=transaction.return_to)
        return await start(ctx, request, again, cookies=done)
    if error is not None:
        exc = classify_callback_error(error[:100], params.get("error_description", "")[:500],
                                      invitation=transaction.invitation)
        logger.warning(
            "provider returned error=%r kind=%s organization=%s description=%r",
            exc.error, exc.kind, transaction.organization, exc.description,
        )
        lifecycle.failed(ctx, transaction, exc.kind)
        return _error_page(ctx, request, exc, done)
    code = params.get("code")
    if not code or len(code) > 2048:
        return _error_page(ctx, request, CallbackError("other", "missing_code"), done)
    settings = ctx.settings
    try:
        tokens = await ctx.oidc.exchange_code(code, transaction.code_verifier, transaction.redirect_uri)
        claims = await ctx.oidc.verify_id_token(tokens["id_token"], nonce=transaction.nonce)
        check_organization(claims, transaction.organization, require=settings.require_organization)
        if transaction.host_organization is not None:
            check_host_organization(claims, transaction.host_organization, transaction.host_organization_id)
        org_id, org_name = organization_of(claims)
        allowed = settings.allowed_organizations
        if allowed is not None and not allowed(org_id, org_name):
            raise OrganizationClaimError(transaction.organization, org_id, "organization not allowed here")
        user = user_from_claims(claims, settings, ctx.clock())
        if transaction.host_organization is not None and user.organization is not None:
            # checked above against the host: an ID-only token (names off at the provider) gets the host's name
            user.organization = Organization(user.organization.id, user.organization.name
                                             or transaction.host_organization)
        kept = None
        if settings.keeps_tokens:
            kept = TokenSet.from_response(tokens, now=ctx.clock(), audience=settings.audience,
                                          sid=claims.get("sid") if isinstance(claims.get("sid"), str) else None)
            assert kept.access_token is not None
            await check_access_token(ctx.oidc, kept.access_token.token, settings.audience, transaction.organization
                                     or org_id)
        await _accept(ctx, user, claims)
    except ProviderError as exc:
        retry_url = local(request, path_prefix(request) + settings.login_path)
        return ctx.provider_unavailable(request, exc, done, retry_url=retry_url)
    except OrganizationClaimError as exc:
        logger.warning("organization check failed: expected=%r actual=%r: %s", exc.expected, exc.actual, exc)
        lifecycle.failed(ctx, transaction, "forbidden_organization")
        return ctx.forbidden(request, "organization", done)
    except AcceptanceVetoed as exc:
        logger.info("on_accept vetoed the session: %r", exc.description[:200])
        lifecycle.failed(ctx, transaction, "forbidden_vetoed")
        return ctx.forbidden(request, "vetoed", done)
    except TokenError as exc:
        logger.warning("ID token rejected: %s", exc)
        lifecycle.failed(ctx, transaction, "forbidden_token")
        return ctx.forbidden(request, "token", done)
    bound = None
    if route_ is not None:
        bound = (transaction.host or route_.host, transaction.host_organization)
    try:
        record = SessionRecord(user, kept, bound, confirmed_at=ctx.clock(),  # membership just confirmed
                               sid=provider_sid(claims.get("sid")))
        done.extend(await ctx.store.create(record, request.cookies))
    except SessionStoreError as exc:
        return ctx.store_unavailable(request, exc, done)
    except SessionTooLarge as exc:  # the browser would drop the cookie: say so rather than loop back to sign-in
        logger.warning("session not issued: sub=%r organization=%s: %s", user.sub[:100], org_id, exc)
        return ctx.forbidden(request, "profile_too_large", done)
    logger.info("signed in: sub=%r organization=%s", user.sub, org_id)
    lifecycle.accepted(ctx, transaction, user, org_id)
    done.append(ctx.pending_header("", 0))
    return ctx.redirect(local(request, transaction.return_to), done)


async def _accept(ctx: LoginContext, user: OrgUser, claims: Mapping[str, Any]) -> None:
    hook = ctx.settings.on_accept
    if hook is None:
        return
    try:
        verdict = await hook(user, claims)
    except AcceptanceVetoed:
        raise
    except OrgInviteError as exc:
        raise AcceptanceVetoed(str(exc)) from exc
    if verdict is False:
        raise AcceptanceVetoed("on_accept returned False")


def _error_page(ctx: LoginContext, request: Request, exc: CallbackError, cookies: Cookies) -> Response:
    return ctx.page(
        request, f"callback_{exc.kind}.html", _CALLBACK_STATUS[exc.kind],
        {"error": exc.kind, "provider_error": exc.error if exc.error.isascii() else "other"},
        cookies, kind=exc.kind,
    )
