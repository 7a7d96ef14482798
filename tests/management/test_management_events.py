"""Lifecycle events of orginvite.management (create, send, resend, revoke) against the dev tenant over loopback:
what each call emits to the client's ``on_invitation_event``, and that a sink's failure never fails the call."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from mgmt_fake import FakeClock

from orginvite.devtenant import config as demo
from orginvite.devtenant.app import DevTenant
from orginvite.events import InvitationEvent
from orginvite.management import (
    InvitationEmailError,
    ManagementClient,
    NotFoundError,
    resend_invitation,
    revoke_invitation,
)
from orginvite.management.invite import invite
from orginvite.management.mailer import sender_from_env

pytestmark = pytest.mark.anyio
Inbox = tuple[Any, str]


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


async def test_resend_renews_with_the_same_content_a_new_expiry_and_a_dead_old_link(
    tenant: tuple[DevTenant, str], fake_clock: FakeClock, smtp_inbox: Inbox
) -> None:
    dev, url = tenant
    inbox, smtp_url = smtp_inbox
    seen = Recorder()
    async with client_for(url, fake_clock, seen) as client:
        first = await invite(client, "acme", "ines@example.com", client_id=demo.DEMO_WEB_CLIENT_ID,
                             inviter_name="Ada Admin", sender=sender(smtp_url), name="Inès", language="fr",
                             roles=[demo.DEMO_BILLING_ROLE_ID], ttl_sec=3600, app_metadata={"team": "blue"})
        old = await client.get_invitation(demo.DEMO_ACME_ORG_ID, first.invitation_id)
        fake_clock.advance(600)
        renewed = await resend_invitation(client, "acme", first.invitation_id, sender=sender(smtp_url),
                                          actor="Ada Admin")
        with pytest.raises(NotFoundError):
            await client.get_invitation(demo.DEMO_ACME_ORG_ID, first.invitation_id)
        new = await client.get_invitation(demo.DEMO_ACME_ORG_ID, renewed.invitation_id)
    assert renewed.invitation_id != first.invitation_id and renewed.replaces == first.invitation_id
    assert renewed.expires_at == new["expires_at"] and new["expires_at"] > old["expires_at"]
    for key in ("inviter", "invitee", "roles", "user_metadata", "app_metadata", "client_id", "connection_id"):
        assert new.get(key) == old.get(key), key
    assert new["ticket_id"] != old["ticket_id"]
    def lifetime(record: dict[str, Any]) -> float:
        parse = datetime.datetime.fromisoformat
        return (parse(record["expires_at"].replace("Z", "+00:00"))
                - parse(record["created_at"].replace("Z", "+00:00"))).total_seconds()

    assert lifetime(new) == lifetime(old) == 3600  # the same lifetime, counted from the renewal
    assert [i["id"] for i in dev.store.list_invitations(demo.DEMO_ACME_ORG_ID, 0, 50)[0]] == [new["id"]]
    second_email = inbox.messages[-1].get_body(("plain",)).get_content()
    assert new["invitation_url"] in second_email and old["invitation_url"] not in second_email
    assert seen.kinds == ["invitation.created", "invitation.email_sent", "invitation.resent", "invitation.email_sent"]
    resent = seen.events[2]
    assert (resent.invitation_id, resent.replaces, resent.expires_at, resent.actor) == (
        renewed.invitation_id, first.invitation_id, new["expires_at"], "Ada Admin")


async def test_resend_of_an_invitation_that_is_gone_says_so_and_creates_nothing(
    tenant: tuple[DevTenant, str], fake_clock: FakeClock, smtp_inbox: Inbox
) -> None:
    dev, url = tenant
    seen = Recorder()
    async with client_for(url, fake_clock, seen) as client:
        first = await invite(client, "acme", "gone@example.com", client_id=demo.DEMO_WEB_CLIENT_ID,
                             inviter_name="Ada Admin", sender=sender(smtp_inbox[1]))
        await revoke_invitation(client, "acme", first.invitation_id)
        with pytest.raises(NotFoundError):
            await resend_invitation(client, "acme", first.invitation_id, sender=sender(smtp_inbox[1]))
    assert dev.store.list_invitations(demo.DEMO_ACME_ORG_ID, 0, 50)[0] == []
    assert len(smtp_inbox[0].messages) == 1 and "invitation.resent" not in seen.kinds


def test_the_command_resends_and_exits_1_for_an_invitation_that_is_gone(
    tenant: tuple[DevTenant, str], fake_clock: FakeClock, smtp_inbox: Inbox
) -> None:
    import io

    from orginvite.management.cli import main

    dev, url = tenant
    inbox, smtp_url = smtp_inbox
    env = {"ORGINVITE_MANAGEMENT_DOMAIN": url, "ORGINVITE_MANAGEMENT_CLIENT_ID": demo.DEMO_M2M_CLIENT_ID,
           "ORGINVITE_MANAGEMENT_CLIENT_SECRET": demo.DEMO_M2M_CLIENT_SECRET, "ORGINVITE_SMTP_URL": smtp_url,
           "ORGINVITE_EMAIL_FROM": "Acme <no-reply@acme.test>"}
    created = dev.store  # an invitation made as a backend would, then renewed from the command line
    import httpx2

    from devtenant_support import m2m_token
    token = m2m_token(url, demo.DEMO_M2M_CLIENT_ID, demo.DEMO_M2M_CLIENT_SECRET)
    body = {"inviter": {"name": "Ann"}, "invitee": {"email": "cli@example.com"}, "client_id": demo.DEMO_WEB_CLIENT_ID}
    old_id = httpx2.post(url + f"/api/v2/organizations/{demo.DEMO_ACME_ORG_ID}/invitations", json=body,
                        headers={"authorization": f"Bearer {token}"}).json()["id"]
    out, err = io.StringIO(), io.StringIO()
    assert main(["--org", "acme", "--resend", old_id], environ=env, stdout=out, stderr=err) == 0, err.getvalue()
    [(new_id, email)] = [(i["id"], i["invitee"]["email"])
                         for i in created.list_invitations(demo.DEMO_ACME_ORG_ID, 0, 50)[0]]
    assert new_id != old_id and email == "cli@example.com"
    assert f"{old_id}: renewed as {new_id} for cli@example.com" in out.getvalue() and len(inbox.messages) == 1
    out, err = io.StringIO(), io.StringIO()
    assert main(["--org", "acme", "--resend", old_id], environ=env, stdout=out, stderr=err) == 1
    assert f"{old_id}: no such pending invitation" in err.getvalue()
    assert main(["--org", "acme", "--resend", "<script>"], environ=env, stdout=out, stderr=err) == 2
    assert main(["--org", "acme"], environ=env, stdout=out, stderr=err) == 2
    assert "give --csv FILE to invite, or --resend" in err.getvalue()
