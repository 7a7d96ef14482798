"""The login flow in a real Chromium: the interstitial's form, CSP, cookies and redirects as a browser applies them."""

from __future__ import annotations

import pytest
from test_login_devtenant import PASSWORD, running_world

pytestmark = pytest.mark.browser  # the `chromium` fixture and the no-browser policy: tests/conftest.py


@pytest.fixture
def world():
    w, servers = running_world()
    yield w
    w.browser.close()
    for server in servers:
        server.stop()
    w.tenant.close()


def test_invitation_with_wrong_account_interstitial_in_chromium(chromium, world):
    context = chromium.new_context(locale="en-US")
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    # Ann signs in to Acme through the app
    page.goto(world.url + "/login?organization=acme")
    assert page.url.startswith(world.tenant_url + "/u/login")
    page.fill("input[name=email]", "ann@acme.test")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(world.url + "/")
    assert "Ann Admin" in page.content()
    # an invitation for Bob opens in the same browser
    invitation = world.invite("bob@new.test", roles=["rol_membr00000000001"])
    page.goto(invitation["invitation_url"])
    assert page.locator("main[data-page=interstitial]").count() == 1
    assert "ann@acme.test" in page.inner_text("main")
    assert invitation["ticket_id"] not in page.content()
    page.click("button[value=continue]")
    page.wait_for_url(world.tenant_url + "/u/signup**")
    # the provider asks for the invitee's account instead of reusing Ann's session
    page.fill("input[name=name]", "Bob")
    page.fill("input[name=password]", "bob-pass-12345")
    page.click("button[type=submit]")
    page.wait_for_url(world.url + "/")
    me = page.goto(world.url + "/me").json()
    assert me["user"]["email"] == "bob@new.test" and me["organization"]["id"] == "org_acme000000000001"
    assert me["roles"] == ["member"]
    cookies = {c["name"]: c for c in context.cookies(world.url)}
    assert cookies["orginvite_session"]["httpOnly"] and cookies["orginvite_session"]["sameSite"] == "Lax"
    assert not [name for name in cookies if name.startswith("orginvite_tx_")]
    assert violations == []
    context.close()


def test_error_page_in_french_in_chromium(chromium, world):
    context = chromium.new_context(locale="fr-FR", extra_http_headers={"accept-language": "fr-FR,fr;q=0.9"})
    page = context.new_page()
    page.goto(world.url + "/login?invitation=abc")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("main[data-page=invalid_link]").count() == 1
    context.close()
