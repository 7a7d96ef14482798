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


@pytest.mark.parametrize("inner", [_no_lifespan_raises, _no_lifespan_returns], ids=["raises", "returns"])
def test_an_inner_app_without_lifespan_still_gets_the_login_flow_closed_at_shutdown(inner):
    delivered: list[str] = []

    async def slow_sink(event: InvitationEvent) -> None:
        await asyncio.sleep(0.1)
        delivered.append(event.type)

    middleware = OrgInviteMiddleware(inner, unit_settings(on_invitation_event=slow_sink))

    def emit() -> None:
        lifecycle.emitter(middleware.context).emit(InvitationEvent("invitation.failed", "org_acme", "inv_1",
                                                                   reason="wrong_account"))

    sent = _drive_lifespan(middleware, emit)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert delivered == ["invitation.failed"]  # the shutdown hook ran: queue drained, clients closed after it


def test_an_inner_app_whose_startup_fails_still_fails_the_startup():
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    assert _drive_lifespan(OrgInviteMiddleware(broken, unit_settings())) == ["lifespan.startup.failed"]
