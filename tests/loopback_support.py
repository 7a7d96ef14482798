"""Helpers for servers the tests start in another process: wait until one really answers, never sleep and hope.

A banner line or a bound port is no proof that a server accepts connections: ``orginvite tenant serve`` prints
"Press Ctrl-C" after binding its socket but before uvicorn listens on it, so a request sent at once can be refused.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import httpx

__all__ = ["wait_until_answering"]


def wait_until_answering(
    url: str, *, process: subprocess.Popen[Any] | None = None, client: httpx.Client | None = None,
    timeout: float = 60.0,
) -> httpx.Response:
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
            return client.get(url) if client is not None else httpx.get(url, timeout=10)
        except httpx.TransportError as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {timeout:.0f} s ({exc!r})") from exc
            time.sleep(0.05)  # a poll interval: the loop ends on an answer, not on this pause
