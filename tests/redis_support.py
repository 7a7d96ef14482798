"""Debian's redis-server on a free loopback port, for the tests of the Redis session store.

A missing redis-server (or redis-py) skips those tests on a workstation; with ``ORGINVITE_REQUIRE_REDIS=1`` (set by
``.ci/run``, whose ``tests/run.sh`` installs the Debian package when root) it fails them, as a missing Chromium
does for the browser tests.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from loopback_support import free_port

REQUIRE_ENV = "ORGINVITE_REQUIRE_REDIS"
SERVER = os.environ.get("ORGINVITE_REDIS_SERVER", "redis-server")


def missing_redis() -> str | None:
    if importlib.util.find_spec("redis") is None:
        return "redis-py is not installed"
    if shutil.which(SERVER) is None:
        return f"{SERVER} is not installed (apt-get install redis-server)"
    return None


def require_redis() -> None:
    reason = missing_redis()
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 says the Redis tests must run", pytrace=False)
    pytest.skip(f"{reason} (set {REQUIRE_ENV}=1 to make this an error)")


class RedisServer:
    def __init__(self, port: int, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.process = process
        self.url = f"redis://127.0.0.1:{port}/0"

    def stop(self) -> None:
        """Stop it (an outage, for the tests that need one)."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A throwaway redis-server bound to 127.0.0.1 only, no persistence, gone at the end."""
    require_redis()
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        process = subprocess.Popen(
            [SERVER, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", workdir, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        server = RedisServer(port, process)
        try:
            import redis

            client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
            deadline = time.monotonic() + 15
            while True:
                try:
                    client.ping()
                    break
                except redis.exceptions.ConnectionError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.05)
            client.close()
            yield server
        finally:
            server.stop()
