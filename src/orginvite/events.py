"""An invitation's life as events an app can act on, and the sinks that receive them.

``orginvite.management`` (create, send, resend, revoke, bulk) and the login flow (accepted, failed at the
callback) emit one :class:`InvitationEvent` per step. An event names the organization, the invitation's ID (never
its ticket: that is a bearer secret until accepted), the invitee's email where known, who acted, when, and why it
failed. Sinks are async callables ``await sink(event)``, configured as ``Settings(on_invitation_event=...)`` for
the login flow and ``ManagementClient(..., on_invitation_event=...)`` for the Management API side:

- any ``async def`` of the app (write to its audit log, notify the inviter...);
- :func:`log_event`: one structured line per event on the ``orginvite.events`` logger;
- :class:`WebhookSink`: POSTs the event as JSON signed per the Standard Webhooks spec (the ``standardwebhooks``
  package signs; a receiver verifies with the same package), retried with exponential backoff;
- :func:`fan_out` sends each event to several sinks.

Sinks never run inside the request that emitted the event: :class:`EventEmitter` puts events on a bounded queue
that one background task drains in order, so a slow, failing or unreachable sink neither fails nor slows the
invite form or the sign-in; when the queue is full, the newest event is dropped and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EVENT_TYPES",
    "EventEmitter",
    "EventSink",
    "InvitationEvent",
    "RecordedEvents",
    "WebhookSink",
    "fan_out",
    "log_event",
]

logger = logging.getLogger("orginvite.events")

EVENT_TYPES = frozenset({
    "invitation.created",
    "invitation.email_sent",
    "invitation.email_failed",
    "invitation.resent",
    "invitation.revoked",
    "invitation.accepted",
    "invitation.failed",
})


@dataclass(frozen=True)
class InvitationEvent:
    """One step of an invitation's life. Holds no ticket and no invitation URL: safe to log, store and send."""

    type: str
    organization_id: str | None
    invitation_id: str | None
    email: str | None = None
    actor: str | None = None  # the inviter's name, the admin who revoked, the invitee's user ID when accepted
    reason: str | None = None  # failures: the kind (invitation_invalid, wrong_account, not_a_member...) or error
    expires_at: str | None = None  # created / resent: the invitation's expiry as the Management API gives it
    replaces: str | None = None  # resent: the ID of the invitation the new one replaces
    occurred_at: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: "evt_" + secrets.token_hex(12))

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown invitation event type {self.type!r}")

    @property
    def timestamp(self) -> str:
        """``occurred_at`` as ISO 8601 in UTC, with milliseconds."""
        when = dt.datetime.fromtimestamp(self.occurred_at, tz=dt.UTC)
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def to_dict(self) -> dict[str, Any]:
        """The Standard Webhooks payload shape: ``{"type", "timestamp", "data"}`` (the event ID travels as the
        ``webhook-id`` header and in ``data.event_id``)."""
        data: dict[str, Any] = {"event_id": self.id, "organization_id": self.organization_id,
                                "invitation_id": self.invitation_id}
        for name in ("email", "actor", "reason", "expires_at", "replaces"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return {"type": self.type, "timestamp": self.timestamp, "data": data}


#: ``await sink(event)``; what it raises is logged, never seen by the code that emitted the event.
EventSink = Callable[[InvitationEvent], Awaitable[None]]


async def log_event(event: InvitationEvent) -> None:
    """The logging sink: one JSON line per event on the ``orginvite.events`` logger (level INFO)."""
    logger.info("%s", json.dumps(event.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":")))


def fan_out(*sinks: EventSink) -> EventSink:
    """One sink that hands each event to every one of ``sinks`` in turn; one failing does not stop the others."""

    async def each(event: InvitationEvent) -> None:
        for sink in sinks:
            try:
                await sink(event)
            except Exception:
                logger.exception("invitation event sink %r failed on %s", sink, event.type)

    return each


class EventEmitter:
    """Delivers events to one sink from a background task, in the order they were emitted.

    :meth:`emit` never waits and never raises: the event goes on a queue of at most ``max_queue`` events (the
    newest is dropped, with a warning, when it is full) drained by one task of the running event loop. Outside an
    event loop the event is dropped with a warning. :meth:`drain` waits (bounded) for what is queued: scripts
    call it before they exit (``ManagementClient.aclose`` does).
    """

    def __init__(self, sink: EventSink | None, *, max_queue: int = 1000) -> None:
        if sink is not None and not callable(sink):
            raise TypeError("on_invitation_event must be an async callable (event) -> None")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.sink = sink
        self.max_queue = max_queue
        self._queue: deque[InvitationEvent] = deque()
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0  # events lost to a full queue or to no event loop (lets apps and tests see it)
        self.failed = 0  # events the sink raised on

    def emit(self, event: InvitationEvent) -> None:
        if self.sink is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._drop(event, "no running event loop")
            return
        if self._loop is not loop or self._worker is None or self._worker.done():
            if self._loop is not loop:
                self._queue.clear()  # events of a loop that is gone cannot be delivered by this one
            self._loop = loop
            self._wake = asyncio.Event()
            self._worker = loop.create_task(self._run(), name="orginvite-invitation-events")
        if len(self._queue) >= self.max_queue:
            self._drop(event, "queue full")
            return
        self._queue.append(event)
        assert self._wake is not None
        self._wake.set()

    def _drop(self, event: InvitationEvent, why: str) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 100 == 0:
            logger.warning("invitation event %s (%s) dropped: %s (%d dropped so far)", event.type, event.id, why,
                           self.dropped)

    async def _run(self) -> None:
        assert self._wake is not None and self.sink is not None
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            event = self._queue[0]
            try:
                await self.sink(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failed += 1
                logger.exception("invitation event sink failed on %s (%s)", event.type, event.id)
            finally:
                if self._queue and self._queue[0] is event:
                    self._queue.popleft()

    @property
    def pending(self) -> int:
        """Events queued or being delivered."""
        return len(self._queue)

    async def drain(self, timeout: float = 5.0) -> bool:
        """Wait until the queue is empty (True) or ``timeout`` seconds have passed (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._queue and self._loop is loop and self._worker is not None and not self._worker.done():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return not self._queue

    async def aclose(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout`` seconds), then stop the background task."""
        await self.drain(timeout)
        worker, self._worker = self._worker, None
        if worker is not None and not worker.done():
            worker.cancel()
            if self._loop is asyncio.get_running_loop():
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
        if self._queue:
            logger.warning("%d invitation event(s) not delivered before shutdown", len(self._queue))


class WebhookSink:
    """POSTs each event as JSON to ``url``, signed per Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature`` headers), with ``secret`` a ``whsec_...`` base64 secret as that spec defines it.

    A delivery is retried on a network error, a timeout, 429 and 5xx, up to ``attempts`` times, waiting
    ``backoff * 2**n`` seconds (at most ``max_backoff``) between tries; another 4xx means the receiver refused the
    event for good (a wrong secret...) and is logged. Every attempt of one event carries the same ``webhook-id``,
    so a receiver can ignore duplicates. Runs behind an :class:`EventEmitter`: its waits never reach a request.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
        http: Any = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        from standardwebhooks import Webhook

        if not url.startswith(("https://", "http://")):
            raise ValueError("the webhook URL must be http(s)")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.url = url
        self._webhook = Webhook(secret)  # refuses an empty or non-base64 secret here, at start-up
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self._http = http
        self._owns_http = http is None
        self._sleep = sleep
        self.delivered = 0
        self.given_up = 0

    def __repr__(self) -> str:  # never the secret
        return f"WebhookSink({self.url!r})"

    def _client(self) -> Any:
        if self._http is None:
            import httpx2

            self._http = httpx2.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False)
        return self._http

    def signed(self, event: InvitationEvent) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one delivery of ``event`` (signed now)."""
        body = json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":"))
        now = dt.datetime.now(tz=dt.UTC)
        signature = self._webhook.sign(event.id, now, body)
        headers = {
            "content-type": "application/json",
            "webhook-id": event.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        return body.encode("utf-8"), headers

    async def __call__(self, event: InvitationEvent) -> None:
        import httpx2

        http = self._client()
        for attempt in range(self.attempts):
            if attempt:
                await self._sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
            body, headers = self.signed(event)  # signed per attempt: the timestamp must be recent
            try:
                response = await http.post(self.url, content=body, headers=headers, timeout=self.timeout)
            except httpx2.HTTPError as exc:
                logger.info("webhook delivery of %s failed (attempt %d): %s", event.id, attempt + 1,
                            type(exc).__name__)
                continue
            if 200 <= response.status_code < 300:
                self.delivered += 1
                return
            if response.status_code != 429 and response.status_code < 500:
                self.given_up += 1
                logger.warning("webhook receiver refused %s with HTTP %d: not retried", event.id,
                               response.status_code)
                return
            logger.info("webhook delivery of %s answered HTTP %d (attempt %d)", event.id, response.status_code,
                        attempt + 1)
        self.given_up += 1
        logger.warning("webhook delivery of %s (%s) given up after %d attempts", event.id, event.type, self.attempts)

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None


class RecordedEvents:
    """A sink that keeps the last ``capacity`` events in memory, with an ASGI page listing them (the demo's
    ``/events`` page beside the outbox; ``/events.json`` for scripts)."""

    def __init__(self, capacity: int = 500) -> None:
        self.events: deque[InvitationEvent] = deque(maxlen=capacity)

    async def __call__(self, event: InvitationEvent) -> None:
        self.events.append(event)

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        from html import escape

        from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse

        headers = {"cache-control": "no-store", "x-content-type-options": "nosniff",
                   "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'"}
        path = scope.get("path", "")
        response: Any
        if scope["type"] != "http":
            return
        if path.endswith(".json"):
            response = JSONResponse([e.to_dict() for e in self.events], headers=headers)
        elif scope.get("method") not in ("GET", "HEAD"):
            response = PlainTextResponse("Method Not Allowed", 405, headers={"allow": "GET, HEAD"})
        else:
            rows = "".join(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                    *(escape(str(v or "")) for v in (e.timestamp, e.type, e.organization_id, e.invitation_id,
                                                     e.email, e.reason or e.actor)))
                for e in reversed(self.events)
            ) or '<tr><td colspan="6">No events yet: invite someone.</td></tr>'
            response = HTMLResponse(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Invitation events</title>"
                "<style>body{font-family:system-ui,sans-serif;margin:2rem}td,th{padding:.3rem .6rem;"
                "border-bottom:1px solid #ddd;text-align:left}</style></head><body><h1>Invitation events</h1>"
                "<p>Newest first. <a href=\"/\">Outbox</a></p><table><thead><tr><th>When</th><th>Event</th>"
                "<th>Organization</th><th>Invitation</th><th>Email</th><th>Actor / reason</th></tr></thead>"
                f"<tbody>{rows}</tbody></table></body></html>", headers=headers)
        await response(scope, receive, send)
