"""``python -m benchmarks.load``: uvicorn on loopback under load, with zero errors required.

1. ``/login`` with an invitation: ``--connections`` (64) concurrent keep-alive connections for ``--duration``
   (10 s), every answer must be the 302 to ``/authorize``. The generator is Debian's ``wrk`` when installed
   (``apt-get install wrk``; C, so it leaves the CPU to the server), else a Python asyncio/httpx2 one
   (``--generator python``), which every answer is checked by.
2. ``--flows`` (200) complete invitation flows at once against the dev tenant: each creates its invitation
   through the Management API, follows the link, signs up on the hosted page, returns through the callback and
   must then see its organization at ``/me``. Afterwards the organization must have exactly that many members.

Servers run in their own processes (:mod:`benchmarks.serve`); everything stays on 127.0.0.1 and stops by itself.
Reports p50, p99 and throughput; exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2

from benchmarks.login import QUERY
from benchmarks.world import accept, count_members, create_invitation, management_token

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server(*args: str) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.serve", *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"server {args} did not start")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


# -- 1. /login -------------------------------------------------------------------------------------------------


def _wrk_seconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def login_with_wrk(url: str, connections: int, duration: float) -> dict[str, Any]:
    done = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{int(duration)}s", "--latency", "--timeout", "10s",
                           url], capture_output=True, text=True, timeout=duration + 60, check=True)
    out = done.stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0)
    return {
        "generator": "wrk", "connections": connections, "seconds": duration, "requests": requests, "errors": errors,
        "throughput_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _wrk_seconds(latency["50"]) * 1e3, "p99_ms": _wrk_seconds(latency["99"]) * 1e3,
    }


async def login_with_python(url: str, issuer_prefix: str, connections: int, duration: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    # One client (one keep-alive connection) per simulated browser: a single pool shared by 64 tasks spends its
    # time in httpx2's own pool bookkeeping, not on the wire.
    clients = [httpx2.AsyncClient(timeout=10, limits=httpx2.Limits(max_connections=1)) for _ in range(connections)]
    try:
        deadline = time.perf_counter() + duration

        async def worker(client: httpx2.AsyncClient) -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    response = await client.get(url)
                except httpx2.HTTPError as exc:
                    errors.append(type(exc).__name__)
                    continue
                latencies.append(time.perf_counter() - start)
                if response.status_code != 302 or not response.headers.get("location", "").startswith(issuer_prefix):
                    errors.append(f"HTTP {response.status_code}")

        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for client in clients))
        elapsed = time.perf_counter() - started
    finally:
        for client in clients:
            await client.aclose()
    return {
        "generator": "python (httpx2)", "connections": connections, "seconds": round(elapsed, 2),
        "requests": len(latencies), "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
        "throughput_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1e3, "p99_ms": percentile(latencies, 99) * 1e3,
    }


def run_login(generator: str, connections: int, duration: float) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/login?{QUERY.decode()}"
    with server("login", str(port)):
        check = httpx2.get(url, follow_redirects=False)  # one by hand: the right answer, before measuring many
        if check.status_code != 302 or "/authorize?" not in check.headers.get("location", ""):
            raise RuntimeError(f"/login answered HTTP {check.status_code}")
        issuer_prefix = check.headers["location"].split("/authorize?")[0] + "/authorize?"
        if generator == "wrk" or (generator == "auto" and shutil.which("wrk")):
            return login_with_wrk(url, connections, duration)
        return asyncio.run(login_with_python(url, issuer_prefix, connections, duration))


# -- 2. invitation flows ---------------------------------------------------------------------------------------


async def flows(tenant_url: str, app_url: str, count: int) -> dict[str, Any]:
    limits = httpx2.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx2.AsyncClient(limits=limits, timeout=120) as backend:
        token = await management_token(backend, tenant_url)
        before = await count_members(backend, tenant_url, token)
        durations: list[float] = []
        errors: list[str] = []

        async def one(index: int) -> None:
            email = f"load{index:04d}@bench.test"
            start = time.perf_counter()
            try:
                invitation = await create_invitation(backend, tenant_url, token, email)
                async with httpx2.AsyncClient(follow_redirects=False, timeout=120) as browser:
                    await accept(browser, invitation["invitation_url"], app_url, email)
            except Exception as exc:  # every failure is counted and reported, none stops the others
                errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
                return
            durations.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        elapsed = time.perf_counter() - started
        after = await count_members(backend, tenant_url, token)
    return {
        "flows": count, "completed": len(durations), "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
        "members_added": after - before, "lost_memberships": max(0, len(durations) - (after - before)),
        "seconds": round(elapsed, 2), "throughput_per_s": len(durations) / elapsed,
        "p50_s": percentile(durations, 50), "p99_s": percentile(durations, 99),
    }


def run_flows(count: int) -> dict[str, Any]:
    tenant_port, app_port = free_port(), free_port()
    tenant_url, app_url = f"http://127.0.0.1:{tenant_port}", f"http://127.0.0.1:{app_port}"
    with server("tenant", str(tenant_port), app_url), server("app", str(app_port), tenant_url):
        return asyncio.run(flows(tenant_url, app_url, count))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of /login load")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections for /login")
    parser.add_argument("--flows", type=int, default=200, help="concurrent complete invitation flows")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = {
        "login": run_login(args.generator, args.connections, args.duration),
        "invitation_flows": run_flows(args.flows),
    }
    ok = (report["login"]["errors"] == 0 and report["invitation_flows"]["errors"] == 0
          and report["invitation_flows"]["lost_memberships"] == 0
          and report["invitation_flows"]["completed"] == args.flows)
    report["ok"] = ok
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        login, flow = report["login"], report["invitation_flows"]
        print(f"/login ({login['generator']}, {login['connections']} connections, {login['seconds']} s): "
              f"{login['requests']} requests, {login['errors']} errors, {login['throughput_per_s']:,.0f} req/s, "
              f"p50 {login['p50_ms']:.2f} ms, p99 {login['p99_ms']:.2f} ms")
        print(f"invitation flows ({flow['flows']} at once): {flow['completed']} completed, {flow['errors']} errors, "
              f"{flow['members_added']} members added ({flow['lost_memberships']} lost), {flow['seconds']} s, "
              f"{flow['throughput_per_s']:.1f} flows/s, p50 {flow['p50_s']:.2f} s, p99 {flow['p99_s']:.2f} s")
        for kind in flow["error_kinds"]:
            print("  flow error:", kind)
        print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
