"""A Standard Webhooks receiver on loopback: verifies every delivery with the ``standardwebhooks`` package (as an
app receiving orginvite's invitation events would) and records what it accepted; it can be held down (answer
503) or blocked (answer nothing until released) to show that a sink's trouble never reaches the sender."""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response

from orginvite.testing import LiveServer

__all__ = ["Receiver"]


class Receiver:
    """``Receiver().start()``; ``.url``, ``.secret``; ``.events`` verified payloads, ``.ids`` their webhook-ids."""

    def __init__(self) -> None:
        self.secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        self._webhook = Webhook(self.secret)
        self.events: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.rejected = 0
        self.attempts = 0
        self.failures_left = 0  # answer 503 to this many deliveries first
        self.released = threading.Event()
        self.released.set()
        self._server = LiveServer(self._app, interface="asgi3")

    def start(self) -> Receiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url + "/hooks/orginvite"

    def block(self) -> None:
        self.released.clear()

    async def _app(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        self.attempts += 1
        while not self.released.is_set():
            await asyncio.sleep(0.01)
        if self.failures_left > 0:
            self.failures_left -= 1
            await Response(status_code=503)(scope, receive, send)
            return
        try:
            payload = self._webhook.verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.rejected += 1
            await Response(status_code=400)(scope, receive, send)
            return
        self.events.append(payload)
        self.ids.append(request.headers["webhook-id"])
        await Response(status_code=204)(scope, receive, send)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The first ``count`` events, once that many arrived (a ceiling, not a timed assertion)."""
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.events) >= count, self.events
        return self.events[:count]
