"""Bearer-token checks for the Management API: who is calling, and with which scopes.

The access tokens are the ones ``/oauth/token`` issues for client credentials (RS256 by the tenant's KeyRing;
iss, sub "<client_id>@clients", aud = the management audience, exp, scope, azp, gty). Each failure maps to the
401 message Auth0 gives for it, so apps can test their token-refresh paths against the dev tenant.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orginvite.devtenant.keys import InvalidSignatureError, KeyRing
from orginvite.devtenant.management_errors import forbidden_scope, unauthorized

__all__ = ["Principal", "authenticate", "require_scope"]

_MAX_HEADER = 16_384

MISSING = "Missing authentication"
BAD_FORMAT = "Bad HTTP authentication header format"
INVALID = "Invalid token"
BAD_SIGNATURE = "Invalid signature received for JSON Web Token validation"
EXPIRED = "Expired token received for JSON Web Token validation"
BAD_AUDIENCE = "Bad audience"
NOT_GLOBAL = "Client is not global."


@dataclass(frozen=True)
class Principal:
    """The calling machine-to-machine client and the scopes its token grants."""

    client_id: str
    scopes: frozenset[str]


def _segment_json(segment: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):  # deep nesting: RecursionError
        return None


def bearer_token(authorization: str | None) -> str:
    """The token from an ``Authorization: Bearer ...`` header, or the 401 Auth0 gives."""
    if authorization is None or authorization.strip() == "":
        raise unauthorized(MISSING)
    if len(authorization) > _MAX_HEADER:
        raise unauthorized(INVALID)
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise unauthorized(BAD_FORMAT)
    return token


def authenticate(
    authorization: str | None,
    *,
    keys: KeyRing,
    audience: str,
    issuer: str,
    now: float,
    client_exists: Callable[[str], bool],
) -> Principal:
    """Verifies the token's structure, signature, expiry, audience, issuer and client; raises a 401."""
    token = bearer_token(authorization)
    parts = token.split(".")
    # A token that is not even a JWT is "Invalid token"; a JWT whose signature fails is the signature message.
    if len(parts) != 3 or not all(parts) or not isinstance(_segment_json(parts[0]), dict):
        raise unauthorized(INVALID)
    if not isinstance(_segment_json(parts[1]), dict):
        raise unauthorized(INVALID)
    try:
        claims = keys.verify(token)
    except InvalidSignatureError as exc:
        raise unauthorized(BAD_SIGNATURE) from exc
    return _check_claims(claims, audience=audience, issuer=issuer, now=now, client_exists=client_exists)


def _check_claims(
    claims: Mapping[str, Any], *, audience: str, issuer: str, now: float, client_exists: Callable[[str], bool]
) -> Principal:
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise unauthorized(INVALID)
    if now >= exp:
        raise unauthorized(EXPIRED)
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in audiences:
        raise unauthorized(BAD_AUDIENCE)
    if claims.get("iss") != issuer:
        raise unauthorized(INVALID)
    azp, sub = claims.get("azp"), claims.get("sub")
    if not isinstance(azp, str) or not azp or not isinstance(sub, str):
        raise unauthorized(INVALID)
    # Only client-credentials tokens of a known client may call the Management API (Auth0: "Client is not global").
    if sub != f"{azp}@clients" or claims.get("gty") != "client-credentials" or not client_exists(azp):
        raise unauthorized(NOT_GLOBAL)
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise unauthorized(INVALID)
    return Principal(client_id=azp, scopes=frozenset(scope.split()))


def require_scope(principal: Principal, *any_of: str) -> None:
    """403 ``insufficient_scope`` naming the scopes that would have been accepted."""
    if not principal.scopes.intersection(any_of):
        raise forbidden_scope(*any_of)
