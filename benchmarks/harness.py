"""Interleaved rounds, medians and ratios: the measuring machinery shared by every section.

These machines are noisy (2 cores shared with other jobs), so a section runs all its cases in the same process,
round after round in turn (A B C C B A ...), and reports the median per-operation time over the rounds, and each
target as the median of the per-round ratios: a slow moment hits every case of a round alike and cancels out.
Time is the thread's CPU time by default (``time.thread_time``): what another process does to the machine then
shows only through caches, not as our time. Sections with real I/O measure wall time instead.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Op = Callable[[], Awaitable[Any]]


@dataclass
class Case:
    """One thing measured: ``op`` does one operation (an awaitable factory, so sync work is wrapped)."""

    name: str
    op: Op
    note: str = ""
    skip: str | None = None  # a reason not to run (e.g. a package that does not install here)


@dataclass
class Target:
    """``row`` against ``ref``: ``kind="speedup"`` is ref_time/row_time >= value; ``"slowdown"`` is
    row_time/ref_time <= value."""

    row: str
    ref: str
    kind: str
    value: float

    def describe(self) -> str:
        if self.kind == "speedup":
            return f"{self.row} >= {self.value:g}x the rate of {self.ref}"
        return f"{self.row} <= {self.value:g}x the time of {self.ref}"


@dataclass
class Section:
    key: str
    title: str
    cases: list[Case]
    baseline: str
    targets: list[Target] = field(default_factory=list)
    setup: Callable[[], Awaitable[None]] | None = None
    teardown: Callable[[], Awaitable[None]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # non-timed facts (e.g. memory), reported as is
    timer: Callable[[], float] = time.thread_time


@dataclass
class Options:
    rounds: int = 25
    round_seconds: float = 0.08  # time each case gets per round, once calibrated
    quick: bool = False  # smoke test: one tiny batch per case, numbers meaningless


async def _batch(op: Op, n: int, timer: Callable[[], float] = time.perf_counter) -> float:
    start = timer()
    for _ in range(n):
        await op()
    return timer() - start


async def _calibrate(op: Op, seconds: float) -> int:
    n = 1
    while True:
        elapsed = await _batch(op, n)  # wall time: the round's length is what calibration is about
        if elapsed >= seconds / 4 or n >= 1 << 20:
            return max(1, int(n * seconds / max(elapsed, 1e-9)))
        n *= 4


async def run_section(section: Section, options: Options) -> dict[str, Any]:
    """Run one section's cases interleaved; return its JSON-ready result."""
    if section.setup is not None:
        await section.setup()
    try:
        live = [c for c in section.cases if c.skip is None]
        for case in live:
            await case.op()  # warm: caches, discovery, JWKS, compiled templates
        if options.quick:
            sizes = {c.name: 3 for c in live}
            rounds = 1
        else:
            sizes = {c.name: await _calibrate(c.op, options.round_seconds) for c in live}
            rounds = options.rounds
        times: dict[str, list[float]] = {c.name: [] for c in live}
        for index in range(rounds):
            order = live if index % 2 == 0 else live[::-1]  # alternate the order: no case always goes first
            for case in order:
                gc.collect()
                n = sizes[case.name]
                times[case.name].append(await _batch(case.op, n, section.timer) / n)
    finally:
        if section.teardown is not None:
            await section.teardown()

    base = times.get(section.baseline)
    rows = []
    for case in section.cases:
        if case.skip is not None:
            rows.append({"name": case.name, "note": case.note, "skipped": case.skip})
            continue
        per_op = statistics.median(times[case.name])
        row: dict[str, Any] = {"name": case.name, "note": case.note, "median_us": per_op * 1e6,
                               "ops_per_s": 1 / per_op, "rounds": len(times[case.name]),
                               "batch": sizes[case.name]}
        if base:
            row["rate_vs_baseline"] = statistics.median(b / t for b, t in zip(base, times[case.name], strict=True))
        rows.append(row)
    targets = []
    for target in section.targets:
        result: dict[str, Any] = {"target": target.describe(), "row": target.row, "ref": target.ref,
                                  "kind": target.kind, "value": target.value}
        if target.row not in times or target.ref not in times:
            result.update(measured=None, ok=None, skipped="a row was skipped")
        else:
            pairs = zip(times[target.row], times[target.ref], strict=True)
            if target.kind == "speedup":
                measured = statistics.median(ref / row for row, ref in pairs)
                ok = measured >= target.value
            else:
                measured = statistics.median(row / ref for row, ref in pairs)
                ok = measured <= target.value
            result.update(measured=measured, ok=ok)
        targets.append(result)
    timer = "cpu" if section.timer is time.thread_time else "wall"
    return {"key": section.key, "title": section.title, "baseline": section.baseline, "timer": timer, "rows": rows,
            "targets": targets, "extra": section.extra}


def run_sync(coro: Awaitable[Any]) -> Any:
    return asyncio.get_event_loop().run_until_complete(coro)


# -- in-process ASGI calls -----------------------------------------------------------------------------------


#: What a browser sends with every navigation; every contender gets the same (Accept-Language matters: the login
#: negotiates the provider's ui_locales from it).
BROWSER_HEADERS = [
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    (b"accept-language", b"en-US,en;q=0.9"),
    (b"accept-encoding", b"gzip, deflate, br"),
]


def http_scope(path: str, query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None,
               method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query, "headers": [(b"host", b"127.0.0.1:8000"), *(headers or [])],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }


class ASGICall:
    """One request straight into an ASGI app, no transport in between: what is measured is the app alone."""

    def __init__(self, app: Any, path: str, query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None,
                 expect: int | None = None) -> None:
        self.app, self.path, self.query, self.headers, self.expect = app, path, query, headers, expect
        self.last_headers: list[tuple[bytes, bytes]] = []

    async def __call__(self) -> int:
        status = 0
        headers: list[tuple[bytes, bytes]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))

        await self.app(http_scope(self.path, self.query, self.headers), receive, send)
        if self.expect is not None and status != self.expect:
            raise AssertionError(f"{self.path}: HTTP {status}, expected {self.expect}")
        self.last_headers = headers
        return status


# -- output ------------------------------------------------------------------------------------------------


def _fmt_rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:,.1f}"


def table(results: list[dict[str, Any]]) -> str:
    """The human report: one block per section, rows with median time, rate and rate against the baseline."""
    lines: list[str] = []
    for section in results:
        if not section["rows"]:
            lines.append(f"== {section['title']}")
        else:
            lines.append(f"== {section['title']} (baseline: {section['baseline']}; {section['timer']} time)")
            lines.append(f"  {'case':<44} {'median':>12} {'ops/s':>12} {'rate vs base':>13}")
        for row in section["rows"]:
            if "skipped" in row:
                lines.append(f"  {row['name']:<44} skipped: {row['skipped']}")
                continue
            ratio = row.get("rate_vs_baseline")
            lines.append(
                f"  {row['name']:<44} {row['median_us']:>10.1f}us {_fmt_rate(row['ops_per_s']):>12} "
                f"{'' if ratio is None else f'{ratio:.3f}x':>13}"
            )
        for key, value in section["extra"].items():
            lines.append(f"  {key}: {value}")
        for target in section["targets"]:
            if target["measured"] is None:
                verdict = f"SKIPPED ({target.get('skipped')})"
            else:
                verdict = f"{target['measured']:.3f} -> {'PASS' if target['ok'] else 'FAIL'}"
            lines.append(f"  target: {target['target']}: {verdict}")
        lines.append("")
    return "\n".join(lines)
