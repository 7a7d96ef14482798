"""A session past one cookie in a real Chromium: the browser keeps every chunk and sends them back whole."""

from __future__ import annotations

import json

import pytest
from session_support import ORG, token_world
from test_session_store import PADDING

pytestmark = pytest.mark.browser  # the `chromium` fixture and the no-browser policy: tests/conftest.py


def test_a_token_set_larger_than_4_kb_round_trips_in_chunks_in_chromium(chromium):
    with token_world() as world:
        world.op.access_claims = PADDING
        context = chromium.new_context()
        page = context.new_page()
        page.goto(world.url + f"/login?organization={ORG}&returnTo=/token")  # MiniOP signs in at once
        page.wait_for_url(world.url + "/token")
        body = json.loads(page.inner_text("body"))
        assert len(body["access_token"]) > 6000
        names = {c["name"] for c in context.cookies() if c["name"].startswith("orginvite_session")}
        assert {"orginvite_session", "orginvite_session_1"} <= names
        assert all(len(c["value"]) <= 3800 for c in context.cookies())
        page.goto(world.url + "/me")
        assert json.loads(page.inner_text("body"))["user"] == "auth0|alice"
        # a refresh in the browser: the new, smaller set replaces every chunk
        world.op.access_claims = {}
        page.goto(world.url + "/token?min_ttl=100000")
        assert world.op.refresh_requests == 1
        assert {c["name"] for c in context.cookies() if c["name"].startswith("orginvite_session")} == {
            "orginvite_session"}
        page.goto(world.url + "/me")
        assert json.loads(page.inner_text("body"))["user"] == "auth0|alice"
        context.close()
