"""A real Chromium looks at the Arabic preview: right-to-left layout, sandboxed email, dark mode; screenshots saved."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from browser_support import artifact
from orginvite.emails.preview import EmailPreviews
from orginvite.testing import LiveServer

pytestmark = pytest.mark.browser  # the `chromium` fixture and the no-browser policy: tests/conftest.py


@pytest.fixture(scope="module")
def server():
    app = Starlette(routes=[Mount("/_previews", app=EmailPreviews(enabled=True))])
    with LiveServer(app) as live:
        yield live


def test_arabic_preview_lays_out_right_to_left(chromium, server):
    context = chromium.new_context(viewport={"width": 1280, "height": 1400}, locale="ar")
    page = context.new_page()
    page.goto(f"{server.url}/_previews/emails/invitation?locale=ar&width=mobile&now=2026-11-22T09:30:00Z")
    assert page.get_by_test_id("rtl").is_visible()
    assert page.get_by_test_id("subject").inner_text() == "دعوة من Amira Haddad للانضمام إلى Acme Inc."

    frame = page.frame_locator("iframe.frame")
    heading = frame.locator("h1")
    heading.wait_for()
    assert heading.inner_text() == "انضم إلى Acme Inc."
    assert frame.locator("html").get_attribute("dir") == "rtl"
    assert frame.locator("html").get_attribute("lang") == "ar"
    assert heading.evaluate("element => getComputedStyle(element).direction") == "rtl"

    # Right-to-left for real: the button hugs the card's right edge, not its left one.
    card = frame.locator(".card").bounding_box()
    button = frame.locator("a.button").bounding_box()
    assert card is not None and button is not None
    assert (card["x"] + card["width"]) - (button["x"] + button["width"]) < button["x"] - card["x"]

    # The sandboxed iframe got a unique origin: the preview page cannot reach into it, nor it into the page.
    assert page.locator("iframe.frame").get_attribute("sandbox") == ""

    page.screenshot(path=str(artifact("preview-ar.png")), full_page=True)
    page.locator("iframe.frame").screenshot(path=str(artifact("email-ar-mobile.png")))
    for name in ("preview-ar.png", "email-ar-mobile.png"):
        assert artifact(name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    context.close()


def test_email_follows_dark_mode(chromium, server):
    context = chromium.new_context(color_scheme="dark")
    page = context.new_page()
    page.goto(f"{server.url}/_previews/emails/invitation/html?locale=ja")
    background = page.locator(".card").evaluate("element => getComputedStyle(element).backgroundColor")
    assert background == "rgb(39, 39, 42)"  # the dark card, despite the inlined light style
    page.screenshot(path=str(artifact("email-ja-dark.png")), full_page=True)
    context.close()
    light = chromium.new_context(color_scheme="light").new_page()
    light.goto(f"{server.url}/_previews/emails/invitation/html?locale=ja")
    background = light.locator(".card").evaluate("element => getComputedStyle(element).backgroundColor")
    assert background == "rgb(255, 255, 255)"
    light.context.close()
