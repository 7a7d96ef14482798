"""An SMTP catcher: every message sent to it lands in an :class:`~orginvite.emails.outbox.Outbox` (like Mailpit).

``orginvite demo`` runs one so that the example app sends its invitations over real SMTP, exactly as it would in
production, and the developer reads them on the outbox page. It accepts any sender and recipient, relays nothing
and is meant for loopback only.

    outbox = Outbox()
    server = await serve_smtp(outbox, host="127.0.0.1", port=1025)   # in a running event loop
    ...
    server.close(); await server.wait_closed()

Needs ``aiosmtpd`` (a dependency of orginvite since the demo became the README's main job).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import socket
from email.message import EmailMessage
from typing import Any

from orginvite.emails.outbox import Outbox, read_header

__all__ = ["MAX_MESSAGE_BYTES", "OutboxHandler", "serve_smtp"]

logger = logging.getLogger("orginvite.emails.catcher")

MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class OutboxHandler:
    """An aiosmtpd handler that parses each message and adds it to ``outbox``."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        message = email.message_from_bytes(content, policy=email.policy.default)
        if not isinstance(message, EmailMessage):  # pragma: no cover - policy.default always builds one
            return "554 5.6.0 unreadable message"
        entry = self.outbox.add(message, locale=read_header(message, "Content-Language") or None, raw=content)
        logger.info("caught message %s for %d recipient(s)", entry.id, len(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


async def serve_smtp(
    outbox: Outbox,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sock: socket.socket | None = None,
    hostname: str = "orginvite-catcher",
) -> asyncio.Server:
    """Start the catcher in the running loop, on ``sock`` if given (bound already) else on ``host:port``."""
    try:
        from aiosmtpd.smtp import SMTP
    except ImportError as exc:  # pragma: no cover - aiosmtpd is a dependency; a broken install says so
        raise RuntimeError("the SMTP catcher needs aiosmtpd: pip install aiosmtpd") from exc

    handler = OutboxHandler(outbox)

    def factory() -> SMTP:
        return SMTP(handler, hostname=hostname, data_size_limit=MAX_MESSAGE_BYTES, ident="orginvite SMTP catcher")

    loop = asyncio.get_running_loop()
    if sock is not None:
        return await loop.create_server(factory, sock=sock)
    return await loop.create_server(factory, host=host, port=port)
