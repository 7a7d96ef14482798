"""POST /oauth/token: authorization_code (PKCE), refresh_token and client_credentials; POST /oauth/revoke.

Errors are OAuth JSON ``{error, error_description}`` with Auth0's statuses, which differ from RFC 6749's 400/401:

- failed client authentication (unknown client, wrong or missing secret): 401 ``access_denied`` "Unauthorized"
  (auth0-samples/auth0-angular-samples#201, auth0/node-auth0#682), never ``invalid_client``;
- a refused grant: 403 ``invalid_grant``, "Invalid authorization code" for an unknown, used, expired or foreign
  code (community.auth0.com/t/authorisation-code-flow-error-403/73029), "Unknown or invalid refresh token." for
  a refresh token (auth0/Auth0.Android#334), "Failed to verify code verifier" for PKCE;
- ``unauthorized_client`` (grant type not enabled) and ``access_denied`` (client credentials): 403;
- a malformed request (missing parameter, bad body): 400 ``invalid_request``.

A user's access token is a JWT only when an API audience was asked for (``[[apis]]`` in the tenant file, or the
Management API); without one it is opaque (random, its claims kept in the store), good only at /userinfo, as on
Auth0: an app that decodes it works nowhere. ``expires_in`` is the API's ``token_lifetime``.

Refresh tokens (:mod:`orginvite.devtenant.refresh_tokens` has the rules) are issued when ``offline_access`` was
asked for and is granted: the client has the refresh_token grant and the audience's API allows offline access.
Without an audience Auth0 issues them too (the /userinfo audience allows offline access: auth0-oidc-client-net's
"Refresh Tokens" page asks for only ``openid offline_access``, and its note on "Allow Offline Access" applies to
API authorization). They are kept hashed, in families; a refused one is always 403 ``invalid_grant`` "Unknown or
invalid refresh token." Each exchange re-checks the user and the membership of the login's organization.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orginvite.devtenant.authorization import sign_id_token, take_live
from orginvite.devtenant.authorize_rules import valid_code_verifier, verify_pkce
from orginvite.devtenant.refresh_tokens import family_settings, refresh_decision
from orginvite.devtenant.request_body import BodyTooLarge, InvalidJson, parse_json, read_capped
from orginvite.devtenant.token_claims import (
    ACCESS_TOKEN_TTL,
    access_token_claims,
    client_credentials_claims,
    granted_scopes,
)

__all__ = ["TokenError", "api_for", "opaque_token_claims", "revocation_endpoint", "token_endpoint"]

Tenant = Any
OPAQUE_KIND = "access_token"
_BODY_LIMIT = 16384
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenError(Exception):
    def __init__(self, error: str, description: str, status_code: int = 400) -> None:
        self.error = error
        self.description = description
        self.status_code = status_code
        super().__init__(description)


INVALID_CODE = "Invalid authorization code"
INVALID_REFRESH_TOKEN = "Unknown or invalid refresh token."


def _unauthorized() -> TokenError:
    """Auth0's one answer to every client-authentication failure (it does not say which part was wrong)."""
    return TokenError("access_denied", "Unauthorized", 401)


def _invalid_grant(description: str) -> TokenError:
    return TokenError("invalid_grant", description, 403)


def _missing(name: str) -> TokenError:
    return TokenError("invalid_request", f"Missing required parameter: {name}")


def _error_response(exc: TokenError, *, basic: bool) -> JSONResponse:
    headers = dict(_NO_STORE)
    if exc.status_code == 401 and basic:
        headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description}, status_code=exc.status_code, headers=headers
    )


async def _parameters(request: Request) -> dict[str, str]:
    """Form or JSON body (auth0-python posts JSON), single-valued, strings only."""
    try:
        body = await read_capped(request, _BODY_LIMIT)
    except BodyTooLarge:
        raise TokenError("invalid_request", "request body too large") from None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TokenError("invalid_request", "request body must be UTF-8") from exc
    if content_type == "application/json":
        data = _json_body(body)
        if not isinstance(data, dict):
            raise TokenError("invalid_request", "request body must be a JSON object")
        values: dict[str, str] = {}
        for key, value in data.items():
            if value is None:
                continue  # auth0-python sends unset options as null
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise TokenError("invalid_request", f"parameter {key} must be a string")
            values[key] = str(value)
        return values
    if content_type != "application/x-www-form-urlencoded":
        raise TokenError(
            "invalid_request", "content type must be application/x-www-form-urlencoded or application/json"
        )
    values = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key in values:
            raise TokenError("invalid_request", f"parameter {key} is repeated")
        values[key] = value
    return values


def _json_body(body: bytes) -> Any:
    """The JSON body, strictly (deep nesting and lone surrogates refused, as on every JSON route of the tenant)."""
    try:
        return parse_json(body) if body.strip() else {}
    except InvalidJson as exc:
        raise TokenError("invalid_request", f"request body {exc.problem}") from None


def _authenticate(tenant: Tenant, request: Request, params: Mapping[str, str]) -> dict[str, Any]:
    header = request.headers.get("authorization", "")
    client_id = secret = None
    if header:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise _unauthorized()
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise _unauthorized() from exc
        raw_id, sep, raw_secret = decoded.partition(":")
        if not sep:
            raise _unauthorized()
        client_id, secret = unquote(raw_id), unquote(raw_secret)  # RFC 6749 2.3.1: form-encoded
        if "client_secret" in params:
            raise TokenError("invalid_request", "use one client authentication method, not two")
        if params.get("client_id") not in (None, client_id):
            raise TokenError("invalid_request", "client_id does not match the authenticated client")
    else:
        client_id, secret = params.get("client_id"), params.get("client_secret")
    if not client_id:
        raise _unauthorized()
    client = tenant.store.get_client(client_id)
    expected = str((client or {}).get("client_secret") or "")
    if client is None or not secret or not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise _unauthorized()
    return client


def _require_grant(client: Mapping[str, Any], grant_type: str) -> None:
    if grant_type not in (client.get("grant_types") or []):
        raise TokenError("unauthorized_client", f"Grant type '{grant_type}' not allowed for the client.", 403)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _access_token(tenant: Tenant, issuer: str, claims: dict[str, Any]) -> str:
    """A JWT for an API audience; an opaque token (claims kept server-side) when /userinfo is the only audience."""
    if claims["aud"] != [issuer + "userinfo"]:
        return str(tenant.keys.sign(claims))
    token = secrets.token_urlsafe(32)
    tenant.store.put_transient(OPAQUE_KIND, _hash(token), claims, float(ACCESS_TOKEN_TTL))
    return token


def opaque_token_claims(tenant: Tenant, token: str) -> dict[str, Any] | None:
    """The claims behind an opaque access token, or None (unknown, or expired by the tenant's clock)."""
    if len(token) > 200:
        return None
    claims = tenant.store.get_transient(OPAQUE_KIND, _hash(token))
    if claims is None or float(claims.get("exp", 0)) <= tenant.now():
        return None
    return dict(claims)


def api_for(tenant: Tenant, request: Request, audience: str | None) -> dict[str, Any] | None:
    """The API (resource server) an audience names: a configured one, or the Management API; None for none."""
    if not audience or audience == tenant.issuer_for(request) + "userinfo":
        return None
    if audience == tenant.management_audience_for(request):
        # Auth0's Management API takes user tokens too; this tenant grants them no API scope.
        return {"identifier": audience, "scopes": [], "token_lifetime": ACCESS_TOKEN_TTL}
    return tenant.store.get_resource_server(audience)


def _user_tokens(
    tenant: Tenant,
    request: Request,
    grant: Mapping[str, Any],
    *,
    nonce: str | None,
    refusal: str | None = None,
    grant_type: str | None = None,
) -> dict[str, Any]:
    """Access token (+ ID token when ``openid`` is granted) for a user grant; ``scope`` in the answer is what was
    granted (``offline_access`` there means a refresh token may be issued). ``refusal`` replaces the detailed
    reasons (user gone, no longer a member) by one description, as a refused refresh gets."""
    store = tenant.store
    issuer = tenant.issuer_for(request)
    user = store.get_user(grant["user_id"])
    if user is None:
        raise _invalid_grant(refusal or "the user no longer exists")
    if user.get("blocked"):
        raise _invalid_grant(refusal or "user is blocked")
    org_id = grant.get("organization_id")
    organization = store.get_organization(org_id) if org_id else None
    if org_id and (organization is None or not store.is_member(org_id, user["user_id"])):
        raise _invalid_grant(refusal or f"user {user['user_id']} is not part of the {org_id} organization")
    client = store.get_client(grant["client_id"]) or {}
    audience = grant.get("audience")
    api = api_for(tenant, request, audience)
    rbac = bool(api and api.get("enforce_policies"))
    # Member roles are per organization: a login without one holds no role, hence no permission.
    held = store.member_permissions(org_id, user["user_id"], api["identifier"]) if rbac and org_id else []
    scopes = granted_scopes(
        str(grant.get("scope") or "").split(),
        api_scopes=[str(s["value"]) for s in (api or {}).get("scopes", [])],
        permissions=held if rbac else None,
        offline_access="refresh_token" in (client.get("grant_types") or [])
        and (api is None or bool(api.get("allow_offline_access"))),
    )
    lifetime = int((api or {}).get("token_lifetime") or ACCESS_TOKEN_TTL)
    access = access_token_claims(
        issuer=issuer,
        client_id=grant["client_id"],
        user_id=user["user_id"],
        scopes=scopes,
        now=tenant.now(),
        audience=api["identifier"] if api else None,
        lifetime=lifetime,
        organization=organization,
        include_org_name=bool(tenant.settings.get("allow_organization_name_in_authentication_api")),
        permissions=held if rbac and api and api.get("token_dialect") == "access_token_authz" else None,
        grant_type=grant_type,
        sid=grant.get("sid"),
    )
    response: dict[str, Any] = {
        "access_token": _access_token(tenant, issuer, access),
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": " ".join(scopes),
    }
    if "openid" in scopes:
        response["id_token"] = sign_id_token(tenant, issuer, grant, user, organization, nonce=nonce)
    return response


def _authorization_code(tenant: Tenant, request: Request, client: Mapping[str, Any], params: Mapping[str, str]) -> dict:
    _require_grant(client, "authorization_code")
    code = params.get("code") or ""
    if not code:
        raise _missing("code")
    if len(code) > 200:
        raise _invalid_grant(INVALID_CODE)
    grant = take_live(tenant, "code", code)
    if grant is None:
        # A replayed code revokes what it gave (RFC 6749 4.1.2).
        used = tenant.store.take_transient("code_used", _hash(code))
        if used and used.get("refresh_token"):
            tenant.store.revoke_refresh_family(used["refresh_token"])
        if used and used.get("access_token"):
            tenant.store.delete_transient(OPAQUE_KIND, used["access_token"])
        raise _invalid_grant(INVALID_CODE)
    if grant["client_id"] != client["client_id"]:
        raise _invalid_grant(INVALID_CODE)
    if params.get("redirect_uri") != grant["redirect_uri"]:
        # Auth0's wording for this case is not documented; the status and error are its invalid_grant's.
        raise _invalid_grant("redirect_uri does not match the one sent to /authorize")
    verifier = params.get("code_verifier")
    if verifier is not None and not valid_code_verifier(verifier):
        raise _invalid_grant("code_verifier must be 43 to 128 unreserved characters")
    if not verify_pkce(verifier, grant.get("code_challenge")):
        raise _invalid_grant("Failed to verify code verifier")
    response = _user_tokens(tenant, request, grant, nonce=grant.get("nonce"))
    used_record: dict[str, Any] = {"expires_at": tenant.now() + 600}
    if "." not in response["access_token"]:  # opaque: it can be revoked with the rest
        used_record["access_token"] = _hash(response["access_token"])
    if "offline_access" in response["scope"].split():
        refresh = secrets.token_urlsafe(48)
        settings, expires_at = family_settings(client.get("refresh_token") or {}, tenant.now())
        family = {k: grant.get(k) for k in _FAMILY_GRANT} | settings
        tenant.store.create_refresh_family(_hash(refresh), family, expires_at=expires_at)
        response["refresh_token"] = refresh
        used_record["refresh_token"] = _hash(refresh)
    tenant.store.put_transient("code_used", _hash(code), used_record, 600)
    return response


#: What a refresh token family keeps of the login's grant (besides its rotation settings).
_FAMILY_GRANT = ("client_id", "user_id", "scope", "audience", "organization_id", "auth_time", "sid")


def _refresh_audience(
    client: Mapping[str, Any], family: Mapping[str, Any], audience: str | None
) -> tuple[str | None, list[str]]:
    """The audience a refresh answers for and the scopes it may carry.

    Another API is Auth0's Multi-Resource Refresh Token: the client's ``refresh_token.policies`` lists the
    audiences (and, per audience, the scopes) a refresh may ask for; "Tokens requested for audiences outside your
    configured policies will be ignored by Auth0, which will return a token for the default audience instead"
    (auth0-server-python, its "Retrieving data" example; Auth0 docs, "Configure and Implement Multi-Resource Refresh
    Token"). The OIDC scopes of the login carry over.
    """
    login_scopes = str(family.get("scope") or "").split()
    if audience and audience != family.get("audience"):
        for policy in (client.get("refresh_token") or {}).get("policies") or []:
            if policy["audience"] == audience:
                oidc = [s for s in login_scopes if s in ("openid", "profile", "email", "offline_access")]
                return audience, oidc + [s for s in policy.get("scope") or [] if s not in oidc]
    return family.get("audience"), login_scopes


def _refresh_token(tenant: Tenant, request: Request, client: Mapping[str, Any], params: Mapping[str, str]) -> dict:
    _require_grant(client, "refresh_token")
    token = params.get("refresh_token") or ""
    if not token:
        raise _missing("refresh_token")
    if len(token) > 200:
        raise _invalid_grant(INVALID_REFRESH_TOKEN)
    new_token = secrets.token_urlsafe(48)
    requested = params.get("scope")
    checked: dict[str, Any] = {}

    def decide(family: dict[str, Any], current: dict[str, Any]) -> str:
        # Runs inside the store's transaction: the scope check refuses before anything rotates.
        audience, allowed = _refresh_audience(client, family["data"], params.get("audience"))
        scopes = requested.split() if requested else allowed
        extra = [s for s in scopes if s not in allowed]
        if extra and family["client_id"] == client["client_id"]:
            checked["invalid_scope"] = extra
            return "refuse"
        checked.update(audience=audience, scope=" ".join(scopes))
        return refresh_decision(family, current, client_id=client["client_id"], now=tenant.now())

    action, family = tenant.store.exchange_refresh_token(_hash(token), _hash(new_token), decide)
    if "invalid_scope" in checked:
        raise TokenError("invalid_scope", f"scope {' '.join(checked['invalid_scope'])} was not granted to this token")
    if family is None or action not in ("keep", "rotate", "reuse"):
        raise _invalid_grant(INVALID_REFRESH_TOKEN)
    grant = dict(family["data"], audience=checked["audience"], scope=checked["scope"])
    try:
        # The same checks as at login, against the member's current state: a user removed from the login's
        # organization (or deleted, or blocked) is refused and the family revoked. Auth0 does not document what
        # it does here; refusing is the safe choice, and an app must handle that answer anyway.
        response = _user_tokens(
            tenant, request, grant, nonce=None, refusal=INVALID_REFRESH_TOKEN, grant_type="refresh_token"
        )
    except TokenError:
        tenant.store.revoke_refresh_family(_hash(token))
        raise
    if action in ("rotate", "reuse"):
        response["refresh_token"] = new_token
    return response


def _client_credentials(tenant: Tenant, request: Request, client: Mapping[str, Any], params: Mapping[str, str]) -> dict:
    _require_grant(client, "client_credentials")
    audience = params.get("audience")
    management = tenant.management_audience_for(request)
    if not audience:
        raise TokenError(
            "access_denied", "No audience parameter was provided, and no default audience has been configured", 403
        )
    if audience != management:
        raise TokenError("access_denied", f"Service not found: {audience}", 403)
    granted = [str(s) for s in (client.get("scopes") or [])]
    if not granted:
        raise TokenError("access_denied", f'Client is not authorized to access "{audience}".', 403)
    scopes = granted
    if params.get("scope"):
        scopes = params["scope"].split()
        missing = [s for s in scopes if s not in granted]
        if missing:
            raise TokenError("access_denied", f"Client has not been granted scopes: {', '.join(missing)}", 403)
    claims = client_credentials_claims(
        issuer=tenant.issuer_for(request),
        client_id=client["client_id"],
        audience=audience,
        scopes=scopes,
        now=tenant.now(),
    )
    return {
        "access_token": tenant.keys.sign(claims),
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_TTL,
        "scope": " ".join(scopes),
    }


_GRANTS = {
    "authorization_code": _authorization_code,
    "refresh_token": _refresh_token,
    "client_credentials": _client_credentials,
}


def token_endpoint(tenant: Tenant) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        basic = request.headers.get("authorization", "").lower().startswith("basic ")
        try:
            params = await _parameters(request)
            grant_type = params.get("grant_type") or ""
            tenant.token_calls[grant_type[:100]] += 1
            handler = _GRANTS.get(grant_type)
            if not grant_type:
                raise _missing("grant_type")
            if handler is None:
                raise TokenError("unsupported_grant_type", f"Unsupported grant type: {grant_type[:100]}")
            client = _authenticate(tenant, request, params)
            body = handler(tenant, request, client, params)
        except TokenError as exc:
            return _error_response(exc, basic=basic)
        return JSONResponse(body, headers=_NO_STORE)

    return endpoint


def revocation_endpoint(tenant: Tenant) -> Callable[[Request], Awaitable[Response]]:
    """POST /oauth/revoke (RFC 7009): revokes a refresh token and its whole family.

    Client authentication as at /oauth/token (a failure is Auth0's 401 ``access_denied`` "Unauthorized"). An
    unknown token, or another client's (left alone), answers 200 with an empty body like a revoked one (RFC 7009
    2.2), so the endpoint tells nobody which tokens exist.
    """

    async def endpoint(request: Request) -> Response:
        basic = request.headers.get("authorization", "").lower().startswith("basic ")
        try:
            params = await _parameters(request)
            tenant.token_calls["revoke"] += 1
            client = _authenticate(tenant, request, params)
            token = params.get("token") or ""
            if not token:
                raise _missing("token")
        except TokenError as exc:
            return _error_response(exc, basic=basic)
        if len(token) <= 200:
            tenant.store.revoke_refresh_family(_hash(token), client_id=client["client_id"])
        return Response(status_code=200, headers=_NO_STORE)

    return endpoint
