"""Invitation lifecycle events (orginvite.events): the model, the emitter's background queue, the logging sink
and the Standard Webhooks sink against a real loopback receiver that verifies signatures."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest

from orginvite.events import EventEmitter, InvitationEvent, WebhookSink, fan_out, log_event
from webhook_support import Receiver

pytestmark = pytest.mark.anyio


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def event(kind: str = "invitation.created", **kw: object) -> InvitationEvent:
    return InvitationEvent(kind, "org_acme000000000001", "uinv_0000000000000001", email="zoe@example.test", **kw)


def test_the_payload_has_the_standard_webhooks_shape_and_no_ticket() -> None:
    e = event(actor="Ann", expires_at="2026-12-10T00:00:00.000Z")
    payload = e.to_dict()
    assert payload["type"] == "invitation.created" and payload["timestamp"].endswith("Z")
    assert payload["data"] == {"event_id": e.id, "organization_id": "org_acme000000000001",
                               "invitation_id": "uinv_0000000000000001", "email": "zoe@example.test",
                               "actor": "Ann", "expires_at": "2026-12-10T00:00:00.000Z"}
    with pytest.raises(ValueError, match="unknown invitation event type"):
        InvitationEvent("invitation.exploded", None, None)


async def test_the_emitter_delivers_in_order_without_the_emitter_waiting() -> None:
    gate = asyncio.Event()
    seen: list[str] = []

    async def slow(e: InvitationEvent) -> None:
        await gate.wait()
        seen.append(e.type)

    emitter = EventEmitter(slow)
    for kind in ("invitation.created", "invitation.email_sent", "invitation.accepted"):
        emitter.emit(event(kind))  # returns at once although the sink is stuck
    await asyncio.sleep(0)
    assert seen == [] and emitter.pending == 3
    gate.set()
    assert await emitter.drain()
    assert seen == ["invitation.created", "invitation.email_sent", "invitation.accepted"]
    await emitter.aclose()


async def test_a_failing_sink_is_logged_and_the_next_event_still_goes(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    async def flaky(e: InvitationEvent) -> None:
        if e.type == "invitation.created":
            raise RuntimeError("sink down")
        seen.append(e.type)

    emitter = EventEmitter(flaky)
    emitter.emit(event("invitation.created"))
    emitter.emit(event("invitation.revoked"))
    assert await emitter.drain()
    assert seen == ["invitation.revoked"] and emitter.failed == 1
    assert "invitation event sink failed on invitation.created" in caplog.text
    await emitter.aclose()


async def test_a_full_queue_drops_the_newest_and_counts_it() -> None:
    gate = asyncio.Event()

    async def stuck(e: InvitationEvent) -> None:
        await gate.wait()

    emitter = EventEmitter(stuck, max_queue=2)
    for _ in range(5):
        emitter.emit(event())
    assert emitter.pending == 2 and emitter.dropped == 3
    gate.set()
    await emitter.aclose()


def test_outside_an_event_loop_an_event_is_dropped_not_raised() -> None:
    emitter = EventEmitter(log_event)
    emitter.emit(event())
    assert emitter.dropped == 1


async def test_the_logging_sink_writes_one_json_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="orginvite.events")
    await log_event(event("invitation.failed", reason="invitation_invalid"))
    [record] = [r for r in caplog.records if r.name == "orginvite.events"]
    line = record.getMessage()
    assert "\n" not in line and json.loads(line)["data"]["reason"] == "invitation_invalid"


async def test_fan_out_reaches_every_sink_even_after_one_fails() -> None:
    seen: list[str] = []

    async def broken(e: InvitationEvent) -> None:
        raise RuntimeError("no")

    async def keep(e: InvitationEvent) -> None:
        seen.append(e.id)

    e = event()
    await fan_out(broken, keep)(e)
    assert seen == [e.id]


async def test_a_webhook_delivery_verifies_with_standardwebhooks(receiver: Receiver) -> None:
    sink = WebhookSink(receiver.url, receiver.secret)
    e = event()
    await sink(e)
    await sink.aclose()
    assert receiver.events == [e.to_dict()] and receiver.ids == [e.id] and sink.delivered == 1


async def test_a_webhook_is_retried_with_backoff_under_one_id(receiver: Receiver) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    receiver.failures_left = 2
    sink = WebhookSink(receiver.url, receiver.secret, backoff=0.5, sleep=sleep)
    e = event()
    await sink(e)
    await sink.aclose()
    assert receiver.attempts == 3 and waits == [0.5, 1.0]
    assert receiver.ids == [e.id] and sink.delivered == 1


async def test_a_wrong_secret_is_refused_by_the_receiver_and_not_retried(receiver: Receiver) -> None:
    sink = WebhookSink(receiver.url, "whsec_" + "QUJDREVGR0hJSktMTU5PUA==")
    await sink(event())
    await sink.aclose()
    assert receiver.rejected == 1 and receiver.attempts == 1 and sink.given_up == 1 and receiver.events == []


async def test_a_receiver_that_never_answers_is_given_up_after_the_attempts() -> None:
    async def no_wait(seconds: float) -> None:
        return None

    sink = WebhookSink("http://127.0.0.1:9/hook", "whsec_QUJDREVGR0hJSktMTU5PUA==", attempts=3, sleep=no_wait)
    await sink(event())  # port 9 (discard) refuses: three attempts, then logged
    await sink.aclose()
    assert sink.given_up == 1 and sink.delivered == 0


def test_a_webhook_sink_refuses_a_bad_url_or_secret_at_start_up() -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookSink("ftp://example.test/", "whsec_QUJDREVGR0hJSktMTU5PUA==")
    with pytest.raises(Exception, match="empty"):
        WebhookSink("https://example.test/", "whsec_")
