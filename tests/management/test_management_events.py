"""Lifecycle events of orginvite.management (create, send, resend, revoke) against the dev tenant over loopback:
what each call emits to the client's ``on_invitation_event``, and that a sink's failure never fails the call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mgmt_fake import FakeClock

from orginvite.devtenant import config as demo
from orginvite.devtenant.app import DevTenant
from orginvite.events import InvitationEvent
from orginvite.management import InvitationEmailError, ManagementClient, NotFoundError, revoke_invitation
from orginvite.management.invite import invite
from orginvite.management.mailer import sender_from_env

pytestmark = pytest.mark.anyio
Inbox = tuple[Any, str]


@pytest.fixture
def tenant(fake_clock: FakeClock) -> Iterator[tuple[DevTenant, str]]:
    dev = DevTenant(clock=fake_clock.time)
    try:
        with dev.serve() as server:
            yield dev, server.url
    finally:
        dev.close()


class Recorder:
    def __init__(self) -> None:
        self.events: list[InvitationEvent] = []

    async def __call__(self, event: InvitationEvent) -> None:
        self.events.append(event)

    @property
    def kinds(self) -> list[str]:
        return [e.type for e in self.events]


def client_for(url: str, clock: FakeClock, sink: Any) -> ManagementClient:
    return ManagementClient(url, demo.DEMO_M2M_CLIENT_ID, demo.DEMO_M2M_CLIENT_SECRET, clock=clock.time,
                            sleep=clock.sleep, on_invitation_event=sink)


def sender(smtp_url: str) -> Any:
    return sender_from_env({"ORGINVITE_SMTP_URL": smtp_url, "ORGINVITE_EMAIL_FROM": "Acme <no-reply@acme.test>"})


async def test_invite_then_revoke_emit_created_email_sent_revoked(
    tenant: tuple[DevTenant, str], fake_clock: FakeClock, smtp_inbox: Inbox
) -> None:
    _, url = tenant
    seen = Recorder()
    async with client_for(url, fake_clock, seen) as client:
        result = await invite(client, "acme", "ines@example.com", client_id=demo.DEMO_WEB_CLIENT_ID,
                              inviter_name="Ada Admin", sender=sender(smtp_inbox[1]), language="fr")
        await revoke_invitation(client, "acme", result.invitation_id, actor="Ada Admin")
        with pytest.raises(NotFoundError):
            await revoke_invitation(client, demo.DEMO_ACME_ORG_ID, result.invitation_id, actor="Ada Admin")
    # aclose delivered everything queued
    assert seen.kinds == ["invitation.created", "invitation.email_sent", "invitation.revoked"]
    created, sent, revoked = seen.events
    assert {e.invitation_id for e in seen.events} == {result.invitation_id}
    assert {e.organization_id for e in seen.events} == {demo.DEMO_ACME_ORG_ID}
    assert created.actor == revoked.actor == "Ada Admin" and created.email == sent.email == "ines@example.com"
    assert created.expires_at == result.expires_at


async def test_a_refused_email_emits_email_failed(
    tenant: tuple[DevTenant, str], fake_clock: FakeClock, smtp_inbox: Inbox
) -> None:
    _, url = tenant
    inbox, smtp_url = smtp_inbox
    inbox.refuse.add("nobody@example.com")
    seen = Recorder()
    async with client_for(url, fake_clock, seen) as client:
        with pytest.raises(InvitationEmailError):
            await invite(client, "acme", "nobody@example.com", client_id=demo.DEMO_WEB_CLIENT_ID,
                         inviter_name="Ada Admin", sender=sender(smtp_url))
    assert seen.kinds == ["invitation.created", "invitation.email_failed"]
    assert seen.events[1].reason and seen.events[1].email == "nobody@example.com"


async def test_a_sink_that_raises_never_fails_the_invitation(
    tenant: tuple[DevTenant, str], fake_clock: FakeClock, smtp_inbox: Inbox
) -> None:
    _, url = tenant

    async def broken(event: InvitationEvent) -> None:
        raise RuntimeError("audit log down")

    async with client_for(url, fake_clock, broken) as client:
        result = await invite(client, "acme", "ok@example.com", client_id=demo.DEMO_WEB_CLIENT_ID,
                              inviter_name="Ada Admin", sender=sender(smtp_inbox[1]))
        await client.events.drain()
        assert client.events.failed == 2
    assert result.invitation_id.startswith("uinv_") and len(smtp_inbox[0].messages) == 1
