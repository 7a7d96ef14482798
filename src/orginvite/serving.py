"""What the serving commands (``orginvite demo``, ``tenant serve``, ``preview --serve``) share.

One port option type, so a port out of range is the same one-line usage error everywhere; one way to bind before
the banner, so a taken port is reported with the option that names it; and one way to run uvicorn servers until
SIGINT or SIGTERM, so every command stops with 0 on either (uvicorn alone re-raises SIGTERM after its shutdown and
the process dies of it). uvicorn is imported only when a server is made: ``preview`` without ``--serve`` never
loads it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import uvicorn

__all__ = ["STOP_SIGNALS", "bind", "cannot_listen", "make_server", "port_option", "serve_until_stopped"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def port_option(value: str) -> int:
    """An argparse ``type`` for ``--port``-like options: 0 to 65535 (0 picks a free one)."""
    try:
        number = int(value, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (0 to 65535; 0 picks a free one)") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{number} is out of range (0 to 65535; 0 picks a free one)")
    return number


def bind(host: str, number: int) -> socket.socket:
    """A listening socket on ``host:number``, made before the banner so it shows the real port (``0``) and a
    taken port fails before anything is printed. Listening at once lets a client that connects as soon as it reads
    the banner wait in the backlog until uvicorn accepts, instead of being refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, number))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def cannot_listen(prog: str, host: str, number: int, option: str, exc: OSError) -> str:
    """The one-line error for a port :func:`bind` could not take, naming the option to change."""
    return (f"{prog}: cannot listen on {host}:{number} ({option}): {exc.strerror or exc}; "
            f"pick another port with {option} (0 picks a free one)")


def make_server(app: Any, *, log_level: str) -> uvicorn.Server:
    """A uvicorn server that leaves signals to :func:`serve_until_stopped` (several servers may share a loop)."""
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        def install_signal_handlers(self) -> None:  # the same, for uvicorn versions before capture_signals
            return None

    return _Server(uvicorn.Config(app, log_level=log_level, lifespan="auto"))


async def serve_until_stopped(
    servers: list[tuple[uvicorn.Server, socket.socket]],
    *,
    ready: Callable[[], None],
    err: TextIO,
    prog: str,
) -> int:
    """Serve until SIGINT/SIGTERM (0) or until a server stops on its own (1); ``ready`` once all of them accept."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
    stopper = asyncio.create_task(stop.wait())
    failed = True
    try:
        while not all(server.started for server, _ in servers):
            if stop.is_set() or any(task.done() for task in tasks):
                break
            await asyncio.sleep(0.02)
        else:
            ready()  # the URLs are printed once they answer
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        failed = stopper not in done
        if failed:
            print(f"{prog}: a server stopped unexpectedly" + ("; stopping the others" if len(servers) > 1 else ""),
                  file=err)
    finally:
        for server, _sock in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        stopper.cancel()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
    return 1 if failed else 0
