"""The five-minute story's invitation events at a real webhook receiver (Standard Webhooks signatures verified
with the standardwebhooks package), and a receiver in trouble never holding up the invite form."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from workspace_support import ACME, Stack, forms_of

from orginvite.events import WebhookSink
from webhook_support import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def stack(receiver: Receiver) -> Iterator[Stack]:
    # The sink's client makes its connections in the app server's loop, and nothing there closes a sink the app
    # was given (it is the host app's): without keep-alive each delivery's connection closes with its answer.
    http = httpx2.AsyncClient(limits=httpx2.Limits(max_keepalive_connections=0), trust_env=False)
    s = Stack(on_invitation_event=WebhookSink(receiver.url, receiver.secret, http=http))
    yield s
    s.close()


def invite(stack: Stack, client: httpx2.Client, email: str) -> httpx2.Response:
    page = client.get(stack.url + "/")
    token = next(f for f in forms_of(page.text) if f["action"] == "/invitations")["fields"]["csrf_token"]
    member = next(r["id"] for r in stack.tenant.store.list_roles(0, 100)[0] if r["name"] == "member")
    return client.post(stack.url + "/invitations", follow_redirects=False, data={
        "csrf_token": token, "email": email, "name": "Zoé", "language": "fr", "roles": [member]})


def test_every_event_of_the_story_arrives_once_in_order_and_verified(stack: Stack, receiver: Receiver) -> None:
    with stack.client() as admin:
        stack.sign_in(admin)
        assert invite(stack, admin, "zoe@example.test").status_code == 303
    with stack.client() as teammate:
        landed = stack.accept(teammate, stack.invitation_link("zoe@example.test"), "Zoé Martin")
        assert str(landed.url) == stack.url + "/"
    created, sent, accepted = receiver.wait_for(3)
    assert [e["type"] for e in (created, sent, accepted)] == [
        "invitation.created", "invitation.email_sent", "invitation.accepted"]
    invitation_id = created["data"]["invitation_id"]
    assert invitation_id.startswith("uinv_") and sent["data"]["invitation_id"] == invitation_id
    assert {e["data"]["organization_id"] for e in (created, sent, accepted)} == {ACME}
    assert created["data"]["email"] == sent["data"]["email"] == accepted["data"]["email"] == "zoe@example.test"
    assert created["data"]["actor"]  # the inviter's name
    assert len(set(receiver.ids)) == len(receiver.ids) == 3 and receiver.rejected == 0
    # nothing else is on its way: both emitters are empty, so no event comes twice
    assert stack.workspace.api.events.pending == 0
    for e in receiver.events:
        assert "ticket" not in str(e) and "invitation=" not in str(e)


def test_a_blocked_receiver_does_not_hold_up_the_invite_form(stack: Stack, receiver: Receiver) -> None:
    receiver.block()
    with stack.client() as admin:
        stack.sign_in(admin)
        assert invite(stack, admin, "first@example.test").status_code == 303
        deadline = time.monotonic() + 30
        while receiver.attempts < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert receiver.attempts == 1 and not receiver.released.is_set()  # the receiver holds a delivery now
        second = invite(stack, admin, "second@example.test")
        assert second.status_code == 303  # answered while the receiver still holds the first event
        assert receiver.events == [] and receiver.attempts == 1
    receiver.released.set()
    kinds: list[Any] = [(e["type"], e["data"]["email"]) for e in receiver.wait_for(4)]
    assert kinds == [("invitation.created", "first@example.test"), ("invitation.email_sent", "first@example.test"),
                     ("invitation.created", "second@example.test"), ("invitation.email_sent", "second@example.test")]


def test_the_demo_lists_the_events_it_saw_beside_the_outbox() -> None:
    import asyncio

    from orginvite.demo import _with_events_page
    from orginvite.emails.outbox import Outbox
    from orginvite.events import InvitationEvent, RecordedEvents
    from orginvite.testing import LiveServer

    events, outbox = RecordedEvents(), Outbox()
    asyncio.run(events(InvitationEvent("invitation.created", ACME, "uinv_0000000000000001",
                                       email="<b>zoe@example.test</b>", actor="Ann")))
    with LiveServer(_with_events_page(outbox.app, events)) as server:
        page = httpx2.get(server.url + "/events")
        listed = httpx2.get(server.url + "/events.json").json()
        assert httpx2.get(server.url + "/").status_code == 200  # the outbox is still there
    assert page.status_code == 200 and "invitation.created" in page.text and "uinv_0000000000000001" in page.text
    assert "&lt;b&gt;zoe@example.test" in page.text and "<b>zoe" not in page.text
    assert [e["type"] for e in listed] == ["invitation.created"]
