"""``python -m benchmarks.instructions``: the no-cookie pass-through counted in machine instructions per request.

CPU time on a shared machine moves by several per cent between runs; instructions counted by valgrind's cachegrind
do not (to about 0.3 %), which is what a change of a few hundred nanoseconds needs to be seen. Each row runs in a
fresh process under valgrind twice, with 0 and with ``--requests`` requests after a warm-up, the garbage collector
off; the difference divided by the requests is one request. Slow (about 15 s a row); needs ``valgrind``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import shutil
import subprocess
import sys
from typing import Any

ROWS = ("bare", "null", "orginvite")


def _app(row: str) -> Any:
    from benchmarks.passthrough import NullMiddleware, bare_app
    from orginvite.config import Settings
    from orginvite.login.middleware import OrgInviteMiddleware

    bare = bare_app()
    if row == "bare":
        return bare
    if row == "null":
        return NullMiddleware(bare)
    return OrgInviteMiddleware(bare, Settings(
        issuer="http://127.0.0.1:9/", client_id="bench", client_secret="bench-secret", secret_keys=("k" * 32,),
        base_url="http://127.0.0.1:8000", revocation_store="off"))  # no request reaches the provider


def _run(row: str, requests: int) -> None:
    from benchmarks.harness import BROWSER_HEADERS, ASGICall

    call = ASGICall(_app(row), "/", headers=BROWSER_HEADERS, expect=200)

    async def go() -> None:
        for _ in range(300):  # warm: first-call caches, specialized bytecode
            await call()
        gc.collect()
        gc.disable()
        for _ in range(requests):
            await call()

    asyncio.run(go())


def _count(row: str, requests: int) -> int:
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
               sys.executable, "-m", "benchmarks.instructions", "--run", row, str(requests)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
                          check=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError("valgrind printed no instruction count")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--run", nargs=2, metavar=("ROW", "N"), help=argparse.SUPPRESS)  # the counted process
    args = parser.parse_args(argv)
    if args.run:
        _run(args.run[0], int(args.run[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    counts = {row: (_count(row, args.requests) - _count(row, 0)) / args.requests for row in ROWS}
    for row in ROWS:
        print(f"  {row:10s} {counts[row]:10,.0f} instructions per request  {counts[row] / counts['bare']:.3f}x bare")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
