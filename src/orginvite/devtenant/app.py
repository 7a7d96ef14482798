"""The dev tenant as one object: config, store, signing keys and the ASGI app, creatable in-process for tests.

    tenant = DevTenant()                      # the seeded demo tenant, in memory
    with tenant.serve() as server:            # a real loopback server (orginvite.testing.LiveServer)
        discovery = httpx2.get(server.url + "/.well-known/openid-configuration").json()

The issuer is derived from the request (``http://127.0.0.1:<port>/``) unless one is configured, so the same
tenant object works on whatever free port a test picks.
"""

from __future__ import annotations

import html
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route

from orginvite.emails.message import MailboxLike
from orginvite.emails.outbox import Outbox
from orginvite.emails.sender import SMTPSettings
from orginvite.testing import LiveServer

from . import auth_api, management_api
from .config import TenantConfig, TenantConfigError, load_config, seed
from .keys import KeyRing
from .mail import TenantMail
from .store import Store

__all__ = ["DevTenant"]


def _normalize_issuer(issuer: str) -> str:
    parts = urlsplit(issuer)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise TenantConfigError("issuer", f"must be an absolute http(s) URL without query or fragment (got {issuer!r})")
    return issuer if issuer.endswith("/") else issuer + "/"


class DevTenant:
    """An Auth0-compatible tenant: Authentication API at the root, Management API under /api/v2.

    Invitations created with ``send_invitation_email`` (Auth0's default) get their email, in the invitee's
    language: over SMTP with ``smtp`` (settings or an ``smtp://`` URL), else into :attr:`outbox`, served at
    ``/outbox/`` to local clients (``outbox_allow_remote=True`` to any client). ``outbox_url`` names where the
    emails sent over SMTP can be read (the SMTP catcher's page ``orginvite demo`` runs): the home page links it
    instead of the tenant's own outbox, which then only keeps what SMTP refused.
    """

    def __init__(
        self,
        config: str | Path | Mapping[str, Any] | TenantConfig | None = None,
        *,
        db: str | Path = ":memory:",
        issuer: str | None = None,
        clock: Callable[[], float] = time.time,
        smtp: SMTPSettings | str | None = None,
        email_from: MailboxLike | None = None,
        outbox_allow_remote: bool = False,
        outbox_url: str | None = None,
    ) -> None:
        self._clock = clock
        self.outbox_url = outbox_url
        self._issuer = _normalize_issuer(issuer) if issuer else None
        self.config: TenantConfig = config if isinstance(config, TenantConfig) else load_config(config)
        self.store = Store(db, clock=self.now)
        try:
            seed(self.store, self.config)
        except BaseException:
            self.store.close()
            raise
        self.keys = KeyRing(self.store)
        # A plain dict on purpose: tests flip settings (say, organization names) on a live tenant.
        self.settings: dict[str, Any] = self.config.settings
        #: POST /oauth/token calls by grant_type and POST /oauth/revoke calls as "revoke", every call whose body
        #: parses (refused ones included): tests count refreshes at the tenant (``token_calls["refresh_token"]``).
        self.token_calls: Counter[str] = Counter()
        try:
            self.mail = TenantMail(
                self.store,
                self.settings,
                smtp=smtp,
                email_from=email_from,
                outbox_allow_remote=outbox_allow_remote,
                clock=self.now,
            )
        except BaseException:
            self.store.close()
            raise
        self.app = Starlette(
            routes=[
                Route("/", self._index, methods=["GET"]),
                Route("/healthz", self._healthz, methods=["GET"]),
                *auth_api.routes(self),
                Mount("/api/v2", routes=management_api.routes(self)),
                Mount("/outbox", app=self.mail.app),
            ]
        )

    @property
    def outbox(self) -> Outbox:
        """The invitation emails the tenant kept (all of them when no SMTP is configured)."""
        return self.mail.outbox

    # -- time and URLs

    def now(self) -> float:
        """The tenant's clock (tests pass their own and advance it to expire codes and invitations)."""
        return self._clock()

    @property
    def configured_issuer(self) -> str | None:
        return self._issuer

    def issuer_for(self, request: Request) -> str:
        """The configured issuer, else the request's base URL; always with a trailing slash."""
        if self._issuer:
            return self._issuer
        base = str(request.base_url)
        return base if base.endswith("/") else base + "/"

    def management_audience_for(self, request: Request) -> str:
        return self.issuer_for(request) + "api/v2/"

    # -- running

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> LiveServer:
        """A loopback server for this tenant, not yet started: use it as a context manager."""
        return LiveServer(self.app, host=host, port=port)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> DevTenant:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the two small pages of our own

    async def _healthz(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    def _mail_rows(self, issuer: str) -> list[tuple[str, str]]:
        """Where the invitation emails can be read: sent over SMTP they never reach the tenant's own outbox."""
        if self.mail.smtp is None:
            return [("Invitation emails (outbox)", issuer + "outbox/")]
        rows = [("Invitation emails", self.mail.describe(issuer))]
        if self.outbox_url:
            rows.append(("Invitation emails (outbox)", self.outbox_url))
        return [*rows, ("Emails SMTP refused (outbox)", issuer + "outbox/")]

    async def _index(self, request: Request) -> HTMLResponse:
        """A map of the tenant for a developer's browser: endpoints, applications and organizations."""
        issuer = self.issuer_for(request)
        endpoints = [
            ("OpenID Connect discovery", issuer + ".well-known/openid-configuration"),
            ("JSON Web Key Set", issuer + ".well-known/jwks.json"),
            ("Authorize", issuer + "authorize"),
            ("Token", issuer + "oauth/token"),
            ("Revoke", issuer + "oauth/revoke"),
            ("User info", issuer + "userinfo"),
            ("Logout", issuer + "v2/logout"),
            ("Management API (audience)", self.management_audience_for(request)),
            *self._mail_rows(issuer),
            ("Health check", issuer + "healthz"),
        ]
        organizations, _ = self.store.list_organizations(limit=100)
        e = html.escape
        rows = "".join(f"<tr><th>{e(label)}</th><td><code>{e(url)}</code></td></tr>" for label, url in endpoints)
        clients = "".join(
            f"<li><code>{e(c['client_id'])}</code> {e(c.get('name') or '')} ({e(c.get('app_type') or '')})</li>"
            for c in self.store.list_clients()
        )
        orgs = "".join(
            f"<li><code>{e(o['id'])}</code> <code>{e(o['name'])}</code> <bdi>{e(o['display_name'])}</bdi></li>"
            for o in organizations
        )
        name = e(str(self.settings.get("friendly_name") or "orginvite dev tenant"))
        body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
th{{text-align:left;padding-right:1rem;font-weight:600}}code{{font-size:.9em}}</style></head>
<body><h1>{name}</h1>
<p>An Auth0-compatible development tenant (orginvite). Point your app's OpenID Connect client at the issuer.</p>
<table><tr><th>Issuer</th><td><code>{e(issuer)}</code></td></tr>{rows}</table>
<h2>Applications</h2><ul>{clients}</ul>
<h2>Organizations</h2><ul>{orgs}</ul>
</body></html>"""
        return HTMLResponse(body, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
