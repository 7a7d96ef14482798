"""The ASGI lifespan of an app behind the login flow: the inner app's own, with the flow's clients and stores
closed at its shutdown.

An inner app without a lifespan (it raises or returns before answering startup, which servers tolerate as
"lifespan unsupported") is answered here instead: otherwise nothing would ever close the HTTP clients, stores and
queued invitation events the flow holds.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["run_lifespan"]

logger = logging.getLogger("orginvite.login")


async def run_lifespan(app: ASGIApp, scope: Scope, receive: Receive, send: Send,
                       close: Callable[[], Awaitable[None]]) -> None:
    """Run ``app``'s lifespan, calling ``close`` when the server's ``lifespan.shutdown`` arrives."""
    sent: list[str] = []
    received: list[str] = []

    async def watched_receive() -> Message:
        message = await receive()
        received.append(message["type"])
        if message["type"] == "lifespan.shutdown":
            await close()
        return message

    async def watched_send(message: Message) -> None:
        sent.append(message["type"])
        await send(message)

    try:
        await app(scope, watched_receive, watched_send)
    except Exception:
        if sent:
            raise
        logger.debug("the inner app has no lifespan; the login flow answers it", exc_info=True)
    if sent:
        return
    if "lifespan.startup" not in received:
        await watched_receive()
    await send({"type": "lifespan.startup.complete"})
    while "lifespan.shutdown" not in received:
        await watched_receive()
    await send({"type": "lifespan.shutdown.complete"})
