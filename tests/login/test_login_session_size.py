"""A session cookie is never larger than browsers keep or the reader accepts (issue 13, item 9).

Claims are bounded by what they cost in the cookie (JSON with ``\\uXXXX`` escapes, then base64), not by their
characters: 320 emoji are 320 characters but 5 KB of cookie. When even the shed session would not fit, the
callback answers a page and sets no session cookie, rather than a cookie the browser drops in silence.
"""

from __future__ import annotations

import time

import httpx2
import pytest
import test_login_flow_miniop as flow
from hypothesis import given, settings
from hypothesis import strategies as st

from login_support import KEY_A, KEY_B, Browser, FrozenClock, unit_settings
from orginvite.errors import InvalidCookieError, SessionTooLarge
from orginvite.sessions.cookie import SessionCookie
from orginvite.sessions.signing import MAX_COOKIE_LENGTH, CookieSigner, encoded_size
from orginvite.sessions.user import Organization, OrgUser, user_from_claims

EMOJI = "\U0001f600"  # beyond the BMP: 12 bytes of JSON, 16 of cookie
NAME = EMOJI * 320
SESSION = "orginvite_session"


class CookieLimitBrowser(Browser):
    """:class:`Browser` that keeps cookies as browsers do: a ``name=value`` over 4096 bytes is dropped (RFC 6265bis
    section 5.6, what Chromium and Firefox do), so a session the browser would lose is lost here too."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped: list[str] = []

    def get(self, url: str, **kw) -> httpx2.Response:
        response = super().get(url, **kw)
        jar = self.client.cookies.jar
        for cookie in list(jar):
            if len(f"{cookie.name}={cookie.value}".encode()) > MAX_COOKIE_LENGTH:
                jar.clear(cookie.domain, cookie.path, cookie.name)
                self.dropped.append(cookie.name)
        return response


def _session_headers(response: httpx2.Response) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION + "=")]


# -- the claims and the cookie ------------------------------------------------------------------------------------


def test_a_long_non_bmp_name_is_cut_by_its_cookie_size_and_the_cookie_fits():
    clock = FrozenClock()
    s = unit_settings()
    user = user_from_claims({"sub": "auth0|e", "name": NAME, "email": "e@acme.test"}, s, clock.now)
    assert user.name and NAME.startswith(user.name) and len(user.name) < 320
    assert encoded_size(user.name) <= 1024 and encoded_size(user.name + EMOJI) > 1024  # cut to fit, no shorter
    sessions = SessionCookie(s, clock=clock)
    value = sessions.issue(user)
    assert len(value) <= sessions.max_length < MAX_COOKIE_LENGTH - len(sessions.name)
    assert sessions.read(value)[0].name == user.name
    # ASCII names keep their 320 characters, as before
    assert user_from_claims({"sub": "s", "name": "N" * 400}, s, 0).name == "N" * 320


def test_every_text_claim_is_bounded_by_its_encoded_size():
    s = unit_settings()
    roles = ["admin", EMOJI * 30, "\u7ba1\u7406\u8005", "r" * 101]
    user = user_from_claims(
        {"sub": "s", "email": EMOJI * 100 + "@acme.test", "picture": "https://x.test/" + EMOJI * 200,
         "org_id": "org_" + "a" * 16, "org_name": EMOJI * 90, s.roles_claim: roles}, s, 0)
    assert user.email is None and user.picture is None  # a cut email or URL would be a wrong one: dropped
    assert user.organization == Organization("org_" + "a" * 16, None)
    assert user.roles == ("admin", "\u7ba1\u7406\u8005")  # a role too long to keep is dropped, never cut


def test_a_session_that_cannot_fit_is_refused_at_issue():
    clock = FrozenClock()
    sessions = SessionCookie(unit_settings(), clock=clock)
    with pytest.raises(SessionTooLarge) as info:
        sessions.issue(OrgUser("auth0|" + "x" * 3000, expires_at=clock.now + 60))
    assert info.value.size > info.value.limit == sessions.max_length
    # short enough for the browser, yet a field the reader refuses (a name an app built itself): refused too
    user = OrgUser("auth0|n", name="N" * 2100, expires_at=clock.now + 60)
    with pytest.raises(InvalidCookieError):
        OrgUser.from_payload(user.to_payload())
    with pytest.raises(SessionTooLarge):
        sessions.issue(user)


@settings(max_examples=60, deadline=None)
@given(
    sub=st.text(min_size=1, max_size=400),
    name=st.text(max_size=400),
    email=st.text(max_size=340),
    roles=st.lists(st.text(min_size=1, max_size=120), max_size=60),
    picture=st.text(max_size=200).map(lambda tail: "https://x.test/" + tail),
)
def test_whatever_the_claims_the_issued_cookie_is_one_the_reader_accepts(sub, name, email, roles, picture):
    clock = FrozenClock()
    s = unit_settings()
    sessions = SessionCookie(s, clock=clock)
    claims = {"sub": sub, "name": name, "email": email, "picture": picture, s.roles_claim: roles,
              "org_id": "org_" + "b" * 16, "org_name": "acme"}
    user = user_from_claims(claims, s, clock.now)
    try:
        value = sessions.issue(user, ("acme.app.test", "acme"))
    except SessionTooLarge:
        return
    assert len(value) + len(sessions.name) + 1 <= MAX_COOKIE_LENGTH
    assert sessions.read(value, ("acme.app.test", "acme"))[0].sub == sub


# -- over loopback HTTP, with a browser's cookie limit ---------------------------------------------------------


env = flow.env  # the flow suite's world: MiniOP and the example app over loopback
servers = flow.servers  # and the two servers it shares per module


@pytest.fixture
def limited(env):
    """The flow suite's world with a browser that drops the cookies a browser would."""
    env.browser.close()
    env.browser = CookieLimitBrowser()
    return env


def test_a_320_emoji_name_signs_in_with_the_name_cut_to_fit(limited):
    env = limited
    env.op.user = {"sub": "auth0|emoji", "email": "emoji@acme.test", "name": NAME}
    done = env.finish(env.start())
    assert done.status_code == 303
    [header] = _session_headers(done)
    assert len(header.split(";", 1)[0]) <= MAX_COOKIE_LENGTH and env.browser.dropped == []
    me = env.browser.get(env.url + "/me")
    assert me.status_code == 200, me.text  # the browser kept the cookie: signed in, not looping
    shown = me.json()["user"]["name"]
    assert shown and NAME.startswith(shown)


def test_a_profile_too_large_for_any_cookie_gets_a_page_and_no_session(limited):
    env = limited
    env.op.user = {"sub": "auth0|" + "x" * 3500, "email": "big@acme.test", "name": "Big"}
    env.browser.client.headers["accept-language"] = "fr"
    page = env.finish(env.start())
    assert page.status_code == 403 and 'data-page="forbidden"' in page.text
    assert "Votre profil est trop volumineux pour être conservé dans une session" in page.text
    assert _session_headers(page) == [] and env.browser.dropped == []
    assert not [c for c in env.browser.cookie_names() if c.startswith("orginvite_tx_")]  # the login is over
    assert env.browser.get(env.url + "/me").status_code == 401
    start = env.start()
    at_op = env.browser.get(start.headers["location"])
    as_json = env.browser.get(at_op.headers["location"], headers={"accept": "application/json"})
    assert as_json.status_code == 403 and as_json.json()["error"] == "forbidden_profile_too_large"


def test_an_older_cookie_past_the_new_limit_still_reads_and_is_not_re_signed(limited):
    """A cookie from before the size rule (between the issue limit and what the reader accepts), signed with a
    retired key: the re-sign would be refused, so the request goes on with the cookie it came with."""
    env = limited
    env.configure(secret_keys=(KEY_B, KEY_A))
    roles = tuple(f"role-{i:02}-" + "r" * 40 for i in range(10))
    user = OrgUser("auth0|old", name="N" * 2000, email="e" * 250 + "@x.test", roles=roles,
                   expires_at=time.time() + 600)
    value = CookieSigner((KEY_A,), "orginvite.session").sign(user.to_payload())
    sessions = SessionCookie(unit_settings())
    assert sessions.max_length < len(value) <= MAX_COOKIE_LENGTH - len(SESSION) - 1
    env.browser.client.cookies.set(SESSION, value)
    me = env.browser.get(env.url + "/me")
    assert me.status_code == 200 and me.json()["user"]["sub"] == "auth0|old"
    assert _session_headers(me) == []


def test_the_page_is_translated_in_every_locale():
    from orginvite.login.pages import Pages

    pages = Pages()
    english = "Your profile is too large to keep in a session"
    for locale in pages.available:
        html = pages.render("forbidden.html", locale, reason="profile_too_large", login_url="/login",
                            home_url="/", error="forbidden_profile_too_large", message="")
        assert (english in html) == (locale.split("_")[0] == "en"), locale


# -- in Chromium -----------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_in_chromium_the_emoji_name_session_is_kept_and_the_impossible_one_gets_the_page(chromium, env):
    env.op.user = {"sub": "auth0|emoji", "email": "emoji@acme.test", "name": NAME}
    context = chromium.new_context(locale="en-US")
    page = context.new_page()
    page.goto(env.url + "/login?returnTo=/me")
    assert page.url == env.url + "/me"
    me = page.goto(env.url + "/me").json()
    assert NAME.startswith(me["user"]["name"]) and me["user"]["name"]
    context.close()

    env.op.user = {"sub": "auth0|" + "x" * 3500, "email": "big@acme.test", "name": "Big"}
    context = chromium.new_context(locale="en-US")
    page = context.new_page()
    response = page.goto(env.url + "/login?returnTo=/me")
    assert response.status == 403 and page.locator("main[data-page=forbidden]").count() == 1
    assert "Your profile is too large to keep in a session" in page.inner_text("main")
    assert SESSION not in {c["name"] for c in context.cookies(env.url)}
    assert page.goto(env.url + "/me").status == 401
    context.close()

