"""Turn a rendered email into a standard :class:`email.message.EmailMessage`.

multipart/alternative with the text part FIRST and the HTML part last (clients show the last part they can
render), ``Content-Language``, RFC 2047-encoded subject and display names through ``email.headerregistry``,
and untrusted display names reduced to one line so ``"Eve\\r\\nBcc: victim@example.com"`` stays a name.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from orginvite.emails.model import one_line
from orginvite.emails.renderer import RenderedEmail
from orginvite.errors import OrgInviteError

__all__ = ["MailboxLike", "MessageError", "build_message", "mailbox", "parse_mailbox"]

# A mailbox: "user@example.com", ("Display Name", "user@example.com"), or an email.headerregistry.Address.
MailboxLike = str | tuple[str, str] | Address

_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")  # RFC 5322 ftext
_RESERVED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "content-type",
     "content-transfer-encoding", "content-language", "reply-to", "sender", "return-path"}
)
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")


class MessageError(OrgInviteError, ValueError):
    """An address or header that cannot go into a message (names the field)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def mailbox(value: MailboxLike, *, field: str = "address") -> Address:
    """A checked :class:`~email.headerregistry.Address`: ASCII local part, IDNA domain, one-line display name.

    Display names may hold anything (commas, quotes, Arabic, emoji); line breaks and control characters are
    removed, and the header machinery quotes or RFC 2047-encodes the rest. Addresses are validated, not
    repaired: a malformed one raises :class:`MessageError`.
    """
    if isinstance(value, Address):
        display_name, addr_spec = value.display_name, value.addr_spec
    elif isinstance(value, tuple) and len(value) == 2:
        display_name, addr_spec = value
    elif isinstance(value, str):
        display_name, addr_spec = "", value
    else:
        raise MessageError(field, "expected an address, a (name, address) pair or an Address")
    if not isinstance(addr_spec, str) or not isinstance(display_name, str):
        raise MessageError(field, "name and address must be strings")
    addr_spec = addr_spec.strip()
    local, at, domain = addr_spec.rpartition("@")
    if not at or not _LOCAL_PART.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise MessageError(field, "not a valid email address")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise MessageError(field, "the domain is not a valid host name") from exc
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?", x) for x in labels):
        raise MessageError(field, "the domain is not a valid host name")
    try:
        return Address(display_name=one_line(display_name, limit=200), username=local, domain=ascii_domain)
    except (HeaderParseError, ValueError, IndexError) as exc:
        raise MessageError(field, "not a valid email address") from exc


def parse_mailbox(value: str, *, field: str = "address") -> Address:
    """A From/Reply-To setting as operators write it, ``"Acme <no-reply@acme.example>"`` or a bare address, checked
    as :func:`mailbox` checks it. Only for configuration: invitee addresses stay bare addresses (no display name
    smuggled in from a CSV or a form)."""
    name, address = parseaddr(value)
    if not address:
        raise MessageError(field, "not a mailbox")
    return mailbox((name, address), field=field)



def build_message(
    email: RenderedEmail,
    *,
    sender: MailboxLike,
    to: MailboxLike | Sequence[MailboxLike],
    reply_to: MailboxLike | None = None,
    headers: Mapping[str, str] | None = None,
    date: dt.datetime | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """The MIME message for ``email``: text part first, HTML part last, ``Content-Language`` set.

    ``headers`` adds extra headers (``List-Unsubscribe``, ``X-Entity-Ref-ID`` ...); addressing and MIME headers
    cannot be overridden that way. ``Message-ID`` is generated on the sender's domain unless given.
    """
    from_address = mailbox(sender, field="sender")
    recipients = [to] if isinstance(to, str | tuple | Address) else list(to)
    if not recipients:
        raise MessageError("to", "at least one recipient is needed")
    to_addresses = [mailbox(item, field="to") for item in recipients]

    message = EmailMessage()
    message["Subject"] = one_line(email.subject, limit=998)
    message["From"] = from_address
    message["To"] = to_addresses
    if reply_to is not None:
        message["Reply-To"] = mailbox(reply_to, field="reply_to")
    message["Date"] = format_datetime(date or dt.datetime.now(dt.UTC))
    message["Message-ID"] = message_id or make_msgid(domain=from_address.domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to an invitation
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise MessageError("headers", f"invalid header name {str(name)[:40]!r}")
        if name.lower() in _RESERVED_HEADERS:
            raise MessageError("headers", f"{name} is set by build_message")
        message[name] = one_line(value, limit=998)

    # Quoted-printable keeps both parts 7-bit clean and readable in the raw source.
    message.set_content(email.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(email.html, subtype="html", charset="utf-8", cte="quoted-printable")
    # After set_content, which drops any Content-* header set before it.
    message["Content-Language"] = email.content_language
    for part in message.iter_parts():
        part["Content-Language"] = email.content_language
    return message
