"""The README's two Management API sections, run as written against the dev tenant and a real SMTP catcher on
loopback: orginvite's own ManagementClient with invite(), and `orginvite invite` on the README's CSV."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from loopback_support import free_port
from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.config import DEMO_ACME_ORG_ID
from orginvite.testing import LiveServer

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TENANT = "http://127.0.0.1:8765"  # the README's addresses: `orginvite tenant serve` and the demo's SMTP catcher
SMTP = "127.0.0.1:1025"


def section_blocks(heading: str, language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(rf"```{language}\n(.*?)```", text[start : end if end != -1 else len(text)], re.DOTALL)


class Catcher:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def world() -> Iterator[tuple[DevTenant, LiveServer, Catcher, int]]:
    catcher = Catcher()
    port = free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with DevTenant() as tenant, tenant.serve() as server:
            yield tenant, server, catcher, port
    finally:
        controller.stop()


def pending(tenant: DevTenant) -> dict[str, dict]:
    invitations, _ = tenant.store.list_invitations(DEMO_ACME_ORG_ID)
    return {invitation["invitee"]["email"]: invitation for invitation in invitations}


def test_the_management_client_example_invites_in_french_and_revokes(world, capsys) -> None:
    tenant, server, catcher, port = world
    [example] = section_blocks("Inviting people from code: `orginvite.management`", "python")
    assert TENANT in example and "port=1025" in example
    code = example.replace(TENANT, server.url).replace("port=1025", f"port={port}")
    exec(compile(code, "README.md (ManagementClient)", "exec"), {"__name__": "readme"})
    [message] = catcher.messages
    assert message["To"].addresses[0].addr_spec == "zoe@example.com"
    assert message["Content-Language"] == "fr"
    assert "Amira" in message["Subject"]
    invitation_id, locale = capsys.readouterr().out.split()
    assert invitation_id.startswith("uinv_") and locale == "fr"
    assert pending(tenant) == {}  # the example revoked what it created


def test_the_invite_command_example_invites_everyone_in_the_csv(world, tmp_path) -> None:
    tenant, server, catcher, port = world
    [people] = section_blocks("Inviting people from a CSV: `orginvite invite`", "csv")
    [commands] = section_blocks("Inviting people from a CSV: `orginvite invite`", "sh")
    assert TENANT in commands and SMTP in commands
    (tmp_path / "people.csv").write_text(people, encoding="utf-8")
    script = commands.replace(TENANT, server.url).replace(SMTP, f"127.0.0.1:{port}")
    # `orginvite` is this checkout's, whatever the shell's PATH holds
    script = f'orginvite() {{ "{sys.executable}" -m orginvite "$@"; }}\nset -e\n{script}'
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    invited = pending(tenant)
    assert sorted(invited) == ["ana@example.com", "bo@example.com"]
    roles = {role["id"]: role["name"] for role in tenant.store.list_roles(0, 100)[0]}
    assert sorted(roles[r] for r in invited["ana@example.com"]["roles"]) == ["admin", "member"]
    assert [roles[r] for r in invited["bo@example.com"]["roles"]] == ["member"]
    by_address = {m["To"].addresses[0].addr_spec: m for m in catcher.messages}
    assert len(catcher.messages) == 2  # one email each: the dry run sent nothing
    assert sorted(by_address) == ["ana@example.com", "bo@example.com"]
    assert by_address["ana@example.com"]["Content-Language"] == "pt-BR"
    assert by_address["bo@example.com"]["Content-Language"] == "fr"
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["organization"] == {"id": DEMO_ACME_ORG_ID, "name": "acme"}
    assert (report["failures"], report["skipped"], report["validation_errors"]) == ([], [], [])
