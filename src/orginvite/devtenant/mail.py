"""Invitation emails of the dev tenant: what Auth0 sends when an invitation is created with
``send_invitation_email=true`` (the default), rendered by :mod:`orginvite.emails` in the invitee's language.

Over SMTP when the tenant is given SMTP settings (``orginvite tenant serve --smtp-url`` or
``ORGINVITE_SMTP_URL``), otherwise into an in-memory :class:`~orginvite.emails.outbox.Outbox` that the tenant
serves at ``/outbox/`` like Mailpit (list, HTML, text, raw ``.eml``). An SMTP failure never fails the API call
(Auth0's does not either) and never loses the email: it is kept in the outbox with the error, and logged.

The outbox holds invitation links, which are secrets: it answers clients on this machine only, unless the
tenant was created with ``outbox_allow_remote=True``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from orginvite.emails.local import is_local_client
from orginvite.emails.message import MailboxLike, MessageError, mailbox, parse_mailbox
from orginvite.emails.model import Invitation
from orginvite.emails.outbox import Delivery, InvitationMailer, Outbox
from orginvite.emails.renderer import EmailRenderer, RenderError
from orginvite.emails.sender import SMTPSender, SMTPSettings

from .config import TenantConfigError
from .store import Record, Store

__all__ = ["DEFAULT_EMAIL_FROM", "TenantMail", "invitation_for_email"]

log = logging.getLogger("orginvite.devtenant.mail")

DEFAULT_EMAIL_FROM = "no-reply@tenant.orginvite.test"


@lru_cache(maxsize=8)
def _renderer(default_locale: str) -> EmailRenderer:
    # One renderer per default locale for the whole process: it compiles templates and inlines CSS once.
    return EmailRenderer(default_locale=default_locale)


def invitation_for_email(store: Store, invitation: Mapping[str, Any], settings: Mapping[str, Any]) -> Invitation:
    """The email's view of a stored invitation: the organization, roles and application it only names by id."""
    organization = store.get_organization(str(invitation["organization_id"])) or {"id": invitation["organization_id"]}
    roles = [role for role in (store.get_role(role_id) for role_id in invitation.get("roles") or ()) if role]
    client = store.get_client(str(invitation.get("client_id"))) or {}
    application = {
        "name": client.get("name") or "",
        "client_id": client.get("client_id") or invitation.get("client_id"),
        "metadata": client.get("client_metadata") or {},
    }
    return Invitation.from_management_api(
        invitation,
        organization=organization,
        roles=roles,
        application=application,
        tenant=settings,
    )


class _LocalOnly:
    def __init__(self, app: ASGIApp, allow_remote: bool) -> None:
        self.app = app
        self.allow_remote = allow_remote

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allow_remote and not is_local_client(scope):
            response = PlainTextResponse(
                "The outbox only answers clients on this machine: it holds invitation links.",
                status_code=403,
                headers={"cache-control": "no-store"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class TenantMail:
    """The tenant's mailer and outbox. ``smtp`` None keeps every email in the outbox."""

    def __init__(
        self,
        store: Store,
        settings: Mapping[str, Any],
        *,
        smtp: SMTPSettings | str | None = None,
        email_from: MailboxLike | None = None,
        outbox_allow_remote: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock  # the tenant's: "expires in N days" counts from the tenant's now, as expires_at does
        try:
            self.smtp = SMTPSettings.from_url(smtp) if isinstance(smtp, str) else smtp
        except ValueError as exc:
            raise TenantConfigError("smtp_url", str(exc)) from exc
        default_sender = (str(settings.get("friendly_name") or "").strip(), DEFAULT_EMAIL_FROM)
        try:
            if isinstance(email_from, str):  # as operators write it: "Acme <no-reply@acme.test>" or an address
                self.sender = parse_mailbox(email_from, field="email_from")
            else:
                self.sender = mailbox(email_from if email_from is not None else default_sender, field="email_from")
        except ValueError as exc:
            raise TenantConfigError("email_from", exc.problem if isinstance(exc, MessageError) else str(exc)) from exc
        self.outbox = Outbox()
        self.app: ASGIApp = _LocalOnly(self.outbox.app, outbox_allow_remote)
        self._mailer: InvitationMailer | None = None
        self._lock = threading.Lock()

    @property
    def mailer(self) -> InvitationMailer:
        """Created on the first email, so a tenant that never sends one never loads the email stack."""
        if self._mailer is None:
            with self._lock:
                if self._mailer is None:
                    self._mailer = InvitationMailer(
                        _renderer(str(self.settings.get("default_locale") or "en")),
                        sender=self.sender,
                        smtp=SMTPSender(self.smtp) if self.smtp is not None else None,
                        outbox=self.outbox,
                        keep_failed=True,
                    )
        return self._mailer

    def describe(self, base_url: str = "/") -> str:
        """One line for the start-up banner: where invitation emails go (never the SMTP password)."""
        if self.smtp is None:
            return f"kept in the outbox, {base_url.rstrip('/')}/outbox/"
        return f"over SMTP to {self.smtp.host}:{self.smtp.effective_port} from {self.sender}"

    async def deliver(self, invitation: Record, *, ticket_hash: str = "") -> Delivery | None:
        """Send ``invitation``'s email. An email that cannot be made (a template that does not render, an
        invitee address no mail header can carry, such as a non-ASCII local part) is logged as an error and
        gives None: the invitation exists, and Auth0 does not fail the API call over its email either."""
        try:
            delivery = await self.mailer.deliver(
                invitation_for_email(self.store, invitation, self.settings),
                now=dt.datetime.fromtimestamp(self.clock(), dt.UTC),
            )
        except (RenderError, MessageError) as exc:
            log.error("invitation %s: no email sent, %s", invitation.get("id"), exc)
            return None
        if delivery.error is not None:
            log.error(
                "invitation %s (ticket #%s): SMTP failed, the email is in the outbox instead: %s",
                invitation.get("id"),
                ticket_hash,
                delivery.error,
            )
        else:
            log.info(
                "invitation %s (ticket #%s): email in %s sent %s",
                invitation.get("id"),
                ticket_hash,
                delivery.rendered.locale,
                "over SMTP" if delivery.smtp is not None else "to the outbox",
            )
        return delivery
