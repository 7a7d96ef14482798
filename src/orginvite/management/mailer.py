"""The SMTP :class:`~orginvite.management.invite.InvitationSender`: orginvite.emails' renderer, builder and sender.

One object per process: the renderer loads templates and catalogs once, and each invitation is one SMTP
connection (invitations are rare). Configuration from the environment:

- ``ORGINVITE_SMTP_URL``: ``smtp://host:port``, ``smtp://user:pass@host:587``, ``smtps://...`` (see
  :mod:`orginvite.emails.sender`).
- ``ORGINVITE_EMAIL_FROM``: the From mailbox, ``"Acme <no-reply@acme.example>"`` or a bare address.
- ``ORGINVITE_EMAIL_REPLY_TO`` (optional): where replies go (the inviter's team, support).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.headerregistry import Address
from typing import TYPE_CHECKING

from orginvite.emails.message import MailboxLike, MessageError, build_message, mailbox
from orginvite.emails.message import parse_mailbox as emails_parse_mailbox
from orginvite.emails.renderer import EmailRenderer
from orginvite.emails.sender import SMTPSender, SMTPSettings
from orginvite.errors import ConfigurationError
from orginvite.management.invite import SentEmail

if TYPE_CHECKING:
    from orginvite.emails.model import Invitation

__all__ = ["SmtpInvitationSender", "parse_mailbox", "sender_from_env"]

_MESSAGE_KEY = re.compile(r"(?=.{1,100}\Z)[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")  # dot-atom: a Message-ID's left


def parse_mailbox(value: str, setting: str) -> Address:
    """``"Acme <no-reply@acme.example>"`` or a bare address -> a checked Address; errors name ``setting``."""
    try:
        return emails_parse_mailbox(value, field=setting)
    except MessageError as exc:
        raise ConfigurationError(setting, exc.problem) from exc


class SmtpInvitationSender:
    """Renders an invitation in the invitee's language, builds the MIME message and sends it over SMTP."""

    def __init__(
        self,
        smtp: SMTPSettings | SMTPSender,
        *,
        from_address: MailboxLike,
        reply_to: MailboxLike | None = None,
        renderer: EmailRenderer | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.smtp = smtp if isinstance(smtp, SMTPSender) else SMTPSender(smtp)
        self.from_address = mailbox(from_address, field="from_address")  # fail at start-up, not at the 1st email
        self.reply_to = mailbox(reply_to, field="reply_to") if reply_to is not None else None
        self.renderer = renderer or EmailRenderer()
        self.headers = dict(headers or {})

    async def send_invitation(
        self, invitation: Invitation, *, to_name: str | None = None, message_key: str | None = None
    ) -> SentEmail:
        rendered = self.renderer.render(invitation)
        to: MailboxLike = (to_name, invitation.invitee_email) if to_name else invitation.invitee_email
        # A key that cannot be a Message-ID's left part gets a fresh random one: never a malformed header.
        keyed = bool(message_key and _MESSAGE_KEY.fullmatch(message_key))
        message_id = f"<{message_key}@{self.from_address.domain}>" if keyed else None
        message = build_message(
            rendered, sender=self.from_address, to=to, reply_to=self.reply_to, headers=self.headers,
            message_id=message_id,
        )
        result = await self.smtp.send(message)
        return SentEmail(message_id=result.message_id or str(message["Message-ID"]), locale=rendered.locale)


def sender_from_env(environ: Mapping[str, str], *, renderer: EmailRenderer | None = None) -> SmtpInvitationSender:
    """The sender configured by ``ORGINVITE_SMTP_URL``, ``ORGINVITE_EMAIL_FROM`` and ``ORGINVITE_EMAIL_REPLY_TO``."""
    settings = SMTPSettings.from_env(environ)
    if settings is None:
        raise ConfigurationError("ORGINVITE_SMTP_URL", "not set: orginvite needs an SMTP server to send invitations")
    from_value = environ.get("ORGINVITE_EMAIL_FROM", "").strip()
    if not from_value:
        raise ConfigurationError("ORGINVITE_EMAIL_FROM", "not set: the From address of invitation emails")
    reply_value = environ.get("ORGINVITE_EMAIL_REPLY_TO", "").strip()
    return SmtpInvitationSender(
        settings,
        from_address=parse_mailbox(from_value, "ORGINVITE_EMAIL_FROM"),
        reply_to=parse_mailbox(reply_value, "ORGINVITE_EMAIL_REPLY_TO") if reply_value else None,
        renderer=renderer,
    )
