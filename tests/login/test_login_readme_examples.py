"""The README's Starlette and FastAPI mounting examples, executed as written, signing in over loopback HTTP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from login_support import CLIENT_ID, CLIENT_SECRET, KEY_A, Browser, MiniOP
from loopback_support import Holder
from orginvite.testing import LiveServer

README = Path(__file__).resolve().parents[2] / "README.md"
ORG = "org_" + "R" * 16


def readme_examples() -> dict[str, str]:
    section = README.read_text().split("## Mounting the login flow", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^(\w+):\n\n```python\n(.*?)```", section, re.S | re.M)
    return dict(blocks)


def test_readme_has_both_examples_in_under_15_lines_of_code():
    examples = readme_examples()
    assert set(examples) == {"Starlette", "FastAPI"}
    for code in examples.values():
        assert len([line for line in code.splitlines() if line.strip()]) <= 15


@pytest.mark.parametrize("framework", ["Starlette", "FastAPI"])
def test_readme_example_signs_in_and_reports_the_organization(framework, monkeypatch):
    op = MiniOP()
    holder = Holder()
    with LiveServer(op.app) as op_server, LiveServer(holder) as server:
        for name, value in {
            "ORGINVITE_ISSUER": op_server.url + "/",
            "ORGINVITE_CLIENT_ID": CLIENT_ID,
            "ORGINVITE_CLIENT_SECRET": CLIENT_SECRET,
            "ORGINVITE_SECRET_KEYS": KEY_A,
            "ORGINVITE_BASE_URL": server.url,
        }.items():
            monkeypatch.setenv(name, value)
        namespace: dict = {}
        exec(compile(readme_examples()[framework], f"README:{framework}", "exec"), namespace)
        holder.inner = namespace["app"]
        browser = Browser()
        assert browser.get(server.url + "/me").status_code in (401, 403)
        start = browser.get(server.url + f"/login?organization={ORG}")
        at_op = browser.get(start.headers["location"])
        assert browser.get(at_op.headers["location"]).status_code == 303
        me = browser.get(server.url + "/me")
        assert me.status_code == 200
        assert me.json() == {"sub": "auth0|alice", "organization": ORG}
        browser.close()
