"""The benchmark command runs end to end and reports every row; it never asserts speed (noisy machines)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Every section and row the command must report (a skipped row must say why).
EXPECTED = {
    "login": {
        "floor: bare Starlette fixed redirect",
        "orginvite /login (invitation)",
        "authlib authorize_redirect + SessionMiddleware",
        "orginvite /login (invitation, preflight, cached org)",
        "auth0-fastapi /auth/login",
    },
    "passthrough": {
        "bare Starlette app",
        "orginvite, no cookie",
        "do-nothing ASGI middleware (context)",
        "orginvite, valid session cookie",
        "orginvite, valid session cookie, revocation off",
        "orginvite, session cookie not yet memoized",
        "Starlette SessionMiddleware, same-size cookie",
        "Starlette SessionMiddleware, 2048 cookies in turn",
    },
    "callback": {
        "authlib parse_id_token",
        "orginvite verify + org check + session",
        "orginvite /callback, full request",
    },
    "emails": {
        "bare Jinja render (3 templates)",
        "orginvite full render",
        "orginvite full pipeline to bytes",
    },
    "memory": set(),
    "devtenant": {
        "management API: GET organization",
        "management API: create invitation",
        "complete invitation acceptance",
    },
    "tokens": {
        "authenticated request, identity cookie",
        "authenticated request, sealed token session",
        "get_access_token, fresh token",
        "Starlette SessionMiddleware, same-size cookie",
    },
    "redis": {"redis-py GET, bare", "session read, Redis store", "whole request, Redis store"},
    "revalidation": {"session confirmed within the interval", "session due, confirmation cached"},
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks", "--quick", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=240, check=False)


def test_quick_json_reports_every_row_with_numbers_or_a_reason() -> None:
    done = _run("--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    sections = {s["key"]: s for s in report["sections"]}
    assert set(sections) == set(EXPECTED)
    for key, names in EXPECTED.items():
        rows = {r["name"]: r for r in sections[key]["rows"]}
        assert set(rows) == names, key
        for row in rows.values():
            if "skipped" in row:
                assert row["skipped"].strip(), row
            else:
                assert row["median_us"] > 0 and row["ops_per_s"] > 0, row
                assert row["rate_vs_baseline"] > 0, row
        for target in sections[key]["targets"]:
            assert target["row"] in rows and target["ref"] in rows
            assert target["ok"] in (True, False, None)
    memory = sections["memory"]["extra"]
    assert "all locales + email templates rendered once" in memory and "MiB" in memory["orginvite's own resident cost"]
    assert sections["devtenant"]["extra"]["lost memberships"] == 0
    assert sections["tokens"]["extra"]["refreshes for 100 concurrent requests of one expiring session"] == 1
    revalidation = sections["revalidation"]["extra"]
    for how in ("at once", "one after another"):  # one confirmation: the user's organizations, then their roles
        assert revalidation[f"Management API requests for 1,000 requests of one lapsed session, {how}"] == {
            "users/{id}/organizations": 1, "organizations/{org}/members/{id}/roles": 1, "token": 1}
        assert revalidation[f"refreshes (no credentials) for 1,000 requests of one lapsed session, {how}"] == 1


def test_default_output_is_a_table_with_every_section() -> None:
    done = _run("--only", "login")
    assert done.returncode == 0, done.stderr
    assert "== 1. Login redirect" in done.stdout
    for name in EXPECTED["login"]:
        assert name in done.stdout


def test_load_command_runs_small_and_loses_nothing() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks.load", "--duration", "1", "--connections", "4",
                           "--flows", "6", "--generator", "python", "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    login, flows = report["login"], report["invitation_flows"]
    assert login["requests"] > 0 and login["errors"] == 0
    assert flows["completed"] == 6 and flows["errors"] == 0
    assert flows["members_added"] == 6 and flows["lost_memberships"] == 0


def test_instruction_count_rows_run_and_answer() -> None:
    """The processes `benchmarks.instructions` counts under valgrind (run here without it): every row answers 200."""
    done = subprocess.run([sys.executable, "-c", "from benchmarks import instructions as i\n"
                           "for row in i.ROWS: assert i.main(['--run', row, '5']) == 0\nprint('ok')"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
