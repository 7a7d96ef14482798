"""`orginvite demo` as a user runs it: a subprocess on free ports, its banner, its servers, and a clean stop."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx2
import pytest

from devtenant_support import m2m_token
from orginvite.devtenant.config import (
    DEMO_ACME_ORG_ID,
    DEMO_CONSULTANT_EMAIL,
    DEMO_CONSULTANT_PASSWORD,
    DEMO_M2M_CLIENT_ID,
    DEMO_M2M_CLIENT_SECRET,
    DEMO_WEB_CLIENT_ID,
)

ROOT = Path(__file__).resolve().parents[2]
FREE_PORTS = ["--port", "0", "--tenant-port", "0", "--outbox-port", "0", "--smtp-port", "0"]


class Demo:
    """The demo in its own process, its stdout collected by a thread (a pipe read must never block the test)."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ORGINVITE_", "AUTH0_"))}
        env.pop("PYTHONPATH", None)  # the demo must find example_app on its own
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orginvite", "demo", *args], cwd="/", env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def out(self) -> str:
        return "".join(self.lines)

    def wait_started(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while "Press Ctrl-C" not in self.out:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.kill()
                raise AssertionError(f"demo did not start:\n{self.out}\n{self.process.stderr.read()}")
            time.sleep(0.05)
        return self.out

    def stop(self, sig: int) -> tuple[int, str]:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=20)
        self._reader.join(5)
        return code, self.out

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        """Kill it if still running and close its pipes (once the reader saw the end of stdout)."""
        self.kill()
        self._reader.join(5)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def url(out: str, label: str) -> str:
    match = re.search(rf"^  {re.escape(label)}:\s+(\S+)$", out, re.M)
    assert match, out
    return match.group(1).rstrip("/")


def is_listening(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host.split("//")[-1], int(port))) == 0


@pytest.fixture
def demo() -> Iterator[Demo]:
    running = Demo(*FREE_PORTS)
    yield running
    running.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_demo_prints_urls_and_credentials_serves_them_and_stops_cleanly(demo: Demo, sig: int) -> None:
    out = demo.wait_started()
    app, outbox, tenant, smtp = (url(out, label) for label in (
        "workspace (example_app)", "outbox (caught emails)", "dev tenant", "SMTP catcher"))
    assert "email:    admin@acme.test" in out and "password: acme-admin-demo-password" in out
    # and the member of both organizations, who has the organization switcher
    assert f"email:    {DEMO_CONSULTANT_EMAIL}" in out and f"password: {DEMO_CONSULTANT_PASSWORD}" in out
    home = httpx2.get(app + "/")
    assert home.status_code == 200 and 'href="/login?organization=acme"' in home.text
    assert httpx2.get(app + "/me").status_code == 401
    sign_in = httpx2.get(app + "/login?organization=acme")
    assert sign_in.status_code == 302 and sign_in.headers["location"].startswith(tenant + "/authorize?")
    discovery = httpx2.get(tenant + "/.well-known/openid-configuration").json()
    assert discovery["issuer"] == tenant + "/"
    # the catcher speaks SMTP and its messages show on the outbox page
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.test", "b@example.test", "Hello from SMTP"
    message.set_content("hi")
    host, port = smtp.removeprefix("smtp://").rsplit(":", 1)
    with smtplib.SMTP(host, int(port), timeout=10) as client:
        client.send_message(message)
    assert "Hello from SMTP" in httpx2.get(outbox + "/").text
    code, rest = demo.stop(sig)
    assert code == 0 and "stopped" in rest
    for address in (app, outbox, tenant, smtp):
        assert not is_listening(address), address


def test_invitations_the_tenant_emails_itself_land_in_the_same_outbox(demo: Demo) -> None:
    out = demo.wait_started()
    outbox, tenant = url(out, "outbox (caught emails)"), url(out, "dev tenant")
    token = m2m_token(tenant, DEMO_M2M_CLIENT_ID, DEMO_M2M_CLIENT_SECRET)
    created = httpx2.post(
        tenant + f"/api/v2/organizations/{DEMO_ACME_ORG_ID}/invitations",
        json={"inviter": {"name": "Ann"}, "invitee": {"email": "tenant-mailed@example.test"},
              "client_id": DEMO_WEB_CLIENT_ID, "send_invitation_email": True},
        headers={"authorization": f"Bearer {token}"},
    )
    assert created.status_code == 200, created.text
    assert "tenant-mailed@example.test" in httpx2.get(outbox + "/").text


def test_the_tenant_home_page_links_the_outbox_the_mail_goes_to(demo: Demo) -> None:
    out = demo.wait_started()
    outbox, tenant, smtp = url(out, "outbox (caught emails)"), url(out, "dev tenant"), url(out, "SMTP catcher")
    home = httpx2.get(tenant + "/").text
    assert f"<th>Invitation emails (outbox)</th><td><code>{outbox}/</code>" in home  # the catcher's page
    assert f"over SMTP to {smtp.removeprefix('smtp://')}" in home
    # the tenant's own outbox only keeps what SMTP refused, and says so
    assert f"<th>Emails SMTP refused (outbox)</th><td><code>{tenant}/outbox/</code>" in home


def test_demo_refuses_a_taken_port_with_the_option_to_change() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "orginvite", "demo", *FREE_PORTS[:4], "--outbox-port", str(port),
             "--smtp-port", "0"], capture_output=True, text=True, timeout=30, cwd="/",
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port} (--outbox-port)" in result.stderr and "Traceback" not in result.stderr


def test_demo_help_lists_its_options() -> None:
    result = subprocess.run([sys.executable, "-m", "orginvite", "demo", "--help"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0 and "--smtp-port" in result.stdout and "--tenant-port" in result.stdout


def test_demo_access_logs_never_show_an_invitation_ticket() -> None:
    demo = Demo(*FREE_PORTS, "--log-level", "info")
    try:
        app = url(demo.wait_started(), "workspace (example_app)")
        ticket = "SecretTicket" + "x" * 20
        response = httpx2.get(app + f"/login?invitation={ticket}&organization=org_AcmeDemoOrg00001")
        assert response.status_code == 302
        code, out = demo.stop(signal.SIGINT)
        logs = out + demo.process.stderr.read()  # uvicorn's access log goes to stdout
    finally:
        demo.close()
    assert code == 0
    assert "GET /login?invitation=" in logs and ticket not in logs
