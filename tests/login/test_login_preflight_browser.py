"""Invitation preflight in a real Chromium with an English browser: the provider's sign-up page comes up in the
language the inviter chose (the invitation's user_metadata.lang), with the invited address already filled in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_login_preflight import World

pytestmark = pytest.mark.browser


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    yield w
    w.close()


def test_the_sign_up_page_follows_the_invitation_language_not_the_browsers(chromium, world: World) -> None:
    invitation = world.invite("zoe@example.test", user_metadata={"lang": "fr"})
    context = chromium.new_context(locale="en-US", extra_http_headers={"accept-language": "en-US,en;q=0.9"})
    page = context.new_page()
    page.goto(world.url + f"/login?invitation={invitation['ticket_id']}&organization={invitation['organization_id']}")
    page.wait_for_url(world.tenant_url + "/u/signup**")
    assert page.get_attribute("html", "lang") == "fr"
    assert page.input_value("input[name=email]") == "zoe@example.test"
    page.fill("input[name=name]", "Zoé")
    page.fill("input[name=password]", "zoe-pass-12345")
    page.click("button[type=submit]")
    page.wait_for_url(world.url + "/")
    assert page.goto(world.url + "/me").json()["user"]["email"] == "zoe@example.test"
    context.close()
