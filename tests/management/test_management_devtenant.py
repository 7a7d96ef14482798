"""The Management client, invite() and `orginvite invite` against the embedded dev tenant over loopback HTTP."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from mgmt_fake import FakeClock

from orginvite.devtenant import config as demo
from orginvite.devtenant.app import DevTenant
from orginvite.management import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    ManagementClient,
    NotFoundError,
    UnauthorizedError,
)
from orginvite.management.cli import main
from orginvite.management.invite import invite
from orginvite.management.mailer import sender_from_env

pytestmark = pytest.mark.anyio
Inbox = tuple[Any, str]


def client_for(url: str, clock: FakeClock, client_id: str = demo.DEMO_M2M_CLIENT_ID,
               secret: str = demo.DEMO_M2M_CLIENT_SECRET, **options: Any) -> ManagementClient:
    return ManagementClient(url, client_id, secret, clock=clock.time, sleep=clock.sleep, **options)


async def test_organizations_members_roles_and_invitations(
    tenant: tuple[DevTenant, str], fake_clock: FakeClock
) -> None:
    _, url = tenant
    async with client_for(url, fake_clock) as client:
        org = await client.create_organization("initech", display_name="Initech", metadata={"lang": "de"})
        with pytest.raises(ConflictError):
            await client.create_organization("initech")
        assert (await client.resolve_organization("initech"))["id"] == org["id"]
        user = await client.create_user("peter@initech.test", password="Tps-Reports-2026!", name="Peter")
        await client.add_members(org["id"], [user["user_id"]])
        await client.add_member_roles(org["id"], user["user_id"], [demo.DEMO_BILLING_ROLE_ID])
        members = [m async for m in client.iter_members(org["id"], take=1)]
        assert [m["email"] for m in members] == ["peter@initech.test"]
        roles = await client.list_member_roles(org["id"], user["user_id"])
        assert [r["name"] for r in roles.items] == ["billing"]
        orgs = await client.list_user_organizations(user["user_id"])
        assert [o["name"] for o in orgs.items] == ["initech"]
        invitation = await client.create_invitation(
            org["id"], inviter_name="Bill", invitee_email="milton@initech.test", client_id=demo.DEMO_WEB_CLIENT_ID,
            roles=[demo.DEMO_MEMBER_ROLE_ID], user_metadata={"lang": "de"},
        )
        assert invitation["invitation_url"].startswith(demo.DEMO_WEB_LOGIN_URI + "?invitation=")
        assert f"organization={org['id']}" in invitation["invitation_url"]
        assert [i["id"] async for i in client.iter_invitations(org["id"])] == [invitation["id"]]
        assert (await client.get_invitation(org["id"], invitation["id"]))["user_metadata"] == {"lang": "de"}
        await client.delete_invitation(org["id"], invitation["id"])
        with pytest.raises(NotFoundError):
            await client.get_invitation(org["id"], invitation["id"])
        await client.remove_member_roles(org["id"], user["user_id"], [demo.DEMO_BILLING_ROLE_ID])
        await client.remove_members(org["id"], [user["user_id"]])
        assert (await client.list_members(org["id"])).items == []
        await client.delete_organization(org["id"])
        with pytest.raises(NotFoundError) as info:
            await client.get_organization(org["id"])
        assert info.value.error_code == "inexistent_organization"
        with pytest.raises(BadRequestError):
            await client.create_invitation(demo.DEMO_ACME_ORG_ID, inviter_name="B", invitee_email="x@acme.test",
                                           client_id="no-such-client")


async def test_wrong_secret_and_missing_scope(tenant: tuple[DevTenant, str], fake_clock: FakeClock) -> None:
    dev, url = tenant
    dev.store.put_client({"client_id": "reader", "client_secret": "reader-secret", "name": "Reader",
                          "app_type": "non_interactive", "grant_types": ["client_credentials"],
                          "scopes": ["read:organizations"]})
    async with client_for(url, fake_clock, secret="wrong") as client:
        with pytest.raises(UnauthorizedError):
            await client.list_roles()
    async with client_for(url, fake_clock, "reader", "reader-secret") as client:
        assert (await client.get_organization(demo.DEMO_ACME_ORG_ID))["name"] == "acme"
        with pytest.raises(ForbiddenError) as info:
            await client.list_roles()
    assert info.value.error_code == "insufficient_scope"


async def test_an_expired_token_is_replaced_once(fake_clock: FakeClock) -> None:
    shift = {"seconds": 0.0}
    dev = DevTenant(clock=lambda: fake_clock.time() + shift["seconds"])
    try:
        with dev.serve() as server:
            async with client_for(server.url, fake_clock) as client:
                await client.list_roles()
                shift["seconds"] = 90_000  # the tenant's day has passed; the client still trusts its token
                assert len((await client.list_roles()).items) == 3
                assert client.token_requests == 2
    finally:
        dev.close()


async def test_rate_limit_is_honoured_against_the_dev_tenant(
    tenant: tuple[DevTenant, str], fake_clock: FakeClock
) -> None:
    dev, url = tenant
    dev.settings["management_api_rate_limit"] = 3
    async with client_for(url, fake_clock) as first, client_for(url, fake_clock) as second:
        for _ in range(3):  # the window's three requests, then the client waits for the reset by itself
            await first.list_roles()
        assert fake_clock.sleeps == []
        await first.list_roles()
        assert len(fake_clock.sleeps) == 1 and fake_clock.sleeps[0] > 0
        for _ in range(2):
            await first.list_roles()
        # a second process with the same credentials knows nothing of the window: it gets a 429 and retries
        await second.list_roles()
        assert len(fake_clock.sleeps) == 2


async def test_invite_through_the_dev_tenant_and_smtp(
    tenant: tuple[DevTenant, str], fake_clock: FakeClock, smtp_inbox: Inbox
) -> None:
    _, url = tenant
    inbox, smtp_url = smtp_inbox
    sender = sender_from_env({"ORGINVITE_SMTP_URL": smtp_url, "ORGINVITE_EMAIL_FROM": "Acme <no-reply@acme.test>"})
    async with client_for(url, fake_clock) as client:
        result = await invite(client, "acme", "ines@example.com", client_id=demo.DEMO_WEB_CLIENT_ID,
                              inviter_name="Ada Admin", sender=sender, name="Inès", roles=[demo.DEMO_ADMIN_ROLE_ID],
                              language="fr")
        stored = await client.get_invitation(demo.DEMO_ACME_ORG_ID, result.invitation_id)
    assert stored["user_metadata"] == {"lang": "fr", "name": "Inès"}
    [message] = inbox.messages
    assert message["Content-Language"] == "fr"
    assert stored["invitation_url"] in message.get_body(("plain",)).get_content()


def test_the_command_against_the_dev_tenant_with_resume(
    tenant: tuple[DevTenant, str], fake_clock: FakeClock, smtp_inbox: Inbox, tmp_path: Path
) -> None:
    dev, url = tenant
    inbox, smtp_url = smtp_inbox
    csv_path = tmp_path / "team.csv"
    csv_path.write_text(
        "email,name,roles,language\n"
        "lea@example.com,Léa,admin;billing,fr\n"
        "yuki@example.com,Yuki,member,ja\n"
        "omar@example.com,Omar,member,ar\n"
    )
    env = {
        "ORGINVITE_MANAGEMENT_DOMAIN": url,
        "ORGINVITE_MANAGEMENT_CLIENT_ID": demo.DEMO_M2M_CLIENT_ID,
        "ORGINVITE_MANAGEMENT_CLIENT_SECRET": demo.DEMO_M2M_CLIENT_SECRET,
        "ORGINVITE_CLIENT_ID": demo.DEMO_WEB_CLIENT_ID,
        "ORGINVITE_SMTP_URL": smtp_url,
        "ORGINVITE_EMAIL_FROM": "Acme <no-reply@acme.test>",
    }
    inbox.refuse.add("yuki@example.com")
    argv = ["--org", "acme", "--csv", str(csv_path), "--roles-by-name", "--max-rps", "0",
            "--report", str(tmp_path / "report.json")]
    out, err = io.StringIO(), io.StringIO()
    assert main(argv, environ=env, stdout=out, stderr=err) == 1
    assert "done: 2 invited, 0 skipped, 1 failed (of 3)" in out.getvalue()
    inbox.refuse.clear()
    out = io.StringIO()
    assert main(argv, environ=env, stdout=out, stderr=io.StringIO()) == 0
    assert "done: 1 invited, 2 skipped, 0 failed (of 3)" in out.getvalue()
    assert sorted(m["To"] for m in inbox.messages) == ["Léa <lea@example.com>", "Omar <omar@example.com>",
                                                        "Yuki <yuki@example.com>"]
    invitations, _ = dev.store.list_invitations(demo.DEMO_ACME_ORG_ID, 0, 50)
    assert sorted(i["invitee"]["email"] for i in invitations) == ["lea@example.com", "omar@example.com",
                                                                  "yuki@example.com"]
    lea = next(i for i in invitations if i["invitee"]["email"] == "lea@example.com")
    assert sorted(lea["roles"]) == sorted([demo.DEMO_ADMIN_ROLE_ID, demo.DEMO_BILLING_ROLE_ID])
    assert lea["send_invitation_email"] is False
