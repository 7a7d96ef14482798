"""The claims of the tokens the dev tenant signs, as pure functions (the briefing's token contract).

Kept apart from the endpoints so the shape of a token can be read (and tested) in one place: what a relying
party sees here is what it would see from Auth0 with Organizations enabled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "ACCESS_TOKEN_TTL",
    "ID_TOKEN_TTL",
    "OIDC_SCOPES",
    "access_token_claims",
    "client_credentials_claims",
    "granted_scopes",
    "id_token_claims",
    "userinfo_claims",
]

ID_TOKEN_TTL = 36000
ACCESS_TOKEN_TTL = 86400  # Auth0's default, also the lifetime of the opaque /userinfo-only token
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")


def _updated_at(user: Mapping[str, Any]) -> str | None:
    value = user.get("updated_at")
    return value if isinstance(value, str) else None


def userinfo_claims(user: Mapping[str, Any], scopes: Sequence[str]) -> dict[str, Any]:
    """Profile claims by scope, as Auth0's /userinfo and ID token give them."""
    claims: dict[str, Any] = {"sub": user["user_id"]}
    if "profile" in scopes:
        email = str(user.get("email") or "")
        claims["name"] = user.get("name") or email
        claims["nickname"] = user.get("nickname") or email.split("@", 1)[0]
        claims["picture"] = user.get("picture") or ""
        updated = _updated_at(user)
        if updated is not None:
            claims["updated_at"] = updated
    if "email" in scopes:
        claims["email"] = user.get("email")
        claims["email_verified"] = bool(user.get("email_verified"))
    return claims


def id_token_claims(
    *,
    issuer: str,
    client_id: str,
    user: Mapping[str, Any],
    scopes: Sequence[str],
    now: float,
    auth_time: float,
    sid: str,
    nonce: str | None = None,
    organization: Mapping[str, Any] | None = None,
    include_org_name: bool = False,
    roles_claim: str | None = None,
    role_names: Sequence[str] = (),
) -> dict[str, Any]:
    """ID token claims; ``org_id`` (and lowercase ``org_name`` when names are allowed) when an org is in play."""
    claims = userinfo_claims(user, scopes)
    claims.update(
        {
            "iss": issuer,
            "aud": client_id,
            "azp": client_id,
            "iat": int(now),
            "exp": int(now) + ID_TOKEN_TTL,
            "auth_time": int(auth_time),
            "sid": sid,
        }
    )
    if nonce is not None:
        claims["nonce"] = nonce
    if organization is not None:
        claims["org_id"] = organization["id"]
        if include_org_name:
            claims["org_name"] = str(organization["name"]).lower()
        if roles_claim:
            claims[roles_claim] = list(role_names)
    return claims


def granted_scopes(
    requested: Sequence[str],
    *,
    api_scopes: Sequence[str] = (),
    permissions: Sequence[str] | None = None,
    offline_access: bool = False,
) -> list[str]:
    """What Auth0 grants of ``requested``, in the order asked: openid/profile/email; ``offline_access`` when the
    client and the API allow it; the API's own scopes, and with RBAC (``permissions`` given) only those the user
    holds. Anything else (an unknown scope, another API's) is silently left out, as Auth0 does."""
    granted: list[str] = []
    for scope in requested:
        oidc = scope in ("openid", "profile", "email") or (scope == "offline_access" and offline_access)
        api = scope in api_scopes and (permissions is None or scope in permissions)
        if (oidc or api) and scope not in granted:
            granted.append(scope)
    return granted


def access_token_claims(
    *,
    issuer: str,
    client_id: str,
    user_id: str,
    scopes: Sequence[str],
    now: float,
    audience: str | None = None,
    lifetime: int = ACCESS_TOKEN_TTL,
    organization: Mapping[str, Any] | None = None,
    include_org_name: bool = False,
    permissions: Sequence[str] | None = None,
    grant_type: str | None = None,
    sid: str | None = None,
) -> dict[str, Any]:
    """A user's access token. For an API ``aud`` is the API, plus /userinfo when ``openid`` was granted (Auth0
    then gives the array); without one it is /userinfo alone (the token endpoint makes that one opaque).
    ``permissions`` is the RBAC claim (``token_dialect = "access_token_authz"``); ``grant_type`` becomes ``gty``,
    which Auth0 sets for the refresh_token and password grants only among user grants (Auth0's access token
    profile; auth0/docs-v2#1282 adds client credentials)."""
    userinfo = issuer + "userinfo"
    if audience and audience != userinfo:
        aud: str | list[str] = [audience, userinfo] if "openid" in scopes else audience
    else:
        aud = [userinfo]
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": user_id,
        "aud": aud,
        "iat": int(now),
        "exp": int(now) + int(lifetime),
        "scope": " ".join(scopes),
        "azp": client_id,
    }
    if organization is not None:
        claims["org_id"] = organization["id"]
        if include_org_name:
            claims["org_name"] = str(organization["name"]).lower()
    if permissions is not None:
        claims["permissions"] = list(permissions)
    if grant_type is not None:
        claims["gty"] = grant_type
    if sid is not None:
        claims["sid"] = sid
    return claims


def client_credentials_claims(
    *, issuer: str, client_id: str, audience: str, scopes: Sequence[str], now: float
) -> dict[str, Any]:
    """A machine-to-machine token for the Management API (the briefing's contract)."""
    return {
        "iss": issuer,
        "sub": f"{client_id}@clients",
        "aud": audience,
        "iat": int(now),
        "exp": int(now) + ACCESS_TOKEN_TTL,
        "scope": " ".join(scopes),
        "gty": "client-credentials",
        "azp": client_id,
    }
