"""The dev tenant's invitation emails: created through the Management API over loopback HTTP, delivered in the
invitee's language over a real SMTP server (aiosmtpd) when configured, else kept in the outbox it serves."""

from __future__ import annotations

import datetime as dt
import email
import logging
from collections.abc import Iterator
from email import policy
from typing import Any

import httpx2
import pytest
from aiosmtpd.controller import Controller

from devtenant_support import m2m_token
from loopback_support import free_port
from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.cli import main as tenant_main
from orginvite.devtenant.config import (
    DEMO_ACME_ORG_ID,
    DEMO_ADMIN_ROLE_ID,
    DEMO_BILLING_ROLE_ID,
    DEMO_GLOBEX_ORG_ID,
    DEMO_M2M_CLIENT_ID,
    DEMO_M2M_CLIENT_SECRET,
    DEMO_WEB_CLIENT_ID,
    TenantConfigError,
    demo_config,
)
from orginvite.devtenant.mail import invitation_for_email
from orginvite.testing import LiveServer

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC).timestamp()


class Catcher:
    """A real SMTP server on loopback that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def catcher() -> Iterator[Catcher]:
    catcher = Catcher()
    catcher.controller.start()
    try:
        yield catcher
    finally:
        catcher.controller.stop()


def api_client(server: LiveServer) -> httpx2.Client:
    token = m2m_token(server.url, DEMO_M2M_CLIENT_ID, DEMO_M2M_CLIENT_SECRET)
    return httpx2.Client(base_url=server.url + "/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def invite(api: httpx2.Client, org_id: str, address: str, **extra: Any) -> dict[str, Any]:
    body = {"inviter": {"name": "Amira Haddad"}, "invitee": {"email": address}, "client_id": DEMO_WEB_CLIENT_ID}
    response = api.post(f"/organizations/{org_id}/invitations", json={**body, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def test_invitations_land_in_the_outbox_the_tenant_serves(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="orginvite.devtenant.mail")
    with DevTenant(clock=lambda: NOW) as tenant, tenant.serve() as server, api_client(server) as api:
        created = invite(
            api, DEMO_ACME_ORG_ID, "zoe@example.test", user_metadata={"lang": "fr"},
            roles=[DEMO_ADMIN_ROLE_ID, DEMO_BILLING_ROLE_ID],
        )
        invite(api, DEMO_ACME_ORG_ID, "no-mail@example.test", send_invitation_email=False)
        with httpx2.Client(base_url=server.url + "/outbox") as outbox:
            listing = outbox.get("/messages").json()["messages"]
            index = outbox.get("/")
            html = outbox.get(f"/messages/{listing[0]['id']}/html")
            text = outbox.get(f"/messages/{listing[0]['id']}/text")
            raw = outbox.get(f"/messages/{listing[0]['id']}/raw")
        home = httpx2.get(server.url + "/")
    assert [(item["to"], item["locale"]) for item in listing] == [(["zoe@example.test"], "fr")]
    assert listing[0]["subject"] == "Amira Haddad vous invite à rejoindre Acme Inc."
    assert listing[0]["from"] == "orginvite dev tenant <no-reply@tenant.orginvite.test>"
    assert index.status_code == 200 and "vous invite" in index.text
    assert html.headers["content-security-policy"].startswith("sandbox;")
    assert '<html lang="fr" dir="ltr"' in html.text
    # The link is the invitation's own, the roles are the records behind the role ids, the application the client.
    assert created["invitation_url"] in text.text
    assert "Vos rôles : admin et billing." in text.text
    assert "Demo web app" in text.text
    # 7 days from the tenant's clock, not the machine's.
    assert "expire dans 7 jours, le 27 novembre 2026" in text.text
    parsed = email.message_from_bytes(raw.content, policy=policy.default)
    assert parsed["Content-Language"] == "fr" and parsed["To"] == "zoe@example.test"
    assert f"{server.url}/outbox/" in home.text
    # The log names the invitation, never its ticket in full.
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert created["id"] in logged and created["ticket_id"] not in logged


def test_the_invitees_language_falls_back_to_the_organization_then_the_tenant_default() -> None:
    config = demo_config()
    config["tenant"]["default_locale"] = "de"
    for organization in config["organizations"]:
        if organization["id"] == DEMO_GLOBEX_ORG_ID:
            organization["metadata"] = {"lang": "ja"}
    with DevTenant(config) as tenant, tenant.serve() as server, api_client(server) as api:
        invite(api, DEMO_GLOBEX_ORG_ID, "a@example.test")
        invite(api, DEMO_ACME_ORG_ID, "b@example.test")
        invite(api, DEMO_ACME_ORG_ID, "c@example.test", user_metadata={"lang": "pt-BR"})
    assert {entry.to[0]: entry.locale for entry in tenant.outbox.messages()} == {
        "a@example.test": "ja",
        "b@example.test": "de",
        "c@example.test": "pt_BR",
    }


def test_smtp_when_configured(catcher: Catcher) -> None:
    with (
        DevTenant(smtp=f"smtp://127.0.0.1:{catcher.port}", email_from=("Acme Dev", "invites@acme.test")) as tenant,
        tenant.serve() as server,
        api_client(server) as api,
    ):
        created = invite(api, DEMO_ACME_ORG_ID, "ann@example.test", user_metadata={"lang": "ar"})
        home = httpx2.get(server.url + "/").text
    assert len(tenant.outbox) == 0
    # the home page says where the mail went, not "the outbox", which stays empty
    assert f"<th>Invitation emails</th><td><code>over SMTP to 127.0.0.1:{catcher.port} from" in home
    assert "<th>Invitation emails (outbox)</th>" not in home
    [(sender, recipients, content)] = catcher.received
    assert (sender, recipients) == ("invites@acme.test", ["ann@example.test"])
    message = email.message_from_bytes(content, policy=policy.default)
    assert message["Content-Language"] == "ar"
    assert str(message["From"]) == "Acme Dev <invites@acme.test>"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert created["invitation_url"] in message.get_body(("plain",)).get_content()


def test_a_long_sender_name_with_addresses_in_it_stays_one_from_mailbox(catcher: Catcher) -> None:
    name = "Acme Dev, ceo@attacker.example, Bcc: cfo@attacker.example; " + "x" * 60
    with (
        DevTenant(smtp=f"smtp://127.0.0.1:{catcher.port}", email_from=(name, "invites@acme.test")) as tenant,
        tenant.serve() as server,
        api_client(server) as api,
    ):
        invite(api, DEMO_ACME_ORG_ID, "ann@example.test")
    [(_, recipients, content)] = catcher.received
    assert recipients == ["ann@example.test"]
    message = email.message_from_bytes(content, policy=policy.default)
    assert [(a.display_name, a.addr_spec) for a in message["From"].addresses] == [(name, "invites@acme.test")]
    assert [a.addr_spec for a in message["To"].addresses] == ["ann@example.test"]


def test_an_smtp_failure_keeps_the_email_in_the_outbox_and_the_invitation(caplog: pytest.LogCaptureFixture) -> None:
    dead = free_port()
    with DevTenant(smtp=f"smtp://127.0.0.1:{dead}?timeout=5") as tenant, tenant.serve() as server:
        with api_client(server) as api:
            created = invite(api, DEMO_ACME_ORG_ID, "bob@example.test")
            fetched = api.get(f"/organizations/{DEMO_ACME_ORG_ID}/invitations/{created['id']}")
        listing = httpx2.get(server.url + "/outbox/messages").json()["messages"]
        index = httpx2.get(server.url + "/outbox/").text
    assert fetched.status_code == 200  # Auth0 answers the API call whatever its mail provider does
    [entry] = listing
    assert entry["to"] == ["bob@example.test"]
    assert entry["error"] is not None and f"127.0.0.1:{dead}" in entry["error"]
    assert "not sent: cannot connect" in index
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert errors and created["id"] in errors[0].getMessage()
    assert created["ticket_id"] not in errors[0].getMessage()


@pytest.mark.anyio
async def test_the_outbox_answers_local_clients_only_unless_allowed() -> None:
    with DevTenant() as tenant:
        tenant.outbox.add(email.message.EmailMessage())
        transport = httpx2.ASGITransport(app=tenant.app, client=("203.0.113.9", 50000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://tenant.test") as remote:
            assert (await remote.get("/outbox/messages")).status_code == 403
            assert (await remote.get("/.well-known/openid-configuration")).status_code == 200  # only the outbox
        local = httpx2.ASGITransport(app=tenant.app, client=("127.0.0.1", 50000))
        async with httpx2.AsyncClient(transport=local, base_url="http://tenant.test") as client:
            assert (await client.get("/outbox/messages")).status_code == 200
            proxied = await client.get("/outbox/messages", headers={"X-Forwarded-For": "203.0.113.9"})
            assert proxied.status_code == 403
    with DevTenant(outbox_allow_remote=True) as tenant:
        transport = httpx2.ASGITransport(app=tenant.app, client=("203.0.113.9", 50000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://tenant.test") as remote:
            assert (await remote.get("/outbox/messages")).status_code == 200


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"smtp": "http://mail.test"}, "smtp_url"),
        ({"smtp": "smtp://"}, "smtp_url"),
        ({"email_from": "not an address"}, "email_from"),
        ({"email_from": ("Eve", "eve@")}, "email_from"),
    ],
)
def test_bad_mail_settings_are_config_errors_naming_the_setting(options: dict[str, Any], field: str) -> None:
    with pytest.raises(TenantConfigError) as caught:
        DevTenant(**options)
    assert caught.value.setting == field


def test_the_command_line_configures_mail(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tenant_main(["serve", "--ephemeral", "--port", "0", "--smtp-url", "ftp://x"]) == 2
    assert "smtp_url" in capsys.readouterr().err
    assert tenant_main(["serve", "--ephemeral", "--port", "0", "--email-from", "Acme <nope>"]) == 2
    assert "email_from" in capsys.readouterr().err


def test_the_email_sees_the_application_behind_the_client_id() -> None:
    config = demo_config()
    for client in config["clients"]:
        if client["client_id"] == DEMO_WEB_CLIENT_ID:
            client["client_metadata"] = {"plan": "enterprise"}
    config["tenant"].update(support_email="help@acme.test", support_url="https://help.acme.test/")
    with DevTenant(config) as tenant:
        invitation = {
            "id": "uinv_0000000000000000",
            "organization_id": DEMO_ACME_ORG_ID,
            "inviter": {"name": "Ada"},
            "invitee": {"email": "x@example.test"},
            "invitation_url": "http://127.0.0.1:8000/login?invitation=t&organization=o",
            "client_id": DEMO_WEB_CLIENT_ID,
            "roles": [DEMO_ADMIN_ROLE_ID, "rol_DoesNotExist0000"],
        }
        built = invitation_for_email(tenant.store, invitation, tenant.settings)
    assert built.application == {
        "name": "Demo web app", "client_id": DEMO_WEB_CLIENT_ID, "metadata": {"plan": "enterprise"}
    }
    assert [role["name"] for role in built.roles] == ["admin"]  # a role deleted since is left out, not an error
    assert built.organization["display_name"] == "Acme Inc."
    assert (built.support_email, built.support_url) == ("help@acme.test", "https://help.acme.test/")


def test_an_address_no_mail_header_can_carry_is_logged_not_a_500(caplog: pytest.LogCaptureFixture) -> None:
    with DevTenant() as tenant, tenant.serve() as server, api_client(server) as api:
        created = invite(api, DEMO_ACME_ORG_ID, "zoé(x)@example.test")  # the API's email format allows it
        assert api.get(f"/organizations/{DEMO_ACME_ORG_ID}/invitations/{created['id']}").status_code == 200
    assert len(tenant.outbox) == 0
    [error] = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert created["id"] in error and "not a valid email address" in error
