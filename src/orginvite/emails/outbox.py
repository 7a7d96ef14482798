"""An in-memory outbox (like Mailpit) and a mailer that delivers invitations over SMTP or into it.

The dev tenant uses these for invitations created with ``send_invitation_email=true``: over SMTP when
``ORGINVITE_SMTP_URL`` is set, otherwise into an :class:`Outbox` whose ASGI app lists the messages and serves
each one as HTML (sandboxed), text and raw ``.eml``. Nothing is dropped: when neither is configured, the mailer
refuses to start; when SMTP fails, the error propagates (or, with ``keep_failed=True`` and an outbox, the
message is kept in the outbox with the error shown beside it: the dev tenant's choice, since Auth0 answers the
API call whatever its mail provider does).

    outbox = Outbox()
    mailer = InvitationMailer(renderer, sender=("Acme Dev", "no-reply@acme.test"), outbox=outbox)
    delivery = await mailer.deliver(invitation)          # an orginvite.emails.Invitation
    app = Starlette(routes=[Mount("/outbox", app=outbox.app)])
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from orginvite.emails.message import MailboxLike, build_message, mailbox
from orginvite.emails.model import Invitation
from orginvite.emails.renderer import EmailRenderer, RenderedEmail
from orginvite.emails.sender import SendError, SendResult, SMTPSender
from orginvite.errors import ConfigurationError

__all__ = ["Delivery", "InvitationMailer", "Outbox", "OutboxEntry", "read_header"]

_HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer", "x-content-type-options": "nosniff"}
_RAW_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; base-uri 'none'"
_UI_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; base-uri 'none'"
_UNFOLD = re.compile(r"\r?\n")


def _displayable(text: str) -> str:
    """``text`` without the surrogate escapes the parser leaves for undecodable bytes (they cannot be encoded)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _parsed(message: EmailMessage, name: str, raw: Any) -> Any:
    """The header object for one raw header, or None when the parser cannot read it.

    Any SMTP client can hand the catcher any header, and email.headerregistry raises on some (``To: (c)<``:
    IndexError, a group where a mailbox was expected: AttributeError, ...), so every failure counts."""
    try:
        return message.policy.header_fetch_parse(name, raw)
    except Exception:  # the stdlib parser's failures on hostile input are untyped
        return None


def read_header(message: EmailMessage, name: str) -> str | None:
    """The first ``name`` header as the parser reads it, or its raw (unfolded) value when it does not parse."""
    for key, raw in message.raw_items():
        if key.lower() == name.lower():
            parsed = _parsed(message, key, raw)
            return _displayable(str(parsed) if parsed is not None else _UNFOLD.sub("", str(raw)))
    return None


def _header_items(message: EmailMessage) -> list[tuple[str, str]]:
    """Every header as ``(name, value)``, each value as :func:`read_header` gives it."""
    items = []
    for key, raw in message.raw_items():
        parsed = _parsed(message, key, raw)
        items.append((key, _displayable(str(parsed) if parsed is not None else _UNFOLD.sub("", str(raw)))))
    return items


@dataclass(frozen=True)
class OutboxEntry:
    id: str
    message: EmailMessage
    received_at: dt.datetime
    locale: str | None = None
    error: str | None = None  # why SMTP did not take it (kept here instead of being lost)
    raw: bytes | None = None  # the bytes as received (the catcher's), served as the .eml

    @property
    def subject(self) -> str:
        return read_header(self.message, "Subject") or ""

    @property
    def to(self) -> list[str]:
        """The recipients' addresses; the raw value, as one item, when the header does not parse."""
        for key, raw in self.message.raw_items():
            if key.lower() == "to":
                parsed = _parsed(self.message, key, raw)
                if parsed is None:
                    return [_displayable(_UNFOLD.sub("", str(raw)))]
                return [_displayable(address.addr_spec) for address in getattr(parsed, "addresses", ())]
        return []

    def part(self, subtype: str) -> str | None:
        body = self.message.get_body(preferencelist=(subtype,))
        if body is None:
            return None
        try:
            return body.get_content()
        except LookupError:  # an unknown charset: show the bytes as UTF-8, as mail clients guess
            payload = body.get_payload(decode=True)
            return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "from": read_header(self.message, "From") or "",
            "to": self.to,
            "locale": self.locale,
            "message_id": read_header(self.message, "Message-ID") or "",
            "received_at": self.received_at.isoformat(),
            "error": self.error,
        }


class Outbox:
    """Captured messages, newest first, at most ``capacity`` (the oldest go first); thread-safe."""

    def __init__(self, capacity: int = 500, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        if capacity < 1:
            raise ConfigurationError("outbox capacity", "must be at least 1")
        self.capacity = capacity
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._entries: OrderedDict[str, OutboxEntry] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/", self._index),
                Route("/messages", self._list_json),
                Route("/messages/{id}", self._detail),
                Route("/messages/{id}/html", self._html),
                Route("/messages/{id}/text", self._text),
                Route("/messages/{id}/raw", self._raw),
            ]
        )

    def add(
        self, message: EmailMessage, *, locale: str | None = None, error: str | None = None, raw: bytes | None = None
    ) -> OutboxEntry:
        with self._lock:
            entry = OutboxEntry(str(next(self._ids)), message, self.clock(), locale, error, raw)
            self._entries[entry.id] = entry
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return entry

    def messages(self) -> list[OutboxEntry]:
        with self._lock:
            return list(reversed(self._entries.values()))

    def get(self, entry_id: str) -> OutboxEntry | None:
        with self._lock:
            return self._entries.get(entry_id)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # --- the ASGI app ----------------------------------------------------------------------------------------------

    def _entry(self, request: Request) -> OutboxEntry | Response:
        entry = self.get(request.path_params["id"])
        if entry is None:
            return PlainTextResponse("No such message in the outbox.", status_code=404, headers=_HEADERS)
        return entry

    async def _index(self, request: Request) -> Response:
        base = str(request.scope.get("root_path", "")).rstrip("/")
        rows = "".join(
            f'<tr><td><a href="{base}/messages/{entry.id}">{html_lib.escape(entry.subject)}</a></td>'
            f"<td>{html_lib.escape(', '.join(entry.to))}</td><td>{html_lib.escape(entry.locale or '')}</td>"
            f"<td>{entry.received_at:%Y-%m-%d %H:%M:%S}</td>"
            f"<td>{html_lib.escape('not sent: ' + entry.error) if entry.error else ''}</td></tr>"
            for entry in self.messages()
        )
        body = rows or '<tr><td colspan="5">No messages yet.</td></tr>'
        return HTMLResponse(
            _page("Outbox", "<table><thead><tr><th>Subject</th><th>To</th><th>Locale</th><th>Received</th>"
                            f"<th>SMTP</th></tr></thead><tbody>{body}</tbody></table>"),
            headers={**_HEADERS, "content-security-policy": _UI_CSP},
        )

    async def _list_json(self, request: Request) -> Response:
        return JSONResponse({"messages": [entry.summary() for entry in self.messages()]}, headers=_HEADERS)

    async def _detail(self, request: Request) -> Response:
        entry = self._entry(request)
        if isinstance(entry, Response):
            return entry
        if "application/json" in request.headers.get("accept", ""):
            data = entry.summary() | {"text": entry.part("plain"), "html": entry.part("html"),
                                      "headers": [list(item) for item in _header_items(entry.message)]}
            return JSONResponse(data, headers=_HEADERS)
        base = str(request.scope.get("root_path", "")).rstrip("/")
        headers = "".join(
            f"<tr><th>{html_lib.escape(name)}</th><td>{html_lib.escape(value)}</td></tr>"
            for name, value in _header_items(entry.message)
        )
        text = html_lib.escape(entry.part("plain") or "")
        link = f"{base}/messages/{entry.id}"
        problem = f'<p role="alert">Not sent over SMTP: {html_lib.escape(entry.error)}</p>' if entry.error else ""
        content = (
            f'{problem}<p><a href="{base}/">All messages</a> · <a href="{link}/text">Text</a> · '
            f'<a href="{link}/raw" download>Raw .eml</a></p>'
            f"<table>{headers}</table>"
            f'<iframe sandbox title="HTML part" src="{link}/html"></iframe>'
            f"<pre>{text}</pre>"
        )
        return HTMLResponse(_page(entry.subject, content), headers={**_HEADERS, "content-security-policy": _UI_CSP})

    async def _html(self, request: Request) -> Response:
        entry = self._entry(request)
        if isinstance(entry, Response):
            return entry
        return HTMLResponse(entry.part("html") or "", headers={**_HEADERS, "content-security-policy": _RAW_CSP})

    async def _text(self, request: Request) -> Response:
        entry = self._entry(request)
        if isinstance(entry, Response):
            return entry
        return PlainTextResponse(entry.part("plain") or "", headers=_HEADERS)

    async def _raw(self, request: Request) -> Response:
        entry = self._entry(request)
        if isinstance(entry, Response):
            return entry
        return Response(
            entry.raw if entry.raw is not None else entry.message.as_bytes(),
            media_type="message/rfc822",
            headers={**_HEADERS, "content-disposition": f'attachment; filename="message-{entry.id}.eml"'},
        )


def _page(title: str, content: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">'
        f"<title>{html_lib.escape(title)}</title><style>"
        "body{font:15px/1.5 system-ui,sans-serif;margin:1.5rem;color-scheme:light dark}"
        "table{border-collapse:collapse;width:100%}th,td{text-align:start;padding:.3rem .5rem;"
        "border-bottom:1px solid #8884;vertical-align:top}iframe{width:100%;height:800px;border:1px solid #8886;"
        "background:#fff}pre{white-space:pre-wrap}</style></head><body>"
        f"<h1>{html_lib.escape(title)}</h1>{content}</body></html>"
    )


@dataclass(frozen=True)
class Delivery:
    """What happened to one invitation email: rendered, built, and sent over SMTP or kept in the outbox.

    ``error`` is set when SMTP failed and the mailer kept the message in the outbox (``keep_failed=True``).
    """

    rendered: RenderedEmail
    message: EmailMessage
    smtp: SendResult | None = None
    outbox_entry: OutboxEntry | None = None
    error: SendError | None = None


class InvitationMailer:
    """Render -> build -> send over SMTP if configured, else keep in the outbox. One per process.

    With ``keep_failed=True`` (and an outbox), an SMTP failure does not raise: the message goes to the outbox
    with the error, and the returned :class:`Delivery` carries it.
    """

    def __init__(
        self,
        renderer: EmailRenderer,
        *,
        sender: MailboxLike,
        smtp: SMTPSender | None = None,
        outbox: Outbox | None = None,
        reply_to: MailboxLike | None = None,
        headers: Mapping[str, str] | None = None,
        keep_failed: bool = False,
    ) -> None:
        if smtp is None and outbox is None:
            raise ConfigurationError("mailer", "configure SMTP or an outbox: invitation emails must go somewhere")
        if keep_failed and outbox is None:
            raise ConfigurationError("mailer", "keep_failed needs an outbox to keep failed messages in")
        self.keep_failed = keep_failed
        self.renderer = renderer
        self.sender = mailbox(sender, field="sender")
        self.reply_to = mailbox(reply_to, field="reply_to") if reply_to is not None else None
        self.smtp = smtp
        self.outbox = outbox
        self.headers = dict(headers or {})

    async def deliver(self, invitation: Invitation, **render_options: Any) -> Delivery:
        rendered = self.renderer.render(invitation, **render_options)
        message = build_message(
            rendered,
            sender=self.sender,
            to=invitation.invitee_email,
            reply_to=self.reply_to,
            headers=self.headers,
        )
        if self.smtp is not None:
            try:
                result = await self.smtp.send(message)
            except SendError as exc:
                if not self.keep_failed or self.outbox is None:
                    raise
                entry = self.outbox.add(message, locale=rendered.locale, error=str(exc))
                return Delivery(rendered, message, outbox_entry=entry, error=exc)
            return Delivery(rendered, message, smtp=result)
        assert self.outbox is not None
        return Delivery(rendered, message, outbox_entry=self.outbox.add(message, locale=rendered.locale))
