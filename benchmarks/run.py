"""``python -m benchmarks``: every section, interleaved rounds, a table (or ``--json``).

Ratios are measured in the same run against a baseline in the same process; absolute numbers are for context
only (noisy shared machines). ``--quick`` runs one tiny batch per case: for the smoke test, not for numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import platform
import sys
import time
from typing import Any

from benchmarks.harness import Options, run_section, table
from benchmarks.provider import Provider

SECTIONS = ("login", "passthrough", "callback", "emails", "memory", "devtenant", "tokens", "redis", "revalidation")


async def _run(options: Options, only: set[str]) -> list[dict[str, Any]]:
    from benchmarks import callback, devtenant, emails, login, memory, passthrough, revalidation, tokens

    provider = Provider().start()
    try:
        builders = {
            "login": lambda: login.section(provider),
            "passthrough": lambda: passthrough.section(provider),
            "callback": lambda: callback.build(provider),
            "emails": lambda: emails.section(quick=options.quick),
            "memory": lambda: None,
            "devtenant": devtenant.build,
            "tokens": lambda: tokens.section(provider),
            "redis": lambda: tokens.redis_section(provider),
            "revalidation": lambda: revalidation.section(provider),
        }
        results = []
        for key in SECTIONS:
            if only and key not in only:
                continue
            if key == "memory":  # nothing timed: facts from a fresh process
                results.append({"key": key, "title": "5. Memory (fresh process)", "baseline": None, "timer": None,
                                "rows": [], "targets": [], "extra": memory.measure()})
            else:
                built = builders[key]()
                section = await built if inspect.isawaitable(built) else built
                results.append(await run_section(section, options))
            print(f"[{key} done]", file=sys.stderr, flush=True)
        return results
    finally:
        provider.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--rounds", type=int, default=25, help="interleaved rounds per section (median over them)")
    parser.add_argument("--round-seconds", type=float, default=0.08, help="time per case per round")
    parser.add_argument("--quick", action="store_true", help="one tiny batch per case (smoke test; meaningless)")
    parser.add_argument("--only", action="append", default=[], choices=SECTIONS, help="run only these sections")
    args = parser.parse_args(argv)
    options = Options(rounds=args.rounds, round_seconds=args.round_seconds, quick=args.quick)
    started = time.perf_counter()
    results = asyncio.run(_run(options, set(args.only)))
    meta = {"python": platform.python_version(), "platform": platform.platform(), "rounds": options.rounds,
            "round_seconds": options.round_seconds, "quick": options.quick,
            "seconds": round(time.perf_counter() - started, 1)}
    if args.json:
        print(json.dumps({"meta": meta, "sections": results}, indent=2))
    else:
        print(table(results))
        print(f"({meta['seconds']} s, Python {meta['python']}, {options.rounds} rounds)")
    return 0
