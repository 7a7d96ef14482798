"""The README's email and preview examples, as written there."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import httpx2
from aiosmtpd.controller import Controller

from orginvite.testing import LiveServer

README = Path(__file__).resolve().parents[2] / "README.md"


def section_blocks(heading: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end != -1 else len(text)], re.DOTALL)


def test_the_rendering_example_renders_and_sends_over_smtp() -> None:
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            received.append(envelope.content)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    render_example, _ = section_blocks("Invitation emails")
    namespace: dict = {}
    exec(compile(render_example.replace("port=1025", f"port={port}"), "README.md (emails)", "exec"), namespace)
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        asyncio.run(namespace["send"]())
    finally:
        controller.stop()
    assert len(received) == 1 and b"Content-Language: fr" in received[0]


def test_the_preview_mounting_example_serves_previews() -> None:
    _, mount_example = section_blocks("Invitation emails")
    namespace: dict = {}
    exec(compile(mount_example, "README.md (previews)", "exec"), namespace)
    with LiveServer(namespace["app"]) as server:
        page = httpx2.get(server.url + "/_previews/emails/invitation?locale=ar")
    assert page.status_code == 200 and 'data-testid="rtl"' in page.text
