"""OIDC Back-Channel Logout, the provider's side: when a hosted session ends, tell the apps it signed in to.

As Auth0 does, a logout token (a JWT with ``typ: logout+jwt``, iss, aud, iat, exp, jti, sid, sub and the logout
event) is POSTed as a form to the ``oidc_logout.backchannel_logout_urls`` of every client the session issued
tokens to. Delivery runs in the background with a few retries: a receiver that is down or answers an error never
fails the logout that caused it. Auth0 refuses loopback and private addresses for that URL; the dev tenant sends
to them (the app under development runs on this machine).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import httpx2

__all__ = ["BACKCHANNEL_LOGOUT_EVENT", "logout_token", "note_session_client", "send_logout_tokens"]

logger = logging.getLogger("orginvite.devtenant")

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
CLIENTS_KIND = "session_clients"  # transients: the clients a hosted session (by sid) issued tokens to
_LIFETIME = 120  # seconds a logout token is valid: it is sent at once, retries make a fresh one
_RETRIES = (0.5, 2.0, 5.0)  # waits before the second, third and fourth attempt
_TIMEOUT = 5.0
_pending: set[asyncio.Task[None]] = set()  # strong references: a task nobody holds may be collected mid-flight

Tenant = Any  # orginvite.devtenant.app.DevTenant


def note_session_client(tenant: Tenant, sid: str, client_id: str, ttl: float) -> None:
    """Remember that the hosted session ``sid`` signed the user in to ``client_id``."""
    known = tenant.store.get_transient(CLIENTS_KIND, sid) or {"clients": []}
    if client_id not in known["clients"]:
        known["clients"].append(client_id)
        tenant.store.put_transient(CLIENTS_KIND, sid, known, ttl)


def logout_token(tenant: Tenant, issuer: str, client_id: str, user_id: str, sid: str) -> str:
    now = int(tenant.now())
    claims = {
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + _LIFETIME,
        "jti": secrets.token_urlsafe(16),
        "sub": user_id,
        "sid": sid,
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    return str(tenant.keys.sign(claims, headers={"typ": "logout+jwt"}))


def send_logout_tokens(tenant: Tenant, issuer: str, session: Mapping[str, Any]) -> int:
    """Queue a logout token for each client of the ended hosted ``session`` that has a back-channel URL; the
    number queued. Returns at once; the POSTs run on the event loop."""
    sid = str(session.get("sid") or "")
    user_id = str(session.get("user_id") or "")
    if not sid or not user_id:
        return 0
    known = tenant.store.take_transient(CLIENTS_KIND, sid) or {"clients": []}
    queued = 0
    for client_id in known["clients"]:
        client = tenant.store.get_client(client_id) or {}
        for url in (client.get("oidc_logout") or {}).get("backchannel_logout_urls") or []:
            def token(client_id: str = client_id) -> str:
                return logout_token(tenant, issuer, client_id, user_id, sid)

            task = asyncio.get_running_loop().create_task(_deliver(str(url), token))
            _pending.add(task)
            task.add_done_callback(_pending.discard)
            queued += 1
    return queued


async def _deliver(url: str, token: Callable[[], str]) -> None:
    """POST a logout token, a few times if the receiver is unreachable or fails (a fresh token, with a new jti,
    each time: a receiver that noted the first one's jti would refuse it as a replay)."""
    async with httpx2.AsyncClient(timeout=_TIMEOUT, follow_redirects=False) as client:
        for attempt, wait in enumerate((0.0, *_RETRIES)):
            if wait:
                await asyncio.sleep(wait)
            try:
                response = await client.post(url, data={"logout_token": token()})
            except httpx2.HTTPError as exc:
                logger.warning("back-channel logout to %s failed (attempt %d): %s", url, attempt + 1,
                               type(exc).__name__)
                continue
            if response.status_code == 200:
                return
            logger.warning("back-channel logout to %s answered %d (attempt %d)", url, response.status_code,
                           attempt + 1)
            if 400 <= response.status_code < 500:
                return  # the receiver refused the token: sending it again will not help
    logger.warning("back-channel logout to %s given up", url)
