"""`orginvite tenant ...`: the real command in a subprocess on a free loopback port, and its error exits."""

from __future__ import annotations

import email
import email.policy
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from aiosmtpd.controller import Controller

from loopback_support import free_port, wait_until_answering
from orginvite.cli import main as orginvite_main
from orginvite.devtenant import config as demo
from orginvite.devtenant.cli import main
from orginvite.links import ticket_fingerprint

MAIL_VARIABLES = ("ORGINVITE_SMTP_URL", "ORGINVITE_EMAIL_FROM")


class Running:
    """A tenant subprocess whose output is read in the background, so a silent process cannot hang the test."""

    def __init__(self, *args: str, cwd: Path) -> None:
        # Hermetic: a developer's ORGINVITE_SMTP_URL must not send the tests' invitation emails anywhere.
        env = {key: value for key, value in os.environ.items() if key not in MAIL_VARIABLES}
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orginvite", "tenant", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {''.join(self.output)!r}") from None
            self.output.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def wait_serving(self, base_url: str) -> None:
        """After the banner: the socket is bound before uvicorn listens on it, so poll until a request is answered."""
        self.wait_for("Press Ctrl-C")
        wait_until_answering(base_url.rstrip("/") + "/healthz", process=self.process)

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            self._close_pipes()

    def _close_pipes(self) -> None:
        """The process is gone: its stdout ends, the pump returns, and both pipes are closed (not left to the GC)."""
        self._pump_thread.join(5)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[Running, str]]:
    running = Running("serve", "--port", "0", "--ephemeral", "--log-level", "warning", cwd=tmp_path)
    try:
        issuer = running.wait_for(r"issuer:\s+(\S+)").group(1)
        running.wait_serving(issuer)
        yield running, issuer
    finally:
        running.stop()


def test_serve_answers_on_loopback_and_prints_what_an_app_needs(demo_server: tuple[Running, str]) -> None:
    running, issuer = demo_server
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", issuer)
    assert httpx2.get(issuer + "healthz").json() == {"status": "ok"}
    banner = "".join(running.output)
    assert banner.startswith("orginvite dev tenant\n")
    assert f"Management API audience: {issuer}api/v2/" in banner
    assert f"discovery:               {issuer}.well-known/openid-configuration" in banner
    assert "in memory (--ephemeral)" in banner
    assert f"invitation emails:       kept in the outbox, {issuer}outbox/" in banner
    for credential in (
        demo.DEMO_WEB_CLIENT_ID,
        demo.DEMO_WEB_CLIENT_SECRET,
        demo.DEMO_M2M_CLIENT_ID,
        demo.DEMO_M2M_CLIENT_SECRET,
        f"{demo.DEMO_ADMIN_EMAIL}  password: {demo.DEMO_ADMIN_PASSWORD}",
        f"{demo.DEMO_MEMBER_EMAIL}  password: {demo.DEMO_MEMBER_PASSWORD}",
        f"{demo.DEMO_CONSULTANT_EMAIL}  password: {demo.DEMO_CONSULTANT_PASSWORD}",
    ):
        assert credential in banner


def test_a_client_that_connects_when_the_banner_says_ready_is_served(tmp_path: Path) -> None:
    running = Running("serve", "--port", "0", "--ephemeral", cwd=tmp_path)
    try:
        issuer = running.wait_for(r"issuer:\s+(\S+)").group(1)
        running.wait_for("Press Ctrl-C")
        host, port = httpx2.URL(issuer).host, httpx2.URL(issuer).port
        with socket.create_connection((host, port), timeout=30) as conn:  # at once: no polling, no retry
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
    finally:
        assert running.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_the_server_cleanly(demo_server: tuple[Running, str], sig: int) -> None:
    running, issuer = demo_server
    assert httpx2.get(issuer + "healthz").status_code == 200
    assert running.stop(sig) == 0  # as `orginvite demo` does: a service manager's stop is not a failure
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(issuer + "healthz", timeout=2)


def test_serve_with_a_config_file_and_a_database(tmp_path: Path) -> None:
    config = tmp_path / "tenant.toml"
    config.write_text(
        '[tenant]\nfriendly_name = "Acme Dev"\n'
        '[[clients]]\nclient_id = "acme-web"\nclient_secret = "s3cret"\n'
        '[[users]]\nemail = "with@pw.test"\npassword = "pw-printed"\n'
        '[[users]]\nemail = "without@pw.test"\n'
    )
    db = tmp_path / "data" / "tenant.sqlite3"
    db.parent.mkdir()
    running = Running(
        "serve", "--port", "0", "--config", str(config), "--db", str(db), "--issuer", "https://tenant.test",
        "--log-level", "warning", cwd=tmp_path,
    )  # fmt: skip
    try:
        port = running.wait_for(r"listening on:\s+http://127\.0\.0\.1:(\d+)/").group(1)
        running.wait_serving(f"http://127.0.0.1:{port}")
        assert httpx2.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        banner = "".join(running.output)
        assert banner.startswith("Acme Dev (orginvite dev tenant)")
        assert "issuer:                  https://tenant.test/" in banner
        assert "client_id:     acme-web" in banner and "client_secret: s3cret" in banner
        assert "with@pw.test  password: pw-printed" in banner
        assert "without@pw.test" not in banner
        assert str(db) in banner
        assert demo.DEMO_WEB_CLIENT_ID not in banner
    finally:
        assert running.stop() == 0
    assert db.exists()


def test_a_bad_config_exits_2_naming_the_field_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "tenant.toml"
    config.write_text('[[clients]]\nclient_id = "web"\norganization_usage = "maybe"\n')
    result = subprocess.run(
        [sys.executable, "-m", "orginvite", "tenant", "serve", "--ephemeral", "--port", "0", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "orginvite tenant: clients[0].organization_usage: must be one of deny, allow, require (got 'maybe')"
    )
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_config_errors_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--ephemeral", "--config", str(tmp_path / "missing.toml")]) == 2
    assert f"{tmp_path / 'missing.toml'}: file not found" in capsys.readouterr().err
    assert main(["serve", "--ephemeral", "--issuer", "not a url"]) == 2
    assert "issuer: must be an absolute http(s) URL" in capsys.readouterr().err


def test_a_taken_port_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--ephemeral", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port} (--port): " in capsys.readouterr().err


def test_an_unopenable_database_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--db", str(tmp_path / "no" / "such" / "dir" / "t.sqlite3")]) == 2
    assert "cannot open the database" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "serve" in capsys.readouterr().err
    assert main(["serve", "--port", "eighty"]) == 2
    assert "argument --port: 'eighty' is not a port number" in capsys.readouterr().err
    assert main(["serve", "--db", "x", "--ephemeral"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["serve", "--help"]) == 0
    assert "--ephemeral" in capsys.readouterr().out


@pytest.mark.parametrize(("command", "description"), [
    ("serve", "Run the dev tenant: OIDC login, hosted pages and the Management API"),
    ("example-config", "Print a commented example tenant.toml"),
])
def test_each_subcommand_says_what_it_does(command: str, description: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    assert description in " ".join(capsys.readouterr().out.split())


def test_example_config_prints_the_shipped_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert orginvite_main(["tenant", "example-config"]) == 0
    printed = capsys.readouterr().out
    assert printed == demo.example_config_text()
    assert tomllib.loads(printed)["organizations"][0]["name"] == "acme"


def test_serve_sends_invitation_emails_over_smtp(tmp_path: Path) -> None:
    received: list[tuple[list[str], bytes]] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            received.append((list(envelope.rcpt_tos), envelope.content))
            return "250 OK"

    smtp_port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    running = Running(
        "serve", "--port", "0", "--ephemeral", "--log-level", "warning", "--smtp-url", f"smtp://127.0.0.1:{smtp_port}",
        "--email-from", "Acme Dev <invites@acme.test>", cwd=tmp_path,
    )  # fmt: skip
    try:
        issuer = running.wait_for(r"issuer:\s+(\S+)").group(1)
        running.wait_serving(issuer)
        assert f"over SMTP to 127.0.0.1:{smtp_port} from Acme Dev <invites@acme.test>" in "".join(running.output)
        token = httpx2.post(issuer + "oauth/token", data={
            "grant_type": "client_credentials", "client_id": demo.DEMO_M2M_CLIENT_ID,
            "client_secret": demo.DEMO_M2M_CLIENT_SECRET, "audience": issuer + "api/v2/",
        }).json()["access_token"]  # fmt: skip
        created = httpx2.post(
            f"{issuer}api/v2/organizations/{demo.DEMO_ACME_ORG_ID}/invitations",
            headers={"Authorization": f"Bearer {token}"},
            json={"inviter": {"name": "Ada"}, "invitee": {"email": "new@example.test"},
                  "client_id": demo.DEMO_WEB_CLIENT_ID, "user_metadata": {"lang": "de"}},
        )  # fmt: skip
        assert created.status_code == 200, created.text
    finally:
        assert running.stop() == 0
        controller.stop()
    [(recipients, content)] = received
    assert recipients == ["new@example.test"]
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert message["Content-Language"] == "de" and str(message["From"]) == "Acme Dev <invites@acme.test>"
    assert created.json()["invitation_url"] in message.get_body(("plain",)).get_content()


def test_the_access_log_never_prints_an_invitation_ticket(tmp_path: Path) -> None:
    running = Running("serve", "--port", "0", "--ephemeral", "--log-level", "info", cwd=tmp_path)
    ticket = "Sup3rSecretTicket-ab12"
    try:
        issuer = running.wait_for(r"issuer:\s+(\S+)").group(1)
        running.wait_serving(issuer)
        response = httpx2.get(issuer + "authorize", params={
            "client_id": demo.DEMO_WEB_CLIENT_ID, "response_type": "code", "redirect_uri": demo.DEMO_WEB_CALLBACKS[0],
            "invitation": ticket, "organization": demo.DEMO_ACME_ORG_ID,
        })  # fmt: skip
        assert response.status_code == 302
        line = running.wait_for(r"GET /authorize\?").string
        # A percent-encoded key is refused (a page, no redirect), and its line is redacted all the same.
        encoded = httpx2.get(issuer + f"authorize?invit%61tion={ticket}&organization={demo.DEMO_ACME_ORG_ID}")
        assert encoded.status_code == 400 and ticket not in encoded.text
        encoded_line = running.wait_for(r"GET /authorize\?invit%61tion").string
    finally:
        running.stop()
    assert ticket not in line and ticket not in encoded_line and ticket not in "".join(running.output)
    assert f"invitation={ticket_fingerprint(ticket)}" in line and f"organization={demo.DEMO_ACME_ORG_ID}" in line
    assert f"invit%61tion={ticket_fingerprint(ticket)}" in encoded_line
