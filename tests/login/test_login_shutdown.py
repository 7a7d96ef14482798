"""The login flow at lifespan shutdown: invitation events still queued are delivered before the app goes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.applications import Starlette

from login_support import unit_settings
from orginvite import OrgInviteMiddleware
from orginvite.events import InvitationEvent
from orginvite.login import lifecycle


def _drive_lifespan(middleware: OrgInviteMiddleware, during: Any = None) -> list[str]:
    async def main() -> list[str]:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sent: list[str] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message["type"])

        await inbox.put({"type": "lifespan.startup"})
        running = asyncio.ensure_future(middleware({"type": "lifespan", "asgi": {"version": "3.0"}},
                                                   inbox.get, send))
        while "lifespan.startup.complete" not in sent and not running.done():
            await asyncio.sleep(0.01)
        if during is not None:
            during()
        await inbox.put({"type": "lifespan.shutdown"})
        await running
        return sent

    return asyncio.run(main())


async def _no_lifespan_raises(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "http", "this app only speaks HTTP"


async def _no_lifespan_returns(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return


@pytest.mark.parametrize("inner", [Starlette(), _no_lifespan_raises, _no_lifespan_returns],
                         ids=["starlette", "no-lifespan-raises", "no-lifespan-returns"])
def test_queued_invitation_events_reach_a_slow_sink_before_shutdown_completes(inner):
    """Whatever the inner app does with the lifespan, the flow's shutdown runs: events queued just before it are
    delivered (the loop ends right after shutdown: anything not delivered by then is lost), then clients close."""
    delivered: list[str] = []

    async def slow_sink(event: InvitationEvent) -> None:
        await asyncio.sleep(0.2)  # a webhook that takes its time
        delivered.append(event.type)

    middleware = OrgInviteMiddleware(inner, unit_settings(on_invitation_event=slow_sink))

    def emit() -> None:
        for reason in ("wrong_account", "not_a_member"):
            lifecycle.emitter(middleware.context).emit(
                InvitationEvent("invitation.failed", "org_acme", "inv_1", reason=reason))

    assert _drive_lifespan(middleware, emit) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert delivered == ["invitation.failed", "invitation.failed"]


def test_an_inner_app_whose_startup_fails_still_fails_the_startup():
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    assert _drive_lifespan(OrgInviteMiddleware(broken, unit_settings())) == ["lifespan.startup.failed"]
