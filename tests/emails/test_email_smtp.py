"""Sending over SMTP against real aiosmtpd servers on loopback: plain, STARTTLS, implicit TLS, auth, refusals."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import ssl
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from loopback_support import free_port
from orginvite.emails import EmailRenderer, sample_invitation
from orginvite.emails.message import build_message
from orginvite.emails.sender import (
    SendError,
    SMTPAuthenticationError,
    SMTPConnectionError,
    SMTPRecipientRefusedError,
    SMTPSender,
    SMTPSenderRefusedError,
    SMTPServerError,
    SMTPSettings,
    SMTPTimeoutError,
    SMTPTLSError,
)
from orginvite.errors import ConfigurationError, OrgInviteError

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)

# aiosmtpd warns when a test server takes AUTH without TLS; on loopback that is the point of the test.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class Inbox:
    """An aiosmtpd handler that keeps what it receives and can refuse chosen recipients or senders."""

    def __init__(self, refuse: set[str] = frozenset(), refuse_sender: bool = False, data_reply: str | None = None):
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse = refuse
        self.refuse_sender = refuse_sender
        self.data_reply = data_reply

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refuse_sender:
            return "553 5.7.1 Sender address rejected"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"mailer", b"s3cret:/@")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd itself answers 535


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def server_context(tls_files) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    return context


@pytest.fixture
def smtp_server():
    started: list[Controller] = []

    def start(handler: Inbox, **kwargs) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture(scope="module")
def message():
    rendered = EmailRenderer(clock=lambda: NOW).render(sample_invitation(), locale="fr")
    return build_message(rendered, sender=("Acme", "no-reply@acme.test"), to=("Zoé", "zoe@example.com"))


# --- delivery ------------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_delivers_the_message_as_built(smtp_server, message):
    inbox = Inbox()
    port = smtp_server(inbox)
    result = await SMTPSender(SMTPSettings(host="127.0.0.1", port=port)).send(message)
    assert result.recipients == ("zoe@example.com",)
    assert result.message_id == message["Message-ID"]
    [(mail_from, rcpt_tos, content)] = inbox.messages
    assert (mail_from, rcpt_tos) == ("no-reply@acme.test", ["zoe@example.com"])
    received = email.message_from_bytes(content, policy=policy.default)
    assert received["Subject"] == "Amira Haddad vous invite à rejoindre Acme Inc."
    assert received["Content-Language"] == "fr"
    assert [part.get_content_type() for part in received.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.anyio
async def test_hostile_display_names_arrive_as_one_mailbox_each_and_no_extra_header(smtp_server):
    """Item 6/6b of issue 13 end to end: a folded name with addresses in it and an encoded-word CRLF."""
    folded = "Zoe Martin, ceo@attacker.example, cfo@attacker.example; " + "x" * 80
    encoded = "=?utf-8?q?=0D=0ABcc: evil@attacker.example"
    rendered = EmailRenderer(clock=lambda: NOW).render(sample_invitation(inviter_name=encoded), locale="en")
    message = build_message(
        rendered,
        sender=(encoded, "no-reply@acme.test"),
        to=(folded, "zoe@example.com"),
        reply_to=(folded, "r@acme.test"),
    )
    inbox = Inbox()
    port = smtp_server(inbox)
    await SMTPSender(SMTPSettings(host="127.0.0.1", port=port)).send(message)
    [(_, rcpt_tos, content)] = inbox.messages
    assert rcpt_tos == ["zoe@example.com"]
    received = email.message_from_bytes(content, policy=policy.default)
    assert [(a.display_name, a.addr_spec) for a in received["To"].addresses] == [(folded, "zoe@example.com")]
    assert [(a.display_name, a.addr_spec) for a in received["Reply-To"].addresses] == [(folded, "r@acme.test")]
    [sender] = received["From"].addresses
    assert sender.addr_spec == "no-reply@acme.test" and "Bcc: evil@attacker.example" in sender.display_name
    assert received.get_all("Bcc") is None and received.get_all("Cc") is None
    header_block = content.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc") for line in header_block.split(b"\n"))


@pytest.mark.anyio
async def test_authentication_succeeds_with_the_right_credentials(smtp_server, message):
    inbox = Inbox()
    port = smtp_server(inbox, authenticator=authenticator, auth_required=True, auth_require_tls=False)
    settings = SMTPSettings.from_url(f"smtp://mailer:s3cret%3A%2F%40@127.0.0.1:{port}")
    assert settings.password == "s3cret:/@"
    await SMTPSender(settings).send(message)
    assert len(inbox.messages) == 1


@pytest.mark.anyio
async def test_wrong_credentials_raise_an_authentication_error(smtp_server, message):
    inbox = Inbox()
    port = smtp_server(inbox, authenticator=authenticator, auth_required=True, auth_require_tls=False)
    with pytest.raises(SMTPAuthenticationError) as info:
        await SMTPSender(SMTPSettings.from_url(f"smtp://mailer:wrong@127.0.0.1:{port}")).send(message)
    assert info.value.code == 535
    assert "mailer" in str(info.value)
    assert isinstance(info.value, SendError) and isinstance(info.value, OrgInviteError)
    assert inbox.messages == []


@pytest.mark.anyio
async def test_missing_credentials_on_an_auth_only_server_say_so(smtp_server, message):
    inbox = Inbox()
    port = smtp_server(inbox, authenticator=authenticator, auth_required=True, auth_require_tls=False)
    with pytest.raises(SMTPAuthenticationError, match="requires authentication"):
        await SMTPSender(SMTPSettings(host="127.0.0.1", port=port)).send(message)
    assert inbox.messages == []


@pytest.mark.anyio
async def test_a_refused_recipient_raises_with_the_address_and_reply(smtp_server, message):
    inbox = Inbox(refuse={"zoe@example.com"})
    port = smtp_server(inbox)
    with pytest.raises(SMTPRecipientRefusedError) as info:
        await SMTPSender(SMTPSettings(host="127.0.0.1", port=port)).send(message)
    assert info.value.refused == {"zoe@example.com": (550, "5.1.1 No such user here")}
    assert info.value.transient is False
    assert inbox.messages == []


@pytest.mark.anyio
async def test_a_partly_refused_delivery_is_not_silently_accepted(smtp_server):
    inbox = Inbox(refuse={"gone@example.com"})
    port = smtp_server(inbox)
    rendered = EmailRenderer(clock=lambda: NOW).render(sample_invitation(), locale="en")
    both = build_message(rendered, sender="no-reply@acme.test", to=["zoe@example.com", "gone@example.com"])
    with pytest.raises(SMTPRecipientRefusedError) as info:
        await SMTPSender(SMTPSettings(host="127.0.0.1", port=port)).send(both)
    assert set(info.value.refused) == {"gone@example.com"}
    assert "others were accepted" in str(info.value)


@pytest.mark.anyio
async def test_a_refused_sender_and_a_refused_data_are_errors(smtp_server, message):
    port = smtp_server(Inbox(refuse_sender=True))
    with pytest.raises(SMTPSenderRefusedError) as info:
        await SMTPSender(SMTPSettings(host="127.0.0.1", port=port)).send(message)
    assert info.value.code == 553
    port = smtp_server(Inbox(data_reply="451 4.3.0 Try again later"))
    with pytest.raises(SMTPServerError) as server_info:
        await SMTPSender(SMTPSettings(host="127.0.0.1", port=port)).send(message)
    assert (server_info.value.code, server_info.value.transient) == (451, True)


@pytest.mark.anyio
async def test_connection_refused(message):
    port = free_port()  # nothing listens there
    with pytest.raises(SMTPConnectionError) as info:
        await SMTPSender(SMTPSettings(host="127.0.0.1", port=port, timeout=5)).send(message)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert info.value.transient is True


@pytest.mark.anyio
async def test_a_silent_server_times_out(message):
    accepted: list[asyncio.StreamWriter] = []

    async def never_greet(reader, writer):
        accepted.append(writer)
        await asyncio.sleep(30)

    server = await asyncio.start_server(never_greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(SMTPTimeoutError, match="did not answer"):
            await SMTPSender(SMTPSettings(host="127.0.0.1", port=port, timeout=0.5)).send(message)
    finally:
        server.close()
        for writer in accepted:  # closing the server leaves the connections it accepted open
            writer.close()
            await writer.wait_closed()


# --- TLS ---------------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_starttls_with_a_trusted_certificate(smtp_server, message, tls_files):
    inbox = Inbox()
    port = smtp_server(inbox, tls_context=server_context(tls_files), require_starttls=True)
    settings = SMTPSettings.from_url(f"smtp://localhost:{port}?starttls=required&cert_bundle={tls_files[0]}")
    await SMTPSender(settings).send(message)
    assert len(inbox.messages) == 1


@pytest.mark.anyio
async def test_starttls_with_an_untrusted_certificate_is_a_tls_error(smtp_server, message, tls_files):
    inbox = Inbox()
    port = smtp_server(inbox, tls_context=server_context(tls_files), require_starttls=True)
    with pytest.raises(SMTPTLSError):
        await SMTPSender(SMTPSettings.from_url(f"smtp://localhost:{port}?starttls=required")).send(message)
    assert inbox.messages == []


@pytest.mark.anyio
async def test_required_starttls_on_a_server_without_it(smtp_server, message):
    port = smtp_server(Inbox())
    with pytest.raises(SMTPTLSError, match="STARTTLS"):
        await SMTPSender(SMTPSettings.from_url(f"smtp://127.0.0.1:{port}?starttls=required")).send(message)


@pytest.mark.anyio
async def test_implicit_tls_smtps(smtp_server, message, tls_files):
    inbox = Inbox()
    port = smtp_server(inbox, ssl_context=server_context(tls_files))
    settings = SMTPSettings.from_url(f"smtps://localhost:{port}?cert_bundle={tls_files[0]}")
    assert settings.security == "tls"
    await SMTPSender(settings).send(message)
    assert len(inbox.messages) == 1


@pytest.mark.anyio
async def test_auth_over_starttls(smtp_server, message, tls_files):
    inbox = Inbox()
    port = smtp_server(
        inbox, tls_context=server_context(tls_files), authenticator=authenticator, auth_required=True
    )  # auth_require_tls defaults to True: the server refuses AUTH before STARTTLS
    settings = SMTPSettings.from_url(
        f"smtp://mailer:s3cret%3A%2F%40@localhost:{port}?starttls=required&cert_bundle={tls_files[0]}"
    )
    await SMTPSender(settings).send(message)
    assert len(inbox.messages) == 1


# --- settings ----------------------------------------------------------------------------------------------------


def test_settings_from_url_and_env():
    settings = SMTPSettings.from_url("smtp://u%40x:p%20w@mail.example.com:2525?timeout=7.5&local_hostname=me.test")
    assert (settings.host, settings.port, settings.username, settings.password) == (
        "mail.example.com", 2525, "u@x", "p w"
    )
    assert (settings.timeout, settings.local_hostname) == (7.5, "me.test")
    assert settings.start_tls is True  # credentials to a remote host: STARTTLS becomes mandatory
    assert "p w" not in repr(settings)
    assert SMTPSettings.from_url("smtp://127.0.0.1:1025").start_tls is None  # a local catcher: opportunistic
    assert SMTPSettings.from_url("smtps://mail.example.com").effective_port == 465
    assert SMTPSettings.from_url("smtp://mail.example.com?starttls").effective_port == 587
    assert SMTPSettings.from_env({}) is None
    assert SMTPSettings.from_env({"ORGINVITE_SMTP_URL": "smtp://127.0.0.1:1025"}).port == 1025


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://mail.example.com", "scheme"),
        ("smtp://", "no host"),
        ("smtp://mail.example.com:99999", "URL"),
        ("smtp://mail.example.com?starttls=maybe", "starttls"),
        ("smtps://mail.example.com?starttls=required", "smtps"),
        ("smtp://mail.example.com?timeout=soon", "timeout"),
        ("smtp://mail.example.com?colour=blue", "unknown option"),
        ("smtp://u:p@mail.example.com?starttls=off", "unencrypted"),
        ("smtp://mail.example.com?validate_certs=perhaps", "validate_certs"),
    ],
)
def test_bad_urls_are_configuration_errors(url, fragment):
    with pytest.raises(ConfigurationError) as info:
        SMTPSettings.from_url(url)
    assert fragment in str(info.value)
