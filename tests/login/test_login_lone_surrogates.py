"""Lone UTF-16 surrogates in ID token claims never reach a page as text that cannot be encoded (issue 13, item 5).

``"\\ud83d"`` is valid JSON (half an emoji, cut by whoever truncated a name), but the Python string it decodes to
cannot be encoded as UTF-8: kept in the session, every page showing the name answered 500 for the session's life.
Real loopback HTTP: MiniOP signs the claims, example_app.minimal shows them at ``/`` and ``/me``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from joserfc import jws

from login_support import MiniOP, example_app_against, settings_kwargs, sign_in_at_op
from orginvite.config import Settings
from orginvite.errors import InvalidCookieError, TokenError
from orginvite.sessions.cookie import SessionCookie
from orginvite.sessions.user import Organization, OrgUser, user_from_claims

ROLES = "https://orginvite.dev/roles"


class EscapingOP(MiniOP):
    """MiniOP whose ID token payload is ASCII JSON, so a lone surrogate travels as a ``\\udXXX`` escape, as any
    provider's JSON encoder would send it (joserfc's own encoder refuses to encode such a string at all)."""

    def mint(self, claims: dict[str, Any], header: dict[str, Any] | None = None, key: Any = None) -> str:
        key = key or self.keys[0]
        payload = json.dumps(claims, ensure_ascii=True).encode("ascii")
        return jws.serialize_compact({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, payload, key)


@pytest.fixture
def world():
    op = EscapingOP()
    with example_app_against(op) as (url, browser, settings):
        yield op, url, browser, settings


def test_claims_with_lone_surrogates_are_repaired_or_dropped(world) -> None:
    op, url, browser, _ = world
    op.claims = {
        "name": "Zo\u00eb \ud83d",  # an emoji cut in half
        "email": "zoe\udc00@acme.test",
        "picture": "https://cdn.test/\ud800.png",
        ROLES: ["admin", "bad\udfff"],
    }
    callback = sign_in_at_op(browser, url)
    assert callback.status_code in (302, 303), callback.text[:300]
    me = browser.get(url + "/me")
    assert me.status_code == 200, me.text[:300]
    user = me.json()["user"]
    assert user == {"sub": "auth0|alice", "email": None, "name": "Zo\u00eb \ufffd"}
    assert me.json()["roles"] == ["admin"]
    home = browser.get(url + "/")
    assert home.status_code == 200 and "Zo\u00eb \ufffd" in home.text


def test_a_subject_with_a_lone_surrogate_is_a_refused_token(world) -> None:
    op, url, browser, _ = world
    op.claims = {"sub": "auth0|\ud83d"}
    response = sign_in_at_op(browser, url)
    assert response.status_code == 403 and 'data-page="forbidden"' in response.text
    assert "orginvite_session" not in browser.cookie_names()


def test_a_session_signed_with_such_a_name_still_reads(world) -> None:
    """A cookie issued before the fix (valid for the session's lifetime) shows a repaired name, not a 500."""
    _, url, browser, settings = world
    user = OrgUser("auth0|zoe", name="Zo\u00eb \ud83d", organization=Organization("org_" + "a" * 16, None),
                   expires_at=time.time() + 600)  # fmt: skip
    browser.client.cookies.set(settings.session_cookie, SessionCookie(settings).issue(user))
    me = browser.get(url + "/me")
    assert me.status_code == 200, me.text[:300]
    assert me.json()["user"]["name"] == "Zo\u00eb \ufffd"
    assert browser.get(url + "/").status_code == 200


def test_identifiers_with_lone_surrogates_are_dropped_or_refused() -> None:
    settings = Settings(**settings_kwargs("http://127.0.0.1:9/", "http://127.0.0.1:8000"))
    user = user_from_claims({"sub": "s", "org_id": "org_\ud83d", "org_name": "acme\udc00", "name": "\ud800"},
                            settings, time.time())  # fmt: skip
    assert user.organization is None and user.name == "\ufffd"
    with pytest.raises(TokenError):
        user_from_claims({"sub": "s\ud800"}, settings, time.time())
    payload = OrgUser("s", expires_at=time.time() + 60).to_payload()
    for bad in ({"sub": "s\ud800"}, {"email": "a\ud800@b.test"}, {"roles": ["r\ud800"]}, {"org": {"id": "\ud800"}}):
        with pytest.raises(InvalidCookieError):
            OrgUser.from_payload({**payload, **bad})
