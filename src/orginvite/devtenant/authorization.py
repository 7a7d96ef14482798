"""Pending /authorize requests, hosted sessions and what happens once the user is known.

The pending request lives in the store (kind ``"authorize"``) under an opaque id that the hosted pages carry as
``state`` (as Auth0's ``/u/login?state=...`` does); the browser only ever holds that id. Once the user is known,
:func:`finish_sign_in` applies Auth0's organization rules (invitation, membership, enabled connection) and answers
with the URL to send the browser to: the client's redirect URI with a code, or with ``error``.

Expiries are checked against ``tenant.now()`` as well as the store's own TTL, so tests can move the tenant's
clock forward and see codes, sessions and pending requests expire.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orginvite.devtenant.authorize_rules import INVITATION_INVALID, add_query

__all__ = [
    "BROWSER_COOKIE",
    "CODE_TTL",
    "PENDING_TTL",
    "SESSION_COOKIE",
    "SESSION_TTL",
    "browser_binding",
    "connection_enabled",
    "end_session",
    "error_redirect",
    "finish_sign_in",
    "invitation_expired",
    "load_pending",
    "read_session",
    "save_pending",
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


def end_session(tenant: Tenant, cookie: str | None) -> None:
    if cookie and len(cookie) <= 100:
        tenant.store.delete_transient(SESSION_KIND, cookie)


def error_redirect(pending: Mapping[str, Any], error: str, description: str) -> str:
    return add_query(
        pending["redirect_uri"], {"error": error, "error_description": description, "state": pending.get("state")}
    )


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
) -> str:
    """Apply the organization rules for ``user`` and answer with the redirect URL (a code or an error)."""
    store = tenant.store
    user_id = user["user_id"]
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
    code = secrets.token_urlsafe(32)
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
    store.put_transient("code", code, grant, CODE_TTL)
    return add_query(pending["redirect_uri"], {"code": code, "state": pending.get("state")})


def same_browser(pending: Mapping[str, Any], did: str | None) -> bool:
    bound = pending.get("browser")
    actual = browser_binding(did)
    return bool(bound) and actual is not None and hmac.compare_digest(str(bound), actual)
