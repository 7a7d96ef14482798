"""Turn a rendered email into a standard :class:`email.message.EmailMessage`.

multipart/alternative with the text part FIRST and the HTML part last (clients show the last part they can
render), ``Content-Language``, and untrusted names reduced to one line so ``"Eve\\r\\nBcc: victim@example.com"``
stays a name.

Address headers (From, To, Cc, Reply-To) are written by this module, not by the standard library's folder: a
long display name folded by Python 3.11's generator loses its quotes (``"Zoe, ceo@evil.example, xxx..."`` arrives
as three recipients), and before 3.11.10 an encoded word in a name (``=?utf-8?q?=0D=0ABcc: ...``) is decoded and
written back as a raw header line (CVE-2024-6923). So every display name is emitted as plain atoms, a quoted
string or RFC 2047 encoded words that we encode ourselves, and text that reaches any header loses its
controls and encoded-word openers (``=?``) first, whatever the interpreter's version.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from email import policy as email_policy
from email.errors import HeaderParseError
from email.headerregistry import Address, Group, HeaderRegistry, UniqueAddressHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime, make_msgid, parseaddr

from orginvite.emails.model import one_line
from orginvite.emails.renderer import RenderedEmail
from orginvite.errors import OrgInviteError

__all__ = ["POLICY", "MailboxLike", "MessageError", "build_message", "header_text", "mailbox", "parse_mailbox"]

# A mailbox: "user@example.com", ("Display Name", "user@example.com"), or an email.headerregistry.Address.
MailboxLike = str | tuple[str, str] | Address

_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")  # RFC 5322 ftext
_RESERVED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "content-type",
     "content-transfer-encoding", "content-language", "reply-to", "sender", "return-path"}
)
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+")  # atext without "=" and "?": never reads as an encoded word
_PRINTABLE_ASCII = re.compile(r"[ -~]+")
_Q_LITERAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")  # RFC 2047 5(3)
_MAX_ENCODED_WORD = 900
_MAX_NAME_BYTES = 600  # base64: 800 characters, under _MAX_ENCODED_WORD
_SURROGATES = re.compile("[\ud800-\udfff]")


class MessageError(OrgInviteError, ValueError):
    """An address or header that cannot go into a message (names the field)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def header_text(value: object, *, limit: int) -> str:
    """Untrusted text made safe for any header: :func:`~orginvite.emails.model.one_line`, lone surrogates
    replaced, and every ``=?`` broken to ``= ?`` so that no parser (nor the CVE-2024-6923 folder) can decode
    an encoded word out of it."""
    text = _SURROGATES.sub("\ufffd", one_line(value, limit=limit))
    while "=?" in text:
        text = text.replace("=?", "= ?")
    return text


def _display_name(value: str) -> str:
    """:func:`header_text`, at most 200 characters and 600 UTF-8 bytes (its encoded word then fits a line), every
    run of Unicode whitespace one plain space (parsers collapse a no-break space inside an encoded word, so the
    name would not read back as written)."""
    name = " ".join(header_text(value, limit=200).split())
    while len(name.encode("utf-8")) > _MAX_NAME_BYTES:
        name = name[:-1].rstrip()
    return name


def _phrase_words(name: str) -> list[str]:
    """``name`` as display-name words that parse back to exactly ``name``, wherever the line is folded between
    them: atoms as they are, other printable ASCII as one quoted string (folded only at its own spaces, which
    unfolding gives back), and each run of other words as ONE encoded word. Two adjacent encoded words would
    read differently in RFC 2047 decoders (which drop the space between them) and in Python's parser (which
    keeps it), so a long run becomes a long encoded word (over RFC 2047's 75 characters rather than a wrong
    name), capped to keep the line under 998."""
    if _PRINTABLE_ASCII.fullmatch(name) and "=?" not in name:
        words = name.split(" ")
        if all(_ATOM.fullmatch(word) for word in words):
            return words
        return ('"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"').split(" ")
    words: list[str] = []
    run: list[str] = []
    for word in name.split(" "):
        if _ATOM.fullmatch(word):
            if run:
                words.append(_encoded_word(" ".join(run)))
                run = []
            words.append(word)
        else:
            run.append(word)
    if run:
        words.append(_encoded_word(" ".join(run)))
    return words


def _encoded_word(text: str) -> str:
    """One RFC 2047 encoded word for ``text`` (Q when shorter, else B), at most _MAX_ENCODED_WORD characters."""
    data = text.encode("utf-8", "replace")
    q = "".join("_" if byte == 0x20 else chr(byte) if chr(byte) in _Q_LITERAL else f"={byte:02X}" for byte in data)
    b = base64.b64encode(data).decode("ascii")
    word = f"=?utf-8?q?{q}?=" if len(q) <= len(b) else f"=?utf-8?b?{b}?="
    if len(word) > _MAX_ENCODED_WORD:
        return _encoded_word(text[: len(text) * 3 // 4])
    return word


def _mailbox_words(address: Address) -> list[str]:
    if not address.display_name:
        return [address.addr_spec]
    return [*_phrase_words(address.display_name), f"<{address.addr_spec}>"]


def _fold_address_header(name: str, groups: Iterable[Group], policy: Policy) -> str:
    """``name: mailbox, mailbox`` folded between words only, each display name encoded by :func:`_phrase_words`."""
    items: list[list[str]] = []
    for group in groups:
        members = [_mailbox_words(address) for address in group.addresses]
        if group.display_name is None:
            items.extend(members)
            continue
        words = [*_phrase_words(group.display_name)]
        words[-1] += ":"
        for index, member in enumerate(members):
            words.extend(member[:-1])
            words.append(member[-1] + ("," if index < len(members) - 1 else ""))
        words[-1] += ";"
        items.append(words)
    maxlen = policy.max_line_length or 998
    lines = [f"{name}:"]
    fresh = True  # nothing but the header name or the folding space on this line yet
    for index, words in enumerate(items):
        for position, word in enumerate(words):
            if position == len(words) - 1 and index < len(items) - 1:
                word += ","
            if word and not fresh and len(lines[-1]) + 1 + len(word) > maxlen:
                lines.append("")
            lines[-1] += " " + word
            fresh = False
    return policy.linesep.join(lines) + policy.linesep


class _EncodedAddressHeader(UniqueAddressHeader):
    """An address header that folds itself with :func:`_fold_address_header`, whatever policy flattens it."""

    def fold(self, *, policy: Policy) -> str:
        return _fold_address_header(self.name, self.groups, policy)


_HEADERS = HeaderRegistry()
for _name in ("from", "to", "cc", "bcc", "reply-to"):
    _HEADERS.map_to_type(_name, _EncodedAddressHeader)
#: The policy of every message built here: email.policy.default, except that address headers fold themselves.
POLICY = email_policy.default.clone(header_factory=_HEADERS)


def mailbox(value: MailboxLike, *, field: str = "address") -> Address:
    """A checked :class:`~email.headerregistry.Address`: ASCII local part, IDNA domain, one-line display name.

    Display names may hold anything (commas, quotes, Arabic, emoji); line breaks and control characters are
    removed (:func:`header_text`), and :func:`_fold_address_header` quotes or RFC 2047-encodes the rest.
    Addresses are validated, not repaired: a malformed one raises :class:`MessageError`.
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
        return Address(display_name=_display_name(display_name), username=local, domain=ascii_domain)
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

    message = EmailMessage(policy=POLICY)
    message["Subject"] = header_text(email.subject, limit=998)
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
        message[name] = header_text(value, limit=998)

    # Quoted-printable keeps both parts 7-bit clean and readable in the raw source.
    message.set_content(email.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(email.html, subtype="html", charset="utf-8", cte="quoted-printable")
    # After set_content, which drops any Content-* header set before it.
    message["Content-Language"] = email.content_language
    for part in message.iter_parts():
        part["Content-Language"] = email.content_language
    return message
