"""Localized invitation emails: render (Jinja2 + Babel), build (MIME), send (SMTP), preview, capture (outbox)."""

from orginvite.emails.message import MessageError, build_message, mailbox
from orginvite.emails.model import Invitation, sample_invitation
from orginvite.emails.renderer import EmailRenderer, RenderedEmail, RenderError
from orginvite.emails.sender import SendError, SMTPSender, SMTPSettings, send_message

__all__ = [
    "EmailRenderer",
    "Invitation",
    "MessageError",
    "RenderError",
    "RenderedEmail",
    "SMTPSender",
    "SMTPSettings",
    "SendError",
    "build_message",
    "mailbox",
    "sample_invitation",
    "send_message",
]
