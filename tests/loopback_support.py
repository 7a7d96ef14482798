"""Loopback plumbing shared by the suites: free ports, a late-bound ASGI app, waiting for a server to answer.

A banner line or a bound port is no proof that a server accepts connections: ``orginvite tenant serve`` prints
"Press Ctrl-C" after binding its socket but before uvicorn listens on it, so a request sent at once can be refused.
:func:`wait_until_answering` polls until an answer arrives; no test sleeps and hopes.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2

from orginvite.testing import LiveServer

__all__ = ["Holder", "SharedServer", "free_port", "wait_until_answering"]


def free_port() -> int:
    """A loopback port nothing listens on right now (for servers that take a port, not a socket: aiosmtpd)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Holder:
    """An ASGI app whose target is set after its server started (the app's settings need the server's URL).

    It answers the lifespan protocol itself: the inner app's resources are the test's to close.
    """

    def __init__(self) -> None:
        self.inner: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self.inner(scope, receive, send)


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
