"""invite() with the SMTP sender: the localized email reaches a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import io
import socket
from pathlib import Path
from typing import Any

import pytest
from mgmt_fake import APP_CLIENT_ID, FakeAuth0, FakeClock, make_client

from orginvite.emails.sender import SMTPRecipientRefusedError, SMTPSettings
from orginvite.errors import ConfigurationError
from orginvite.management.cli import main
from orginvite.management.errors import InvitationEmailError
from orginvite.management.invite import (
    InvitationFields,
    create_invitation,
    invite,
    resend_invitation,
    send_invitation,
)
from orginvite.management.mailer import SmtpInvitationSender, sender_from_env

pytestmark = pytest.mark.anyio
Fake = tuple[FakeAuth0, str]
Inbox = tuple[Any, str]

ENV = {"ORGINVITE_EMAIL_FROM": "Acme Team <no-reply@acme.example>"}


async def test_the_invitation_email_arrives_in_the_invitees_language(
    fake_auth0: Fake, fake_clock: FakeClock, smtp_inbox: Inbox
) -> None:
    fake, url = fake_auth0
    fake.add_org("acme", "Acme Inc.")
    role = fake.add_role("billing", "Sees invoices")
    inbox, smtp_url = smtp_inbox
    sender = sender_from_env({**ENV, "ORGINVITE_SMTP_URL": smtp_url, "ORGINVITE_EMAIL_REPLY_TO": "help@acme.example"})
    async with make_client(url, fake_clock) as client:
        result = await invite(client, "acme", "zoe@example.com", client_id=APP_CLIENT_ID, inviter_name="Amira",
                              sender=sender, name="Zoé Martin", roles=[role["id"]], language="fr")
    [message] = inbox.messages
    invitation = fake.invitations[result.invitation_id]
    assert message["Message-ID"] == result.message_id
    assert message["To"] == "Zoé Martin <zoe@example.com>"
    assert message["From"] == "Acme Team <no-reply@acme.example>"
    assert message["Reply-To"] == "help@acme.example"
    assert message["Content-Language"] == "fr"
    assert "rejoindre Acme Inc." in message["Subject"]
    text, html = (part.get_content() for part in message.iter_parts())
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert invitation["invitation_url"] in text
    assert "billing" in text
    assert 'lang="fr"' in html


async def test_a_refused_recipient_leaves_the_invitation_to_resend(
    fake_auth0: Fake, fake_clock: FakeClock, smtp_inbox: Inbox
) -> None:
    fake, url = fake_auth0
    fake.add_org("acme")
    inbox, smtp_url = smtp_inbox
    inbox.refuse.add("gone@example.com")
    sender = SmtpInvitationSender(SMTPSettings.from_url(smtp_url), from_address="no-reply@acme.example")
    async with make_client(url, fake_clock) as client:
        with pytest.raises(InvitationEmailError) as info:
            await invite(client, "acme", "gone@example.com", client_id=APP_CLIENT_ID, inviter_name="A", sender=sender)
        assert isinstance(info.value.cause, SMTPRecipientRefusedError)
        assert info.value.invitation_id in fake.invitations
        inbox.refuse.clear()
        await resend_invitation(client, "acme", info.value.invitation_id, sender=sender)
    assert [m["To"] for m in inbox.messages] == ["gone@example.com"]


async def test_a_message_key_names_the_email_stably_and_a_bad_one_is_never_a_header(
    fake_auth0: Fake, fake_clock: FakeClock, smtp_inbox: Inbox
) -> None:
    fake, url = fake_auth0
    org = fake.add_org("acme")
    inbox, smtp_url = smtp_inbox
    sender = SmtpInvitationSender(SMTPSettings.from_url(smtp_url), from_address="no-reply@acme.example")
    async with make_client(url, fake_clock) as client:
        fields = InvitationFields(client_id=APP_CLIENT_ID, inviter_name="A")
        created = await create_invitation(client, org, "a@example.com", fields)
        for key in ("invitation.uinv_1", "invitation.uinv_1", "x@evil.example>\r\nBcc: e@evil.example", ".a", None):
            await send_invitation(created, organization=org, sender=sender, message_key=key)
    ids = [str(m["Message-ID"]) for m in inbox.messages]
    assert ids[:2] == ["<invitation.uinv_1@acme.example>"] * 2  # sent again: the same message
    assert len(set(ids[2:])) == 3 and all(i.endswith("@acme.example>") and "evil" not in i for i in ids[2:])
    assert all(m["Bcc"] is None for m in inbox.messages)


async def test_a_hostile_invitee_name_stays_one_recipient_on_invite_and_resend(
    fake_auth0: Fake, fake_clock: FakeClock, smtp_inbox: Inbox
) -> None:
    """The name of the bulk CSV / the workspace form / user_metadata.name: folded, it must not add recipients."""
    fake, url = fake_auth0
    fake.add_org("acme", "Acme Inc.")
    inbox, smtp_url = smtp_inbox
    name = "Zoé Martin, ceo@attacker.example, Bcc: cfo@attacker.example; " + "x" * 60
    sender = sender_from_env({**ENV, "ORGINVITE_SMTP_URL": smtp_url})
    async with make_client(url, fake_clock) as client:
        result = await invite(client, "acme", "zoe@example.com", client_id=APP_CLIENT_ID, inviter_name="Amira",
                              sender=sender, name=name)
        await resend_invitation(client, "acme", result.invitation_id, sender=sender)
    assert len(inbox.messages) == 2
    for message in inbox.messages:
        assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [(name, "zoe@example.com")]
        assert message.get_all("Bcc") is None and message.get_all("Cc") is None


async def test_an_smtp_server_that_is_down(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    fake.add_org("acme")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sender = sender_from_env({**ENV, "ORGINVITE_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    async with make_client(url, fake_clock) as client:
        with pytest.raises(InvitationEmailError, match="SMTPConnectionError") as info:
            await invite(client, "acme", "a@example.com", client_id=APP_CLIENT_ID, inviter_name="A", sender=sender)
    assert info.value.invitation_id in fake.invitations


@pytest.mark.parametrize(
    ("environ", "setting"),
    [
        ({"ORGINVITE_EMAIL_FROM": "a@example.com"}, "ORGINVITE_SMTP_URL"),
        ({"ORGINVITE_SMTP_URL": "smtp://127.0.0.1:25"}, "ORGINVITE_EMAIL_FROM"),
        ({"ORGINVITE_SMTP_URL": "smtp://127.0.0.1:25", "ORGINVITE_EMAIL_FROM": "not an address"},
         "ORGINVITE_EMAIL_FROM"),
        ({"ORGINVITE_SMTP_URL": "http://x", "ORGINVITE_EMAIL_FROM": "a@example.com"}, "ORGINVITE_SMTP_URL"),
    ],
)
def test_sender_configuration_errors_name_the_setting(environ: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        sender_from_env(environ)
    assert info.value.setting.startswith(setting)


def test_the_command_sends_through_smtp_from_the_environment(
    fake_auth0: Fake, fake_clock: FakeClock, smtp_inbox: Inbox, tmp_path: Path
) -> None:
    fake, url = fake_auth0
    fake.add_org("acme", "Acme Inc.")
    inbox, smtp_url = smtp_inbox
    csv_path = tmp_path / "people.csv"
    csv_path.write_text("email,name,language\nana@example.com,Ana,pt-BR\nkenji@example.com,Kenji,ja\n")
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["--org", "acme", "--csv", str(csv_path), "--client-id", APP_CLIENT_ID],
        environ={**ENV, "ORGINVITE_SMTP_URL": smtp_url},
        stdout=out,
        stderr=err,
        client_factory=lambda args, env: make_client(url, fake_clock),
    )
    assert (code, err.getvalue()) == (0, "")
    assert sorted((m["To"], m["Content-Language"]) for m in inbox.messages) == [
        ("Ana <ana@example.com>", "pt-BR"), ("Kenji <kenji@example.com>", "ja"),
    ]


def test_the_command_without_smtp_settings_stops_before_sending(
    fake_auth0: Fake, fake_clock: FakeClock, tmp_path: Path
) -> None:
    fake, url = fake_auth0
    fake.add_org("acme")
    csv_path = tmp_path / "people.csv"
    csv_path.write_text("email\nana@example.com\n")
    err = io.StringIO()
    code = main(["--org", "acme", "--csv", str(csv_path), "--client-id", APP_CLIENT_ID], environ={},
                stdout=io.StringIO(), stderr=err, client_factory=lambda args, env: make_client(url, fake_clock))
    assert code == 2
    assert "ORGINVITE_SMTP_URL: not set" in err.getvalue() and "--auth0-email" in err.getvalue()
    assert fake.invitations == {}
