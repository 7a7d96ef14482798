"""Localized invitation emails: render (Jinja2 + Babel), build (MIME) and send (SMTP)."""

from orginvite.emails.model import Invitation, sample_invitation
from orginvite.emails.renderer import EmailRenderer, RenderedEmail, RenderError

__all__ = ["EmailRenderer", "Invitation", "RenderError", "RenderedEmail", "sample_invitation"]
