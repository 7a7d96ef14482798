"""The README's webhook receiver ("Invitation events"), executed as written, verifying real signed deliveries."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from orginvite.events import InvitationEvent, WebhookSink
from orginvite.testing import LiveServer

README = Path(__file__).resolve().parents[1] / "README.md"


def section_blocks(heading: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end != -1 else len(text)], re.DOTALL)


def test_the_receiver_example_accepts_a_signed_delivery_and_refuses_a_forged_one() -> None:
    [receiver] = section_blocks("Invitation events")
    namespace: dict = {}
    exec(compile(receiver, "README.md (events)", "exec"), namespace)
    event = InvitationEvent("invitation.accepted", "org_acme000000000001", "uinv_0000000000000001",
                            email="zoe@example.test")
    with LiveServer(namespace["receiver_app"]) as server:
        url = server.url + "/hooks/orginvite"
        good = WebhookSink(url, namespace["SECRET"], attempts=1)
        forged = WebhookSink(url, "whsec_" + "QUJDREVGR0hJSktMTU5PUA==", attempts=1)

        async def deliver() -> None:
            await good(event)
            await forged(event)
            await good.aclose()
            await forged.aclose()

        asyncio.run(deliver())
    assert namespace["received"] == [event.to_dict()]
    assert good.delivered == 1 and forged.given_up == 1
