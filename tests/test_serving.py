"""What the serving commands share (orginvite.serving): one port check, a taken port named before any banner."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator

import pytest

from orginvite.cli import main

# Each serving command, with the options that make it serve; every one of them takes --port.
SERVING = {
    "demo": ["demo"],
    "tenant serve": ["tenant", "serve", "--ephemeral"],
    "preview --serve": ["preview", "--serve"],
}


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.mark.parametrize("command", SERVING)
@pytest.mark.parametrize(("value", "reason"), [
    ("99999", "99999 is out of range (0 to 65535; 0 picks a free one)"),
    ("-1", "-1 is out of range (0 to 65535; 0 picks a free one)"),
    ("65536", "65536 is out of range"),
    ("eighty", "'eighty' is not a port number"),
])
def test_a_port_out_of_range_is_a_usage_error_naming_the_option(
    command: str, value: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SERVING[command], "--port", value]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"orginvite {command.split()[0]}")
    assert f": error: argument --port: {reason}" in last
    assert "Traceback" not in err


@pytest.mark.parametrize("option", ["--tenant-port", "--outbox-port", "--smtp-port"])
def test_the_demo_checks_every_port_option(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", option, "70000"]) == 2
    assert f"argument {option}: 70000 is out of range" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["tenant serve", "preview --serve"])
def test_a_taken_port_is_reported_before_the_banner_naming_the_option(
    command: str, taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SERVING[command], "--port", str(taken_port)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        f"orginvite {command.split()[0]}: cannot listen on 127.0.0.1:{taken_port} (--port): "
        f"{os.strerror(errno.EADDRINUSE)}; pick another port with --port (0 picks a free one)"
    )
    assert captured.out == ""  # no banner, no "email previews on ..." line
