"""`orginvite invite` as a real process against a real loopback Management API and SMTP server, under faults.

The fake Auth0 (mgmt_fake) is served over HTTP and an aiosmtpd server takes the emails; the command runs as a
subprocess (invite_fault_harness.py) and is killed with SIGKILL at every step of one person's invitation, then run
again. Whatever the step, everyone must end with exactly one live invitation and its email: the module's promise
that an interruption loses at most the step in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mgmt_fake import APP_CLIENT_ID, M2M_ID, M2M_SECRET, FakeAuth0, FakeClock

from loopback_support import free_port
from orginvite.testing import LiveServer

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "invite_fault_harness.py"
SRC = HERE.parents[1] / "src"
PEOPLE = ("ana@example.com", "bo@example.com", "chen@example.com")
TARGET = "bo@example.com"  # the person in flight when the process dies: not the first, not the last
HOLD_LIMIT = 120  # seconds a test waits for a server to see the request it holds (a hang, not a timing check)


class Hold:
    """One request held by a server until the test has killed the client: set ``email``, wait for ``holding``."""

    def __init__(self) -> None:
        self.email: str | None = None
        self.holding = threading.Event()
        self.release = threading.Event()

    def take(self, email_address: str | None) -> bool:
        """True (once) when this request is the one to hold."""
        if self.email is None or email_address != self.email:
            return False
        self.email = None
        return True

    async def wait(self) -> None:
        self.holding.set()
        while not self.release.is_set():
            await asyncio.sleep(0.01)


class HoldCreate:
    """ASGI wrapper of the fake: the held create is carried out, but its answer waits (a response lost in flight)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.hold = Hold()
        self.fail_after_create: str | None = None  # this invitee's create is carried out, then answered 503

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith("/invitations"):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        invitee = json.loads(body).get("invitee", {}).get("email")
        held = self.hold.take(invitee)
        failed = invitee is not None and invitee == self.fail_after_create

        async def held_send(message: Any) -> None:
            if held and message["type"] == "http.response.start":
                await self.hold.wait()
            if failed and message["type"] == "http.response.start":
                message = {"type": message["type"], "status": 503, "headers": [(b"content-type", b"application/json")]}
            elif failed and message["type"] == "http.response.body":
                message = {"type": message["type"], "body": b'{"statusCode":503,"error":"Service Unavailable",'
                           b'"message":"upstream timeout"}'}
            with contextlib.suppress(Exception):  # the client is dead by design; nobody reads this answer
                await send(message)

        await self.app(scope, replay, held_send)


class Inbox:
    """aiosmtpd handler: keeps every accepted message; the held one waits for the kill and is then refused."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.hold = Hold()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if any(self.hold.take(rcpt) for rcpt in envelope.rcpt_tos):
            await self.hold.wait()
            return "451 4.3.0 not accepted"  # the client died before any answer: the message was never taken
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages if address in str(m["To"])]


@dataclass
class World:
    fake: FakeAuth0
    api: HoldCreate
    inbox: Inbox
    env: dict[str, str]
    csv: Path
    org_id: str

    def start(self, *extra: str, kill_at: str = "") -> subprocess.Popen[str]:
        env = {**self.env, "FAULT_KILL_AT": kill_at, "FAULT_KILL_EMAIL": TARGET}
        return subprocess.Popen(
            [sys.executable, str(HARNESS), "--org", "acme", "--csv", str(self.csv), "--max-rps", "0", *extra],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def run(self, *extra: str, kill_at: str = "") -> tuple[int, str, str]:
        process = self.start(*extra, kill_at=kill_at)
        out, err = process.communicate()
        return process.returncode, out, err

    def live(self, address: str) -> list[dict[str, Any]]:
        return [i for i in self.fake.invitations_for(self.org_id) if i["invitee"]["email"] == address]

    def assert_everyone_invited_once(self, *, deliveries: dict[str, int] | None = None) -> None:
        """One live invitation per person, and one email (one Message-ID) carrying that invitation's link."""
        for address in PEOPLE:
            [live] = self.live(address)
            received = self.inbox.to(address)
            assert len(received) == (deliveries or {}).get(address, 1), address
            assert {str(m["Message-ID"]) for m in received} == {f"<invitation.{live['id']}@acme.example>"}
            for message in received:
                assert live["ticket_id"] in message.get_body(("plain",)).get_content(), address
        assert len(self.fake.invitations) == len(PEOPLE)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    from aiosmtpd.controller import Controller

    fake = FakeAuth0(FakeClock())
    fake.add_org("acme", "Acme Inc.")
    api = HoldCreate(fake.app)
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    csv_path = tmp_path / "people.csv"
    csv_path.write_text("email,name\n" + "".join(f"{p},{p.split('@')[0].title()}\n" for p in PEOPLE))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ORGINVITE_", "AUTH0_"))}
    try:
        with LiveServer(api) as server:
            env = {
                **base,
                "PYTHONPATH": os.pathsep.join([str(SRC), base.get("PYTHONPATH", "")]),
                "ORGINVITE_MANAGEMENT_DOMAIN": server.url,
                "ORGINVITE_MANAGEMENT_CLIENT_ID": M2M_ID,
                "ORGINVITE_MANAGEMENT_CLIENT_SECRET": M2M_SECRET,
                "ORGINVITE_CLIENT_ID": APP_CLIENT_ID,
                "ORGINVITE_SMTP_URL": f"smtp://127.0.0.1:{port}?starttls=off",
                "ORGINVITE_EMAIL_FROM": "Acme <invites@acme.example>",
            }
            [org_id] = fake.organizations
            yield World(fake, api, inbox, env, csv_path, org_id)
            api.hold.release.set()
            inbox.hold.release.set()
    finally:
        controller.stop()


def kill_while_held(world: World, hold: Hold) -> subprocess.Popen[str]:
    hold.email = TARGET
    process = world.start()
    assert hold.holding.wait(HOLD_LIMIT), "the server never saw the request to hold"
    process.kill()
    process.communicate()
    hold.release.set()
    return process


@pytest.mark.parametrize(
    "step",
    [
        "before_intent",
        "before_create",
        "during_create",
        "after_create_response",
        "after_create",
        "during_email",
        "after_email",
        "after_invited",
    ],
)
def test_kill_9_at_any_step_then_a_rerun_invites_everyone_exactly_once(world: World, step: str) -> None:
    if step == "during_create":
        process = kill_while_held(world, world.api.hold)
        assert len(world.live(TARGET)) == 1  # the create reached the provider; its answer never came back
    elif step == "during_email":
        process = kill_while_held(world, world.inbox.hold)
    else:
        process = world.start(kill_at=step)
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert world.inbox.to("chen@example.com") == []  # the run died on Bo's turn

    code, out, err = world.run()
    assert (code, err) == (0, "")
    bo_line = next(line for line in out.splitlines() if TARGET in line)
    if step == "after_invited":
        assert "skipped - already invited by an earlier run" in bo_line
    else:
        assert ": invited - " in bo_line  # not "skipped - already has a pending invitation", and an email went
    # The one window no client can close: the SMTP server took the email, the process died before writing that
    # down. The email goes again, as the same message (same Message-ID, same live link).
    world.assert_everyone_invited_once(deliveries={TARGET: 2} if step == "after_email" else None)

    code, out, _ = world.run()  # and a third run has nothing left to do
    assert code == 0 and "done: 0 invited, 3 skipped, 0 failed (of 3)" in out
    world.assert_everyone_invited_once(deliveries={TARGET: 2} if step == "after_email" else None)


def test_a_create_answered_503_after_it_happened_gets_its_email_on_the_next_run(world: World) -> None:
    # The same fault without a kill: the provider acted, the answer says it failed (a POST is never retried).
    world.api.fail_after_create = TARGET
    code, out, _ = world.run()
    assert code == 1 and "done: 2 invited, 0 skipped, 1 failed (of 3)" in out
    assert len(world.live(TARGET)) == 1 and world.inbox.to(TARGET) == []
    world.api.fail_after_create = None
    code, out, err = world.run()
    assert (code, err) == (0, "")
    assert f"{TARGET}: invited - email sent for the invitation an earlier run created" in out
    world.assert_everyone_invited_once()


def test_an_interrupted_create_without_read_scope_is_created_again_revoking_the_lost_one(world: World) -> None:
    world.fake.scopes.discard("read:organization_invitations")
    kill_while_held(world, world.api.hold)
    [lost] = world.live(TARGET)
    code, _, err = world.run()
    assert code == 0
    assert "cannot be recognised without read:organization_invitations" in err
    [live] = world.live(TARGET)
    assert live["id"] != lost["id"]  # the new invitation revoked the one whose answer was lost
    world.assert_everyone_invited_once()


# -- two runs at once --------------------------------------------------------------------------------------------


def first_run_held_on_its_first_create(world: World) -> subprocess.Popen[str]:
    world.api.hold.email = PEOPLE[0]
    first = world.start()
    assert world.api.hold.holding.wait(HOLD_LIMIT), "the first run never reached its first create"
    return first


def test_a_second_run_on_the_same_state_file_refuses_and_names_the_first(world: World) -> None:
    first = first_run_held_on_its_first_create(world)
    code, out, err = world.run()
    assert code == 75
    assert f"another run is using the state file {world.csv}.invite-state.json (pid {first.pid} on host " in err
    assert "nothing was sent" in err and "--wait" in err
    assert len(world.fake.invitations) == 1 and world.inbox.messages == []  # only the first run's held create
    world.api.hold.release.set()
    out, err = first.communicate()
    assert (first.returncode, err) == (0, "")
    assert "done: 3 invited, 0 skipped, 0 failed (of 3)" in out
    world.assert_everyone_invited_once()


def test_with_wait_the_second_run_starts_after_the_first_and_does_nothing_twice(world: World) -> None:
    first = first_run_held_on_its_first_create(world)
    second = world.start("--wait")
    assert second.stderr is not None
    line = second.stderr.readline()  # written before it blocks on the lock
    assert line.startswith(f"waiting for the run that holds {world.csv}.invite-state.json (pid {first.pid} on host ")
    world.api.hold.release.set()
    first_out, _ = first.communicate()
    second_out, second_err = second.communicate()
    assert first.returncode == 0 and "done: 3 invited" in first_out
    assert (second.returncode, second_err) == (0, "")
    assert "done: 0 invited, 3 skipped, 0 failed (of 3)" in second_out
    world.assert_everyone_invited_once()


def test_the_lock_of_a_killed_run_is_gone_with_it(world: World) -> None:
    killed = kill_while_held(world, world.api.hold)
    lock = Path(f"{world.csv}.invite-state.json.lock")
    assert json.loads(lock.read_text())["pid"] == killed.pid  # its file is left behind, naming the dead holder
    code, _, err = world.run()
    assert (code, err) == (0, "")  # no stale lock: the kernel released it with the process
    assert json.loads(lock.read_text())["pid"] != killed.pid
    world.assert_everyone_invited_once()
