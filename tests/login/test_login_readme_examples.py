"""The README's Starlette and FastAPI mounting examples, executed as written, signing in over loopback HTTP."""

from __future__ import annotations

import re
import time
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


def ending_sessions_blocks(language: str) -> list[str]:
    section = README.read_text().split("## Ending sessions", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def test_readme_sign_out_form_signs_out_and_the_tenant_toml_ends_the_session(monkeypatch, tmp_path):
    """The "Ending sessions" example as written: its form signs out by POST (a bare GET does not), and the dev
    tenant, configured with the README's ``oidc_logout`` field, ends the session over the back channel."""
    import tomllib

    import httpx2
    import test_login_backchannel as bcl

    from devtenant_support import follow_on_tenant, submit_form
    from orginvite.devtenant.app import DevTenant

    (code,) = ending_sessions_blocks("python")
    (toml,) = ending_sessions_blocks("toml")
    holder = Holder()
    with LiveServer(holder) as server:
        config = bcl.tenant_config(server.url)
        urls = tomllib.loads(toml)["clients"][0]["oidc_logout"]["backchannel_logout_urls"]
        assert urls == ["http://127.0.0.1:8000/backchannel-logout"]
        config["clients"][0]["oidc_logout"]["backchannel_logout_urls"] = [u.replace("http://127.0.0.1:8000", server.url)
                                                                          for u in urls]
        tenant = DevTenant(config=config)
        with tenant.serve() as tenant_server:
            for name, value in {
                "ORGINVITE_ISSUER": tenant_server.url + "/", "ORGINVITE_CLIENT_ID": "web",
                "ORGINVITE_CLIENT_SECRET": "web-secret", "ORGINVITE_SECRET_KEYS": KEY_A,
                "ORGINVITE_BASE_URL": server.url, "ORGINVITE_REVOCATION_STORE": f"sqlite:///{tmp_path}/r.db",
            }.items():
                monkeypatch.setenv(name, value)
            namespace: dict = {}
            exec(compile(code, "README:Ending sessions", "exec"), namespace)
            holder.inner = namespace["app"]
            browser = Browser()

            def sign_in() -> None:
                page = follow_on_tenant(browser.client, browser.get(server.url + "/login"), tenant_server.url)
                if page.status_code == 200:
                    page = submit_form(browser.client, page, {"email": "ann@acme.test", "password": bcl.PASSWORD},
                                       tenant_server.url)
                assert browser.get(page.headers["location"]).status_code == 303

            sign_in()
            home = browser.get(server.url + "/")
            token = re.search(r'name="csrf_token" value="([^"]+)"', home.text).group(1)
            assert browser.get(server.url + "/logout").status_code == 200  # the button page: still signed in
            assert "Sign out" in browser.get(server.url + "/").text
            assert browser.post(server.url + "/logout", data={"csrf_token": token}).status_code == 303
            assert "Sign in" in browser.get(server.url + "/").text
            sign_in()
            jar = httpx2.Cookies(browser.client.cookies)
            ended = httpx2.get(tenant_server.url + "/v2/logout", params={"client_id": "web"}, cookies=jar)
            assert ended.status_code == 302  # to the first allowed logout URL
            for _ in range(300):  # delivered in the background
                if "Sign in" in browser.get(server.url + "/").text:
                    break
                time.sleep(0.1)
            assert "Sign in" in browser.get(server.url + "/").text
            browser.close()
        tenant.close()
