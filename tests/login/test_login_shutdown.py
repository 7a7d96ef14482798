"""The login flow at lifespan shutdown: invitation events still queued are delivered before the app goes."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette

from login_support import unit_settings
from orginvite import OrgInviteMiddleware
from orginvite.events import InvitationEvent
from orginvite.login import lifecycle


def test_queued_invitation_events_reach_a_slow_sink_before_shutdown_completes():
    delivered: list[str] = []

    async def slow_sink(event: InvitationEvent) -> None:
        await asyncio.sleep(0.2)  # a webhook that takes its time
        delivered.append(event.type)

    middleware = OrgInviteMiddleware(Starlette(), unit_settings(on_invitation_event=slow_sink))

    async def main() -> list[str]:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sent: list[str] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message["type"])

        await inbox.put({"type": "lifespan.startup"})
        running = asyncio.ensure_future(middleware({"type": "lifespan", "asgi": {"version": "3.0"}},
                                                   inbox.get, send))
        while "lifespan.startup.complete" not in sent:
            await asyncio.sleep(0.01)
        for reason in ("wrong_account", "not_a_member"):
            lifecycle.emitter(middleware.context).emit(
                InvitationEvent("invitation.failed", "org_acme", "inv_1", reason=reason))
        await inbox.put({"type": "lifespan.shutdown"})
        await running
        return sent

    sent = asyncio.run(main())  # the loop ends right after shutdown: anything not delivered by then is lost
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert delivered == ["invitation.failed", "invitation.failed"]
