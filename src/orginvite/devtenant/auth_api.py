"""The dev tenant's Authentication API at Auth0's paths.

Discovery and JWKS, ``/authorize`` (code flow with PKCE S256 and Auth0's Organizations rules), the hosted pages
(:mod:`orginvite.devtenant.hosted_pages`), ``/oauth/token`` (:mod:`orginvite.devtenant.token_endpoint`),
``/userinfo`` and both logout endpoints (``/v2/logout`` and OIDC's ``/oidc/logout``).

/authorize never redirects before the client and its redirect URI are validated: until then errors are pages.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from orginvite.devtenant.authorization import (
    BROWSER_COOKIE,
    SESSION_COOKIE,
    Outcome,
    browser_binding,
    end_session,
    invitation_expired,
    save_pending,
)
from orginvite.devtenant.authorize_rules import (
    AUTHORIZE_PARAMETERS,
    INVITATION_INVALID,
    AuthorizeError,
    add_query,
    callback_allowed,
    check_organization_parameter,
    encoded_parameter_names,
    has_organization_callback,
    parse_single_valued,
    response_mode_for,
    response_type_of,
    valid_code_challenge,
)
from orginvite.devtenant.hosted_pages import (
    authorization_response,
    available_locales,
    continue_flow,
    error_page,
    hosted_routes,
    render_page,
    set_cookie,
)
from orginvite.devtenant.keys import InvalidSignatureError
from orginvite.devtenant.token_endpoint import api_for, opaque_token_claims, revocation_endpoint, token_endpoint
from orginvite.i18n.locales import to_bcp47
from orginvite.links import ticket_fingerprint

__all__ = ["routes"]

log = logging.getLogger("orginvite.devtenant")

Tenant = Any
Endpoint = Callable[[Request], Awaitable[Response]]

SCOPES_SUPPORTED = ["openid", "profile", "email", "offline_access"]
CLAIMS_SUPPORTED = [
    "aud",
    "auth_time",
    "azp",
    "email",
    "email_verified",
    "exp",
    "iat",
    "iss",
    "name",
    "nickname",
    "nonce",
    "org_id",
    "org_name",
    "picture",
    "sid",
    "sub",
    "updated_at",
]
_QUERY_LIMIT = 8192
_PROMPTS = {"login", "none", "consent", "select_account"}


def _discovery(tenant: Tenant, request: Request) -> dict[str, Any]:
    issuer = tenant.issuer_for(request)
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "authorize",
        "token_endpoint": issuer + "oauth/token",
        "revocation_endpoint": issuer + "oauth/revoke",
        "userinfo_endpoint": issuer + "userinfo",
        "jwks_uri": issuer + ".well-known/jwks.json",
        "end_session_endpoint": issuer + "oidc/logout",
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "response_types_supported": ["code", "id_token", "code id_token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "claims_supported": CLAIMS_SUPPORTED,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "request_parameter_supported": False,
        "ui_locales_supported": [to_bcp47(locale) for locale in available_locales()],
    }


def _validate_request(
    tenant: Tenant, request: Request, values: Mapping[str, str], repeated: list[str], client: Mapping[str, Any]
) -> dict[str, Any]:
    """Everything after the client and redirect URI are trusted: errors here go back to the redirect URI."""
    if repeated:
        raise AuthorizeError("invalid_request", f"parameter {repeated[0]} must not be repeated")
    requested_type = values.get("response_type")
    if not requested_type:
        raise AuthorizeError("invalid_request", "parameter response_type is required")
    response_type = response_type_of(requested_type)
    if response_type is None:
        raise AuthorizeError("unsupported_response_type", f"Unsupported response type: {requested_type[:50]}")
    mode = values.get("response_mode")
    if mode is not None and response_mode_for(response_type, mode) != mode:
        allowed = "query, fragment or form_post" if response_type == "code" else "fragment or form_post"
        raise AuthorizeError("invalid_request", f"response_mode must be {allowed} for response_type {response_type}")
    grants = client.get("grant_types") or []
    if "code" in response_type.split() and "authorization_code" not in grants:
        raise AuthorizeError("unauthorized_client", "Grant type 'authorization_code' not allowed for the client.")
    if "id_token" in response_type.split():
        # Auth0 enables ID tokens from /authorize with the client's "implicit" grant type; OIDC Core 3.2.2.1 and
        # 3.3.2.11 require a nonce whenever the ID token comes through the front channel.
        if "implicit" not in grants:
            raise AuthorizeError("unauthorized_client", "Grant type 'implicit' not allowed for the client.")
        if not values.get("nonce"):
            raise AuthorizeError("invalid_request", f"parameter nonce is required for response_type {response_type}")
    challenge = values.get("code_challenge")
    method = values.get("code_challenge_method")
    if method is not None and challenge is None:
        raise AuthorizeError("invalid_request", "parameter code_challenge is required with code_challenge_method")
    if challenge is not None:
        if method != "S256":
            raise AuthorizeError("invalid_request", "code_challenge_method must be S256")
        if not valid_code_challenge(challenge):
            raise AuthorizeError("invalid_request", "code_challenge must be a base64url SHA-256 hash (43 characters)")
    prompt = values.get("prompt") or ""
    if any(p not in _PROMPTS for p in prompt.split()):
        raise AuthorizeError("invalid_request", "prompt must be login, none, consent or select_account")
    if "none" in prompt.split() and len(prompt.split()) > 1:
        raise AuthorizeError("invalid_request", "prompt=none cannot be combined with other values")
    audience = values.get("audience")
    if audience and audience != tenant.issuer_for(request) + "userinfo" and api_for(tenant, request, audience) is None:
        raise AuthorizeError("access_denied", f"Service not found: {audience[:200]}")
    max_age = values.get("max_age")
    if max_age is not None and (not max_age.isdigit() or len(max_age) > 10):
        raise AuthorizeError("invalid_request", "max_age must be a number of seconds")
    screen_hint = values.get("screen_hint")
    if screen_hint not in (None, "", "login", "signup"):
        raise AuthorizeError("invalid_request", "screen_hint must be login or signup")

    usage = str(client.get("organization_usage") or "deny")
    behavior = str(client.get("organization_require_behavior") or "no_prompt")
    invitation = values.get("invitation") or None  # an empty parameter is an absent one
    organization_param = values.get("organization")
    if invitation is not None and not organization_param:
        raise AuthorizeError("invalid_request", "parameter organization is required with invitation")
    if invitation is not None and usage == "deny":
        raise AuthorizeError("invalid_request", "parameter invitation is not allowed for this client")
    kind_value = check_organization_parameter(
        organization_param,
        usage=usage,
        require_behavior=behavior,
        names_allowed=bool(tenant.settings.get("allow_organization_name_in_authentication_api")),
    )
    organization = None
    if kind_value is not None:
        kind, value = kind_value
        store = tenant.store
        organization = store.get_organization(value) if kind == "id" else store.get_organization_by_name(value)
        if organization is None:
            raise AuthorizeError(
                "invalid_request", f"no organization found with {'id' if kind == 'id' else 'name'} {value}"
            )

    pending: dict[str, Any] = {
        "client_id": client["client_id"],
        "redirect_uri": values["redirect_uri"],
        "response_type": response_type,
        "response_mode": response_mode_for(response_type, mode),
        "issuer": tenant.issuer_for(request),
        "state": values.get("state"),
        "nonce": values.get("nonce"),
        "scope": values.get("scope") or "openid",
        "code_challenge": challenge,
        "audience": audience or None,
        "organization_id": organization["id"] if organization else None,
        "organization_prompt": behavior if usage == "require" and organization is None else None,
        "ui_locales": (values.get("ui_locales") or "")[:100] or None,
        "login_hint": (values.get("login_hint") or "")[:320] or None,
        "prompt": "login" if "login" in prompt.split() else ("none" if prompt == "none" else None),
        "screen": "signup" if screen_hint == "signup" else "login",
        "max_age": int(max_age) if max_age is not None else None,
        "csrf": secrets.token_urlsafe(32),
    }
    if invitation is not None:
        ticket = tenant.store.get_invitation_by_ticket(invitation) if 0 < len(invitation) <= 200 else None
        expired = ticket is not None and invitation_expired(ticket, tenant.now())
        if ticket is None or organization is None or ticket.get("organization_id") != organization["id"] or expired:
            log.info("invitation %s refused (unknown, foreign or expired)", ticket_fingerprint(invitation))
            raise AuthorizeError(*INVITATION_INVALID)
        invitee = str((ticket.get("invitee") or {}).get("email") or "")
        pending["invitation_id"] = ticket["id"]
        pending["invitee_email"] = invitee
        # The name the inviter typed (orginvite's invite() keeps it in user_metadata.name): the sign-up form offers
        # it, editable, so the new account is not named after its email address.
        metadata = ticket.get("user_metadata")
        typed = metadata.get("name") if isinstance(metadata, dict) else None
        pending["invitee_name"] = (" ".join(typed.split())[:300] or None) if isinstance(typed, str) else None
        pending["login_hint"] = None  # the invitee's address wins over login_hint
        pending["screen"] = "login" if tenant.store.get_user_by_email(invitee) else "signup"
    return pending


def _callback_organization(
    tenant: Tenant, values: Mapping[str, str], repeated: list[str], client: Mapping[str, Any]
) -> str | None:
    """The name ``{organization_name}`` callbacks are evaluated with: the request's organization, when it has one.

    Only a client with such callbacks and ``organization_usage`` allow or require, and only an organization
    parameter that names (once) an existing organization, the way the rest of /authorize would accept it. Any
    doubt gives None: the placeholder URLs then match nothing and the redirect URI is refused on a page.
    """
    callbacks = client.get("callbacks") or []
    if not has_organization_callback(callbacks) or "organization" in repeated:
        return None
    usage = str(client.get("organization_usage") or "deny")
    try:
        kind_value = check_organization_parameter(
            values.get("organization"),
            usage=usage,
            require_behavior=str(client.get("organization_require_behavior") or "no_prompt"),
            names_allowed=bool(tenant.settings.get("allow_organization_name_in_authentication_api")),
        )
    except AuthorizeError:
        return None
    if kind_value is None or usage == "deny":
        return None
    kind, value = kind_value
    store = tenant.store
    organization = store.get_organization(value) if kind == "id" else store.get_organization_by_name(value)
    return str(organization["name"]) if organization else None


def _authorize(tenant: Tenant) -> Endpoint:
    async def authorize(request: Request) -> Response:
        raw = request.scope.get("query_string", b"")
        if len(raw) > _QUERY_LIMIT:
            return error_page(tenant, request, "request_too_long", 414)
        try:
            text = raw.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
        except (UnicodeDecodeError, ValueError):
            return error_page(tenant, request, "invalid_query", 400)
        if encoded_parameter_names(text, AUTHORIZE_PARAMETERS):
            return error_page(tenant, request, "encoded_parameter", 400)  # before anything of it is trusted
        values, repeated = parse_single_valued(pairs, AUTHORIZE_PARAMETERS)
        if "client_id" in repeated or "redirect_uri" in repeated:
            return error_page(tenant, request, "invalid_request", 400)
        client_id = values.get("client_id") or ""
        client = tenant.store.get_client(client_id) if 0 < len(client_id) <= 200 else None
        if client is None:
            return error_page(tenant, request, "invalid_client", 400)
        redirect_uri = values.get("redirect_uri") or ""
        callbacks = client.get("callbacks") or []
        if not callback_allowed(
            redirect_uri, callbacks, organization_name=_callback_organization(tenant, values, repeated, client)
        ):
            return error_page(tenant, request, "invalid_redirect_uri", 400)
        try:
            pending = _validate_request(tenant, request, values, repeated, client)
        except AuthorizeError as exc:
            # The error travels the way the answer would have (a token-bearing type never answers in the query).
            mode = response_mode_for(response_type_of(values.get("response_type")), values.get("response_mode"))
            params = {"error": exc.error, "error_description": exc.description, "state": values.get("state")}
            outcome = Outcome(redirect_uri, {k: v for k, v in params.items() if v is not None}, mode)
            return authorization_response(outcome)
        did = request.cookies.get(BROWSER_COOKIE)
        if not did or len(did) > 100:
            did = secrets.token_urlsafe(24)
        pending["browser"] = browser_binding(did)
        pending_id = save_pending(tenant, pending)
        response = continue_flow(tenant, request, pending_id, pending)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        set_cookie(request, response, BROWSER_COOKIE, did, 365 * 86400)
        return response

    return authorize


def _bearer_claims(tenant: Tenant, request: Request) -> dict[str, Any] | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 8192:
        return None
    if "." not in token.strip():  # an opaque access token (issued without an API audience)
        return opaque_token_claims(tenant, token.strip())
    try:
        claims = tenant.keys.verify(token.strip())
    except InvalidSignatureError:
        return None
    issuer = tenant.issuer_for(request)
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    exp = claims.get("exp")
    if claims.get("iss") != issuer or issuer + "userinfo" not in audiences:
        return None
    if not isinstance(exp, int | float) or exp <= tenant.now():
        return None
    return claims


def _userinfo(tenant: Tenant) -> Endpoint:
    from orginvite.devtenant.token_claims import userinfo_claims

    async def userinfo(request: Request) -> Response:
        claims = _bearer_claims(tenant, request)
        user = tenant.store.get_user(str(claims.get("sub"))) if claims else None
        if claims is None or user is None:
            return JSONResponse(
                {"error": "invalid_token", "error_description": "a valid access token is required"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"', "Cache-Control": "no-store"},
            )
        body = userinfo_claims(user, str(claims.get("scope") or "").split())
        if claims.get("org_id"):
            body["org_id"] = claims["org_id"]
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return userinfo


def _without_query(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url  # callback_allowed refuses it
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _concrete_url(url: str) -> bool:
    """An allow-list entry one can redirect to as it is (not a ``*`` or ``{organization_name}`` pattern)."""
    return "*" not in url and "{" not in url and callback_allowed(url, [url])


def _logout(tenant: Tenant, *, oidc: bool) -> Endpoint:
    async def logout(request: Request) -> Response:
        query = request.query_params
        client_id = query.get("client_id")
        if oidc:
            target = query.get("post_logout_redirect_uri")
            hint = query.get("id_token_hint")
            if hint:
                try:
                    claims = tenant.keys.verify(hint)
                except InvalidSignatureError:
                    return error_page(tenant, request, "invalid_id_token_hint", 400)
                aud = claims.get("aud")
                hinted = (
                    aud if isinstance(aud, str) else (claims.get("azp") if isinstance(claims.get("azp"), str) else None)
                )
                if client_id and hinted and client_id != hinted:
                    return error_page(tenant, request, "client_mismatch", 400)
                client_id = client_id or hinted
        else:
            target = query.get("returnTo")
        client = tenant.store.get_client(client_id) if client_id and len(client_id) <= 200 else None
        allowed = (client or {}).get("allowed_logout_urls") or []
        if not oidc and not target and allowed and _concrete_url(str(allowed[0])):
            target = str(allowed[0])  # Auth0: client_id without returnTo goes to the first Allowed Logout URL
        if target:
            # /v2/logout matches the allow-list on the URL without its query and fragment (Auth0's "Redirect Users
            # After Logout": "the query string and hash information ... are not taken into account"); the path,
            # trailing slash included, must match as listed. /oidc/logout compares the whole URL, query included
            # (Auth0 community, "Dynamically Redirect a User after Logout if there are More than 100 Destinations").
            checked = target if oidc else _without_query(target)
            if client is None or not callback_allowed(checked, allowed):
                return error_page(tenant, request, "invalid_logout_url", 400)
            if oidc and query.get("state"):
                target = add_query(target, {"state": query["state"]})
            response: Response = RedirectResponse(target, status_code=302)
        else:
            response = render_page(tenant, request, "logged_out.html")
        end_session(tenant, request.cookies.get(SESSION_COOKIE), tenant.issuer_for(request))
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.headers["Cache-Control"] = "no-store"
        return response

    return logout


def routes(tenant: Tenant) -> list[BaseRoute]:
    """The Authentication API routes, mounted at the tenant's root."""

    async def discovery(request: Request) -> JSONResponse:
        return JSONResponse(_discovery(tenant, request))

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(tenant.keys.jwks(), headers={"Cache-Control": "public, max-age=60"})

    return [
        Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/authorize", _authorize(tenant), methods=["GET"]),
        Route("/oauth/token", token_endpoint(tenant), methods=["POST"]),
        Route("/oauth/revoke", revocation_endpoint(tenant), methods=["POST"]),
        Route("/userinfo", _userinfo(tenant), methods=["GET", "POST"]),
        Route("/v2/logout", _logout(tenant, oidc=False), methods=["GET"]),
        Route("/oidc/logout", _logout(tenant, oidc=True), methods=["GET"]),
        *hosted_routes(tenant),
    ]
