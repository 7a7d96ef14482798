"""The README's "Calling your API" example, executed as written against MiniOP over loopback HTTP."""

from __future__ import annotations

import re
from pathlib import Path

from session_support import API, ORG

from login_support import CLIENT_ID, CLIENT_SECRET, KEY_A, Browser, MiniOP
from loopback_support import Holder
from orginvite.testing import LiveServer

README = Path(__file__).resolve().parents[2] / "README.md"


def example() -> str:
    section = README.read_text().split("## Calling your API", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def test_the_readme_example_gives_the_api_token_and_says_when_to_sign_in_again(monkeypatch):
    op = MiniOP()
    holder = Holder()
    with LiveServer(op.app) as op_server, LiveServer(holder) as server:
        for name, value in {
            "ORGINVITE_ISSUER": op_server.url + "/", "ORGINVITE_CLIENT_ID": CLIENT_ID,
            "ORGINVITE_CLIENT_SECRET": CLIENT_SECRET, "ORGINVITE_SECRET_KEYS": KEY_A,
            "ORGINVITE_BASE_URL": server.url, "ORGINVITE_AUDIENCE": API,
            "ORGINVITE_SCOPE": "openid profile email offline_access",
        }.items():
            monkeypatch.setenv(name, value)
        namespace: dict = {}
        exec(compile(example(), "README:calling-your-api", "exec"), namespace)
        holder.inner = namespace["app"]
        browser = Browser()
        assert browser.get(server.url + "/token").status_code == 401  # nobody signed in
        start = browser.get(server.url + f"/login?organization={ORG}")
        at_op = browser.get(start.headers["location"])
        assert op.authorize_requests[-1]["audience"] == API
        assert browser.get(at_op.headers["location"]).status_code == 303
        token = browser.get(server.url + "/token")
        assert token.status_code == 200 and token.json()["token"].count(".") == 2
        op.access_ttl, op.refresh_mode = 1, "invalid_grant"
        start = browser.get(server.url + f"/login?organization={ORG}")  # a new session, its token under 60 s
        at_op = browser.get(start.headers["location"])
        browser.get(at_op.headers["location"])
        refused = browser.get(server.url + "/token")
        assert refused.status_code == 401 and refused.json()["reason"] == "refresh_refused"
        browser.close()
