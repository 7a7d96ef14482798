"""Pending /authorize requests, hosted sessions and what happens once the user is known.

The pending request lives in the store (kind ``"authorize"``) under an opaque id that the hosted pages carry as
``state`` (as Auth0's ``/u/login?state=...`` does); the browser only ever holds that id. Once the user is known,
:func:`finish_sign_in` applies Auth0's organization rules (invitation, membership, enabled connection) and answers
with an :class:`Outcome`: what goes back to the client's redirect URI (a code, an ID token, both, or ``error``)
and how (query, fragment or form_post; the hosted pages turn it into the response).

Expiries are checked against ``tenant.now()`` as well as the store's own TTL, so tests can move the tenant's
clock forward and see codes, sessions and pending requests expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orginvite.devtenant.authorize_rules import INVITATION_INVALID
from orginvite.devtenant.backchannel import note_session_client, send_logout_tokens
from orginvite.devtenant.token_claims import id_token_claims

__all__ = [
    "BROWSER_COOKIE",
    "CODE_TTL",
    "PENDING_TTL",
    "SESSION_COOKIE",
    "SESSION_TTL",
    "Outcome",
    "browser_binding",
    "connection_enabled",
    "end_session",
    "error_redirect",
    "finish_sign_in",
    "invitation_expired",
    "load_pending",
    "read_session",
    "role_names",
    "save_pending",
    "sign_id_token",
    "start_session",
    "take_live",
]

log = logging.getLogger("orginvite.devtenant")

PENDING_KIND = "authorize"
PENDING_TTL = 3600.0  # long enough for a sign-up
CODE_TTL = 600.0
SESSION_KIND = "session"
SESSION_TTL = 3 * 86400.0
SESSION_COOKIE = "auth0"  # the hosted login session (Auth0's cookie name)
BROWSER_COOKIE = "did"  # a random per-browser id the pending requests are bound to (CSRF, login CSRF)

Tenant = Any  # orginvite.devtenant.app.DevTenant; typed loosely to avoid an import cycle


def browser_binding(did: str | None) -> str | None:
    """What a pending request stores of the browser cookie: a hash, so the store never holds the cookie."""
    return hashlib.sha256(did.encode()).hexdigest() if did else None


def _live(tenant: Tenant, value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None or float(value.get("expires_at", 0)) <= tenant.now():
        return None
    return dict(value)


def take_live(tenant: Tenant, kind: str, key: str) -> dict[str, Any] | None:
    """Single-use take of a transient that is also unexpired by the tenant's clock."""
    return _live(tenant, tenant.store.take_transient(kind, key))


def save_pending(tenant: Tenant, pending: dict[str, Any], pending_id: str | None = None) -> str:
    pending_id = pending_id or secrets.token_urlsafe(24)
    pending.setdefault("expires_at", tenant.now() + PENDING_TTL)
    tenant.store.put_transient(PENDING_KIND, pending_id, pending, PENDING_TTL)
    return pending_id


def load_pending(tenant: Tenant, pending_id: str | None) -> dict[str, Any] | None:
    if not pending_id or len(pending_id) > 100:
        return None
    return _live(tenant, tenant.store.get_transient(PENDING_KIND, pending_id))


def start_session(tenant: Tenant, user_id: str, auth_time: float) -> tuple[str, dict[str, Any]]:
    """A hosted login session: the cookie value (a secret) and the record (with a public ``sid``)."""
    cookie = secrets.token_urlsafe(32)
    record = {
        "user_id": user_id,
        "auth_time": auth_time,
        "sid": secrets.token_urlsafe(16),
        "expires_at": tenant.now() + SESSION_TTL,
    }
    tenant.store.put_transient(SESSION_KIND, cookie, record, SESSION_TTL)
    return cookie, record


def read_session(tenant: Tenant, cookie: str | None) -> dict[str, Any] | None:
    if not cookie or len(cookie) > 100:
        return None
    record = _live(tenant, tenant.store.get_transient(SESSION_KIND, cookie))
    if record is None or tenant.store.get_user(record["user_id"]) is None:
        return None
    return record


def end_session(tenant: Tenant, cookie: str | None, issuer: str | None = None) -> None:
    """End a hosted session; with ``issuer``, the apps it signed in to get a back-channel logout token."""
    if cookie and len(cookie) <= 100:
        record = tenant.store.take_transient(SESSION_KIND, cookie)
        if record is not None and issuer is not None:
            send_logout_tokens(tenant, issuer, record)


def end_user_sessions(tenant: Tenant, user_id: str, issuer: str) -> int:
    """End every hosted session of ``user_id`` (the Management API's session deletion); how many there were."""
    records = tenant.store.take_transients(SESSION_KIND, "user_id", user_id)
    for record in records:
        send_logout_tokens(tenant, issuer, record)
    return len(records)


@dataclass(frozen=True)
class Outcome:
    """The authorization response: parameters for the client's redirect URI and the mode that carries them."""

    redirect_uri: str
    params: dict[str, str]
    mode: str = "query"  # "query" | "fragment" | "form_post"

    @classmethod
    def to(cls, pending: Mapping[str, Any], **params: str | None) -> Outcome:
        values = {key: value for key, value in params.items() if value is not None}
        return cls(pending["redirect_uri"], values, str(pending.get("response_mode") or "query"))


def error_redirect(pending: Mapping[str, Any], error: str, description: str) -> Outcome:
    return Outcome.to(pending, error=error, error_description=description, state=pending.get("state"))


def role_names(tenant: Tenant, org_id: str, user_id: str) -> list[str]:
    roles, _ = tenant.store.list_member_roles(org_id, user_id, 0, 100)
    return [str(role["name"]) for role in roles]


def sign_id_token(
    tenant: Tenant,
    issuer: str,
    grant: Mapping[str, Any],
    user: Mapping[str, Any],
    organization: Mapping[str, Any] | None,
    *,
    nonce: str | None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The ID token for a user grant, from /oauth/token or (implicit, hybrid) straight from /authorize."""
    now = tenant.now()
    roles_claim = tenant.settings.get("id_token_roles_claim") or None
    claims = id_token_claims(
        issuer=issuer,
        client_id=grant["client_id"],
        user=user,
        scopes=str(grant.get("scope") or "").split(),
        now=now,
        auth_time=float(grant.get("auth_time") or now),
        sid=str(grant.get("sid") or ""),
        nonce=nonce,
        organization=organization,
        include_org_name=bool(tenant.settings.get("allow_organization_name_in_authentication_api")),
        roles_claim=roles_claim,
        role_names=role_names(tenant, organization["id"], user["user_id"]) if organization and roles_claim else (),
    )
    claims.update(extra or {})
    return str(tenant.keys.sign(claims))


def _left_half_hash(value: str) -> str:
    """OIDC Core 3.3.2.11 ``c_hash`` for RS256: base64url of the left half of SHA-256."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def invitation_expired(invitation: Mapping[str, Any], now: float) -> bool:
    try:
        expires = datetime.fromisoformat(str(invitation["expires_at"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return True
    return now > expires


def user_connection(user: Mapping[str, Any]) -> str:
    identities = user.get("identities") or []
    if identities and isinstance(identities[0], Mapping):
        return str(identities[0].get("connection") or "")
    return "Username-Password-Authentication"


def connection_enabled(tenant: Tenant, org_id: str, connection_name: str) -> dict[str, Any] | None:
    """The org's enabled-connection record for ``connection_name``, or None."""
    for enabled in tenant.store.list_enabled_connections(org_id):
        name = (enabled.get("connection") or {}).get("name")
        if name == connection_name:
            return dict(enabled)
    return None


def finish_sign_in(
    tenant: Tenant, pending: Mapping[str, Any], user: Mapping[str, Any], session: Mapping[str, Any]
) -> Outcome:
    """Apply the organization rules for ``user`` and answer with the authorization response (or the error)."""
    store = tenant.store
    user_id = user["user_id"]
    if user.get("blocked"):  # PATCH /api/v2/users/{id} {"blocked": true}; Auth0's callback error for it
        return error_redirect(pending, "unauthorized", "user is blocked")
    org_id = pending.get("organization_id")
    organization = store.get_organization(org_id) if org_id else None
    if org_id and organization is None:
        return error_redirect(pending, "invalid_request", f"no organization found with id {org_id}")

    if organization is not None and connection_enabled(tenant, org_id, user_connection(user)) is None:
        return error_redirect(
            pending,
            "access_denied",
            f"the connection {user_connection(user)} is not enabled for the {org_id} organization",
        )

    invitation_id = pending.get("invitation_id")
    if invitation_id:
        invitation = store.get_invitation(org_id, invitation_id)
        if invitation is None or invitation_expired(invitation, tenant.now()):
            return error_redirect(pending, *INVITATION_INVALID)
        invitee = str((invitation.get("invitee") or {}).get("email") or "")
        if invitee.lower() != str(user.get("email") or "").lower():
            # Auth0 consumes the invitation when another account tries to accept it.
            store.delete_invitation(org_id, invitation_id)
            log.info("invitation %s consumed by another account", invitation_id)
            return error_redirect(
                pending, "access_denied", "the specified account is not allowed to accept the current invitation"
            )
        if not store.accept_invitation(invitation_id, user_id):
            return error_redirect(pending, *INVITATION_INVALID)
    elif organization is not None and not store.is_member(org_id, user_id):
        enabled = connection_enabled(tenant, org_id, user_connection(user)) or {}
        if not enabled.get("assign_membership_on_login"):
            return error_redirect(pending, "access_denied", f"user {user_id} is not part of the {org_id} organization")
        store.add_members(org_id, [user_id])

    store.record_login(user_id)
    response_type = str(pending.get("response_type") or "code")
    code = secrets.token_urlsafe(32) if "code" in response_type.split() else None
    grant = {
        "client_id": pending["client_id"],
        "redirect_uri": pending["redirect_uri"],
        "user_id": user_id,
        "scope": pending.get("scope") or "openid",
        "nonce": pending.get("nonce"),
        "code_challenge": pending.get("code_challenge"),
        "audience": pending.get("audience"),
        "organization_id": org_id,
        "auth_time": session["auth_time"],
        "sid": session["sid"],
        "expires_at": tenant.now() + CODE_TTL,
    }
    note_session_client(tenant, str(session["sid"]), str(pending["client_id"]), SESSION_TTL)
    id_token = None
    if "id_token" in response_type.split():
        extra = {"c_hash": _left_half_hash(code)} if code else None
        id_token = sign_id_token(
            tenant, str(pending["issuer"]), grant, user, organization, nonce=pending.get("nonce"), extra=extra
        )
    if code is not None:
        store.put_transient("code", code, grant, CODE_TTL)
    return Outcome.to(pending, code=code, id_token=id_token, state=pending.get("state"))


def same_browser(pending: Mapping[str, Any], did: str | None) -> bool:
    bound = pending.get("browser")
    actual = browser_binding(did)
    return bool(bound) and actual is not None and hmac.compare_digest(str(bound), actual)
