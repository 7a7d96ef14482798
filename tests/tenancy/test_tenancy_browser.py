"""Multi-tenant routing in a real Chromium: ``*.myapp.test`` mapped to the loopback server by the resolver rules.

The invitation link points at the apex host (the dev tenant's initiate_login_uri); the browser follows the 303 to
the organization's own host, signs up at the dev tenant through the wildcard callback, and ends up with a session
cookie that lives on acme's host only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tenancy_support import ACME

from browser_support import launched

pytestmark = pytest.mark.browser  # the no-browser policy: tests/conftest.py


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """The shared Chromium plus the resolver rule that sends ``myapp.test`` and its subdomains to 127.0.0.1."""
    with launched(["--host-resolver-rules=MAP *.myapp.test 127.0.0.1, MAP myapp.test 127.0.0.1"]) as browser:
        yield browser


def test_invitation_from_the_apex_to_the_organizations_host_in_chromium(chromium, world):
    invitation = world.invite(ACME, "bea@acme.test")
    assert invitation["invitation_url"].startswith(world.apex + "/login?")
    context = chromium.new_context(locale="en-US")
    page = context.new_page()
    hosts: list[str] = []
    page.on("request", lambda request: hosts.append(request.url.split("/")[2]) if request.is_navigation_request()
            else None)
    page.goto(invitation["invitation_url"])
    page.wait_for_url(world.tenant_url + "/u/signup**")
    acme_host = f"acme.myapp.test:{world.port}"
    assert hosts[:2] == [f"myapp.test:{world.port}", acme_host]  # apex first, then 303 to acme's own host
    page.fill("input[name=name]", "Bea")
    page.fill("input[name=password]", "bea-pass-12345")
    page.click("button[type=submit]")
    page.wait_for_url(world.org_url("acme") + "/")
    assert acme_host in hosts[hosts.index(acme_host) + 1:]  # the callback came back to acme's host
    me = page.goto(world.org_url("acme") + "/me").json()
    assert me == {"authenticated": True, "email": "bea@acme.test", "organization": {"id": ACME, "name": "acme"}}
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["orginvite_session"]["domain"] == "acme.myapp.test"  # host-only: no Domain attribute
    assert not [name for name in cookies if name.startswith("orginvite_tx_")]
    # the same browser on globex's host is signed out, and sees globex as its organization
    other = page.goto(world.org_url("globex") + "/me")
    assert other.status == 401 and other.json()["organization"] == {"id": None, "name": "globex"}
    # a host that matches nothing is a 400 page, not a redirect
    response = page.goto(f"http://a.b.myapp.test:{world.port}/login")
    assert response.status == 400 and page.locator("main[data-page=unknown_host]").count() == 1
    assert page.url == f"http://a.b.myapp.test:{world.port}/login"
    context.close()
