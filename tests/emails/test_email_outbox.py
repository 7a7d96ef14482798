"""The outbox (Mailpit-like) and the mailer that delivers invitations over SMTP or into it."""

from __future__ import annotations

import datetime as dt
import email
from email import policy

import aiosmtplib
import httpx2
import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.routing import Mount

from loopback_support import free_port
from orginvite.emails import EmailRenderer, sample_invitation
from orginvite.emails.catcher import serve_smtp
from orginvite.emails.outbox import InvitationMailer, Outbox
from orginvite.emails.sender import SMTPConnectionError, SMTPSender, SMTPSettings
from orginvite.errors import ConfigurationError
from orginvite.testing import LiveServer

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def renderer() -> EmailRenderer:
    return EmailRenderer(clock=lambda: NOW)


@pytest.mark.anyio
async def test_invitations_land_in_the_outbox_in_the_invitees_language(renderer):
    outbox = Outbox()
    mailer = InvitationMailer(renderer, sender=("Acme Dev", "no-reply@acme.test"), outbox=outbox)
    delivery = await mailer.deliver(sample_invitation(user_metadata={"lang": "fr"}))
    assert delivery.smtp is None and delivery.outbox_entry is not None
    [entry] = outbox.messages()
    assert entry is delivery.outbox_entry
    assert (entry.locale, entry.to) == ("fr", ["zoe.martin@example.com"])
    assert entry.subject == "Amira Haddad vous invite à rejoindre Acme Inc."
    assert entry.part("plain").startswith("Rejoignez Acme Inc.")


@pytest.mark.anyio
async def test_the_outbox_app_lists_and_serves_messages(renderer):
    outbox = Outbox()
    mailer = InvitationMailer(renderer, sender="no-reply@acme.test", outbox=outbox)
    await mailer.deliver(sample_invitation(inviter_name="<img src=x onerror=alert(1)>", user_metadata={"lang": "ar"}))
    await mailer.deliver(sample_invitation(user_metadata={"lang": "ja"}))
    app = Starlette(routes=[Mount("/outbox", app=outbox.app)])
    with LiveServer(app) as live:
        async with httpx2.AsyncClient(base_url=f"{live.url}/outbox") as client:
            index = await client.get("/")
            listing = (await client.get("/messages")).json()["messages"]
            detail = await client.get("/messages/1")
            detail_json = (await client.get("/messages/2", headers={"Accept": "application/json"})).json()
            html = await client.get("/messages/1/html")
            text = await client.get("/messages/2/text")
            raw = await client.get("/messages/2/raw")
            missing = await client.get("/messages/99")
    assert index.status_code == 200
    assert "<img src=x" not in index.text and "&lt;img src=x onerror=alert(1)&gt;" in index.text
    assert [item["locale"] for item in listing] == ["ja", "ar"]  # newest first
    assert 'href="/outbox/messages/1"' in index.text
    assert "<iframe sandbox" in detail.text
    assert detail_json["subject"] == "Amira Haddad さんから Acme Inc. への招待"
    assert html.headers["content-security-policy"].startswith("sandbox;")
    assert '<html lang="ar" dir="rtl"' in html.text
    assert text.text.startswith("Acme Inc. に参加する")
    assert raw.headers["content-type"] == "message/rfc822"
    parsed = email.message_from_bytes(raw.content, policy=policy.default)
    assert parsed["Content-Language"] == "ja"
    assert missing.status_code == 404


HOSTILE_MESSAGE = (
    b"From: (c)<\r\n"
    b"To: (<b>x</b>)<\r\n"
    b"Cc: Bcc: a@example.com, b@example.com;\r\n"
    b"Subject: caf\xc3\xa9 \xff\xfe (c)<i>\r\n"
    b"Message-ID: (c)<\r\n"
    b"Content-Language: (c)<\r\n"
    b"Content-Type: text/plain; charset=x-no-such-charset\r\n"
    b"\r\n"
    b"caf\xc3\xa9 body\r\n"
)


@pytest.mark.anyio
async def test_a_message_whose_headers_do_not_parse_still_renders_with_the_raw_values_escaped(renderer):
    """Issue 13 item 8: 'To: (c)<' raised IndexError in the header parser and broke / and /messages for all."""
    outbox = Outbox()
    await InvitationMailer(renderer, sender="no-reply@acme.test", outbox=outbox).deliver(sample_invitation())
    server = await serve_smtp(outbox, host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    try:
        await aiosmtplib.send(HOSTILE_MESSAGE, sender="x@example.com", recipients=["y@example.com"],
                              hostname="127.0.0.1", port=port, start_tls=False)
    finally:
        server.close()
        await server.wait_closed()
    assert len(outbox) == 2
    app = Starlette(routes=[Mount("/outbox", app=outbox.app)])
    with LiveServer(app) as live:
        async with httpx2.AsyncClient(base_url=f"{live.url}/outbox") as client:
            pages = {path: await client.get(path) for path in ("/", "/messages", "/messages/2", "/messages/2/text",
                                                               "/messages/2/raw", "/messages/1")}
            detail_json = (await client.get("/messages/2", headers={"Accept": "application/json"})).json()
    assert {path: page.status_code for path, page in pages.items()} == dict.fromkeys(pages, 200)
    index, detail = pages["/"].text, pages["/messages/2"].text
    assert "(&lt;b&gt;x&lt;/b&gt;)&lt;" in index and "<b>x</b>" not in index  # the raw To, escaped
    assert "(&lt;b&gt;x&lt;/b&gt;)&lt;" in detail and "<b>x</b>" not in detail and "(c)&lt;i&gt;" in detail
    assert "Acme Inc." in index  # the good message is still listed
    [hostile, _] = pages["/messages"].json()["messages"]
    assert hostile["to"] == ["(<b>x</b>)<"] and hostile["from"] == "(c)<" and hostile["message_id"] == "(c)<"
    assert "café" in hostile["subject"] and "\ufffd" in hostile["subject"]
    assert hostile["locale"] == "(c)<"
    assert ["To", "(<b>x</b>)<"] in detail_json["headers"] and ["From", "(c)<"] in detail_json["headers"]
    assert pages["/messages/2/text"].text.strip() == "café body"
    assert pages["/messages/2/raw"].content == HOSTILE_MESSAGE  # the bytes as received


def test_the_outbox_keeps_the_newest_messages(renderer):
    outbox = Outbox(capacity=2)
    message = email.message.EmailMessage()
    message["Subject"] = "x"
    for _ in range(3):
        outbox.add(message)
    assert [entry.id for entry in outbox.messages()] == ["3", "2"]
    assert outbox.get("1") is None
    outbox.clear()
    assert len(outbox) == 0


@pytest.mark.anyio
async def test_smtp_wins_when_configured_and_its_failures_propagate(renderer):
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.content)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        outbox = Outbox()
        smtp = SMTPSender(SMTPSettings(host="127.0.0.1", port=port))
        mailer = InvitationMailer(renderer, sender="no-reply@acme.test", smtp=smtp, outbox=outbox)
        delivery = await mailer.deliver(sample_invitation(user_metadata={"lang": "de"}))
    finally:
        controller.stop()
    assert delivery.smtp is not None and delivery.outbox_entry is None
    assert len(received) == 1 and len(outbox) == 0
    assert email.message_from_bytes(received[0], policy=policy.default)["Content-Language"] == "de"

    dead = InvitationMailer(renderer, sender="no-reply@acme.test", smtp=SMTPSender(SMTPSettings(port=free_port())))
    with pytest.raises(SMTPConnectionError):
        await dead.deliver(sample_invitation())


def test_a_mailer_needs_somewhere_to_deliver(renderer):
    with pytest.raises(ConfigurationError):
        InvitationMailer(renderer, sender="no-reply@acme.test")


@pytest.mark.anyio
async def test_keep_failed_puts_an_undeliverable_email_in_the_outbox_with_the_error(renderer):
    outbox = Outbox()
    port = free_port()
    smtp = SMTPSender(SMTPSettings(port=port, timeout=5))
    mailer = InvitationMailer(renderer, sender="no-reply@acme.test", smtp=smtp, outbox=outbox, keep_failed=True)
    delivery = await mailer.deliver(sample_invitation(user_metadata={"lang": "es"}))
    assert isinstance(delivery.error, SMTPConnectionError) and delivery.smtp is None
    [entry] = outbox.messages()
    assert entry is delivery.outbox_entry and entry.locale == "es"
    assert entry.error == str(delivery.error) and f"127.0.0.1:{port}" in entry.error
    assert entry.summary()["error"] == entry.error
    with pytest.raises(ConfigurationError):
        InvitationMailer(renderer, sender="no-reply@acme.test", smtp=smtp, keep_failed=True)  # kept where?
