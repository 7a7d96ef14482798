"""Fixtures of the Management client tests: a fake Auth0 (mgmt_fake) on loopback with a shared fake clock."""

from __future__ import annotations

import email
import email.policy
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The fake lives beside the tests; make it importable whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mgmt_fake import FakeAuth0, FakeClock

from orginvite.devtenant.app import DevTenant
from orginvite.testing import LiveServer


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_auth0(fake_clock: FakeClock) -> Iterator[tuple[FakeAuth0, str]]:
    fake = FakeAuth0(fake_clock)
    with LiveServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture
def tenant(fake_clock: FakeClock) -> Iterator[tuple[DevTenant, str]]:
    """The embedded dev tenant (demo seed) on loopback, on the shared fake clock."""
    dev = DevTenant(clock=fake_clock.time)
    try:
        with dev.serve() as server:
            yield dev, server.url
    finally:
        dev.close()


class _Inbox:
    """aiosmtpd handler keeping every message; refuses recipients listed in ``refuse``."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[_Inbox, str]]:
    """A real SMTP server (aiosmtpd) on loopback; yields the inbox and its ORGINVITE_SMTP_URL."""
    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{port}?starttls=off"
    finally:
        controller.stop()
