"""Loopback plumbing shared by the suites: free ports, a late-bound ASGI app, waiting for a server to answer.

A banner line or a bound port is no proof that a server accepts connections: ``orginvite tenant serve`` prints
"Press Ctrl-C" after binding its socket but before uvicorn listens on it, so a request sent at once can be refused.
:func:`wait_until_answering` polls until an answer arrives; no test sleeps and hopes.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2

from orginvite.testing import LiveServer

__all__ = ["Holder", "SharedServer", "free_port", "run_lifespan", "wait_until_answering"]


def free_port() -> int:
    """A loopback port nothing listens on right now (for servers that take a port, not a socket: aiosmtpd)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Holder:
    """An ASGI app whose target is set after its server started (the app's settings need the server's URL).

    It answers its server's lifespan protocol itself, and gives every app it served one of its own when it is
    done with it (:meth:`retire`, or its server's shutdown at the latest): a lifespan startup and shutdown, in the
    server's event loop, where the app's HTTP clients and stores live. OrgInviteMiddleware closes those on
    ``lifespan.shutdown``; an app served here without one would leave its sockets to the garbage collector.
    """

    def __init__(self) -> None:
        self._inner: Any = None
        self._served: list[Any] = []  # apps assigned to ``inner`` and not retired yet, oldest first
        self._loop: asyncio.AbstractEventLoop | None = None  # the server's, from its lifespan startup

    @property
    def inner(self) -> Any:
        return self._inner

    @inner.setter
    def inner(self, app: Any) -> None:
        self._inner = app
        if app is not None and app is not _nothing_served and all(app is not a for a in self._served):
            self._served.append(app)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._loop = asyncio.get_running_loop()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    try:
                        while self._served:
                            await run_lifespan(self._served.pop())
                    except Exception as exc:  # uvicorn logs a failed shutdown: the test run sees it
                        await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                    else:
                        await send({"type": "lifespan.shutdown.complete"})
                    return
        await self._inner(scope, receive, send)

    def retire(self, app: Any, timeout: float = 10.0) -> None:
        """Give ``app`` (served here, no longer needed) its lifespan startup and shutdown now, from another
        thread than the server's, and wait for them. Without a lifespan startup of our own (the server's
        ``lifespan="off"``) there is no loop to run them in: the server's shutdown will not close it either."""
        if all(app is not a for a in self._served):
            return
        self._served = [a for a in self._served if a is not app]
        if self._loop is None or self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(run_lifespan(app), self._loop).result(timeout)


async def run_lifespan(app: Any) -> None:
    """Drive ``app`` through a lifespan startup and shutdown, as a server starting and stopping it would.

    An app that does not speak lifespan (it returns, or raises, at once, as uvicorn's ``lifespan="auto"``
    tolerates) is left alone; a startup or shutdown that fails raises.
    """
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        arrived.set()

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    task = asyncio.ensure_future(app(scope, incoming.get, send))

    async def answer() -> dict[str, Any] | None:
        """The app's next message, or None once it returned (or raised: then it does not speak lifespan)."""
        while not sent:
            if task.done():
                return None
            arrived.clear()
            waiter = asyncio.ensure_future(arrived.wait())
            await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        return sent.pop(0)

    try:
        await incoming.put({"type": "lifespan.startup"})
        started = await answer()
        if started is None:
            return
        if started["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"{app!r}: lifespan startup failed: {started.get('message', '')}")
        await incoming.put({"type": "lifespan.shutdown"})
        stopped = await answer()
        if stopped is not None and stopped["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"{app!r}: lifespan shutdown failed: {stopped.get('message', '')}")
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # an app without lifespan raising is no error here


class SharedServer:
    """One loopback server for a whole test module, serving the app each test hands it.

    Starting and stopping uvicorn costs more than most tests (about 0.15 s a server): a module's fixture starts one
    and every test serves its own fresh app on it (:meth:`serving`), so no state crosses from one test to the next
    but the port. Use it as a context manager, as :class:`~orginvite.testing.LiveServer`.
    """

    def __init__(self, **uvicorn_options: Any) -> None:
        self.holder = Holder()
        self.holder.inner = _nothing_served
        self.server = LiveServer(self.holder, **uvicorn_options)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def __enter__(self) -> SharedServer:
        self.server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.stop()

    @contextmanager
    def serving(self, app: Any) -> Iterator[LiveServer]:
        """``app`` answers on this server until the block ends (then a request gets a 503)."""
        self.holder.inner = app
        try:
            yield self.server
        finally:
            self.holder.inner = _nothing_served
            self.holder.retire(app)  # its lifespan shutdown closes its clients, in the server's loop


async def _nothing_served(scope: Any, receive: Any, send: Any) -> None:
    """Between two tests: a late request (a client a test left open) gets a plain 503, not a traceback."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"no test is serving an app here"})


def wait_until_answering(
    url: str, *, process: subprocess.Popen[Any] | None = None, client: httpx2.Client | None = None,
    timeout: float = 60.0,
) -> httpx2.Response:
    """GET ``url`` until the server answers (any status) and return that answer.

    Connection errors and timeouts are retried until ``timeout`` seconds have passed, a generous ceiling that costs
    nothing when the server is quick; ``process`` exiting first fails at once, with its stderr when it was piped.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            stderr = process.stderr.read() if process.stderr is not None else ""
            if isinstance(stderr, bytes):
                stderr = stderr.decode(errors="replace")
            raise AssertionError(f"the server exited ({process.returncode}) before answering {url}: {stderr[-2000:]}")
        try:
            return client.get(url) if client is not None else httpx2.get(url, timeout=10)
        except httpx2.TransportError as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {timeout:.0f} s ({exc!r})") from exc
            time.sleep(0.05)  # a poll interval: the loop ends on an answer, not on this pause
