"""``/logout`` cannot be forced on a user (issue 13, item 12; issue 12: logout by POST).

Browsers say who made them send a request (``Sec-Fetch-Site``, ``Origin``). A request from another site
(``cross-site``) or another subdomain (``same-site``: under multi-tenant routing another organization) signs nobody
out. Only a POST with the session's CSRF token (for older browsers that send neither header) signs out; a GET shows
a small page whose "Sign out" button makes that POST (``logout_on_get=True`` restores sign-out by GET for our own
requests).
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import test_login_flow_miniop as flow
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from browser_support import launched
from devtenant_support import forms_of
from loopback_support import Holder
from orginvite.testing import LiveServer

SESSION = "orginvite_session"
FOREIGN = [
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site"},
    {"sec-fetch-site": "cross-site", "origin": "null"},
    {"origin": "https://evil.example"},
]
OWN = [{}, {"sec-fetch-site": "same-origin"}, {"sec-fetch-site": "none"}, {"origin": "null"}]


env = flow.env  # the flow suite's world: MiniOP and the example app over loopback, a hand-driven browser
servers = flow.servers  # and the two servers it shares per module


def _sign_in(env) -> None:
    assert env.finish(env.start()).status_code == 303
    assert _signed_in(env)


def _signed_in(env) -> bool:
    return env.me().status_code == 200


def _session_set_cookies(response) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION + "=")]


@pytest.mark.parametrize("headers", FOREIGN)
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_a_logout_another_site_asks_for_leaves_the_user_signed_in(env, method, headers):
    _sign_in(env)
    response = env.browser.client.request(method, env.url + "/logout", params={"returnTo": "/me"},
                                          headers=headers)
    assert response.status_code == 403 and "location" not in response.headers
    assert _session_set_cookies(response) == [] and "set-cookie" not in response.headers
    assert response.headers["cache-control"] == "no-store" and response.headers["x-frame-options"] == "DENY"
    if method != "HEAD":
        assert 'data-page="logout_confirm"' in response.text
    assert _signed_in(env)
    assert env.op.authorize_requests and len(env.op.authorize_requests) == 1  # no new login was started either


def _form(page) -> tuple[str, dict[str, str]]:
    form = forms_of(page.text)[0]
    return unescape(form["action"]), form["fields"]


def test_the_page_posts_a_same_origin_sign_out_that_works(env):
    env.configure(logout_style="local")
    _sign_in(env)
    page = env.browser.get(env.url + "/logout", params={"returnTo": "/me"}, headers={"sec-fetch-site": "cross-site"})
    action, fields = _form(page)
    assert action == "/logout?returnTo=%2Fme" and fields["csrf_token"]  # the same request, from our page
    assert [unescape(href) for href in re.findall(r'href="([^"]+)"', page.text)] == ["/"]  # stay signed in
    assert _signed_in(env)
    out = env.browser.post(env.url + action, data=fields, headers={"sec-fetch-site": "same-origin"})
    assert out.status_code == 303 and out.headers["location"] == env.url + "/me"
    assert not _signed_in(env)


@pytest.mark.parametrize("headers", OWN)
def test_our_own_get_shows_the_button_and_signs_nobody_out(env, headers):
    _sign_in(env)
    page = env.browser.get(env.url + "/logout", headers=headers)
    assert page.status_code == 200 and 'data-page="logout_confirm"' in page.text
    assert "Another website" not in page.text and "set-cookie" not in page.headers
    assert _signed_in(env)


@pytest.mark.parametrize("headers", OWN)
def test_our_own_post_with_the_token_signs_out(env, headers):
    _sign_in(env)
    action, fields = _form(env.browser.get(env.url + "/logout"))
    response = env.browser.post(env.url + action, data=fields, headers=headers)
    assert response.status_code == 303 and response.headers["location"].startswith(env.op_url + "oidc/logout?")
    assert [h for h in _session_set_cookies(response) if "Max-Age=0" in h]
    assert not _signed_in(env)


@pytest.mark.parametrize("data", [{}, {"csrf_token": "forged"}, {"csrf_token": ["a", "b"]}])
def test_a_post_without_the_sessions_token_signs_nobody_out(env, data):
    _sign_in(env)
    response = env.browser.post(env.url + "/logout", data=data,
                                headers={"origin": env.url, "sec-fetch-site": "same-origin"})
    assert response.status_code == 403 and 'data-page="logout_confirm"' in response.text
    assert "set-cookie" not in response.headers
    assert _signed_in(env)


def test_a_token_seen_by_another_site_does_not_help_it(env):
    _sign_in(env)
    _, fields = _form(env.browser.get(env.url + "/logout"))
    response = env.browser.post(env.url + "/logout", data=fields, headers={"sec-fetch-site": "cross-site"})
    assert response.status_code == 403
    assert _signed_in(env)


def test_logout_on_get_keeps_the_old_behaviour_for_our_own_requests(env):
    env.configure(logout_on_get=True)
    _sign_in(env)
    refused = env.browser.get(env.url + "/logout", headers={"sec-fetch-site": "cross-site"})
    assert refused.status_code == 403 and _signed_in(env)
    response = env.browser.get(env.url + "/logout", headers={"sec-fetch-site": "same-origin"})
    assert response.status_code == 303 and response.headers["location"].startswith(env.op_url + "oidc/logout?")
    assert not _signed_in(env)


def test_the_provider_logout_gets_the_sessions_sid_as_logout_hint(env):
    _sign_in(env)
    action, fields = _form(env.browser.get(env.url + "/logout"))
    location = env.browser.post(env.url + action, data=fields).headers["location"]
    hint = parse_qs(urlsplit(location).query).get("logout_hint")
    assert hint and hint[0].startswith("sid-")


def test_a_foreign_logout_of_nobody_goes_back_without_the_provider(env):
    response = env.browser.get(env.url + "/logout", headers={"sec-fetch-site": "cross-site"})
    assert response.status_code == 303 and response.headers["location"] == env.url + "/"
    assert "set-cookie" not in response.headers


def test_a_foreign_logout_answers_json_to_api_clients(env):
    _sign_in(env)
    response = env.browser.get(env.url + "/logout",
                               headers={"sec-fetch-site": "cross-site", "accept": "application/json"})
    assert response.status_code == 403 and response.json()["error"] == "logout_cross_site"
    assert _signed_in(env)


# -- in Chromium: a page on another site navigates to /logout ----------------------------------------------------


def _attacker(target: str) -> Starlette:
    async def link(request):
        return HTMLResponse(f'<a id="go" href="{target}/logout?returnTo=/me">win a prize</a>')

    async def form(request):
        return HTMLResponse(f'<form id="f" method="post" action="{target}/logout"></form>'
                            '<script>document.getElementById("f").submit()</script>')

    async def image(request):
        return HTMLResponse(f'<img id="i" src="{target}/logout"><p>loaded</p>')

    return Starlette(routes=[Route("/link", link), Route("/form", form), Route("/image", image)])


@pytest.mark.browser
def test_in_chromium_another_site_cannot_sign_the_user_out_and_our_link_can(env):
    env.configure(logout_style="local")
    holder = Holder()
    with LiveServer(holder) as other, launched(["--host-resolver-rules=MAP evil.test 127.0.0.1"]) as chromium:
        holder.inner = _attacker(env.url)
        context = chromium.new_context(locale="en-US")
        page = context.new_page()
        page.goto(env.url + "/login?returnTo=/me")
        assert page.url == env.url + "/me"

        def signed_in() -> bool:
            return page.goto(env.url + "/me").status == 200

        # cross-site (evil.test) and same-site (127.0.0.1 on another port: same site, another origin)
        for origin in (f"http://evil.test:{other.port}", other.url):
            page.goto(origin + "/link")
            page.click("#go")
            page.wait_for_url(env.url + "/logout**")
            assert page.locator("main[data-page=logout_confirm]").count() == 1
            assert signed_in(), origin
            # a form that submits itself: a POST navigation (the Lax cookie stays home, so nobody is signed in to
            # that request; before the fix its answer deleted the cookie all the same)
            page.goto(origin + "/form")
            page.wait_for_url(lambda url: url.startswith(env.url))
            assert signed_in(), origin
            page.goto(origin + "/image")
            page.wait_for_load_state("load")
            assert signed_in(), origin

        # the page's own "Sign out" button posts same-origin with the token: it signs out, then returns where asked
        page.goto(f"http://evil.test:{other.port}/link")
        page.click("#go")
        page.wait_for_url(env.url + "/logout**")
        page.click("main form button[type=submit]")
        page.wait_for_url(env.url + "/me")
        assert SESSION not in {c["name"] for c in context.cookies(env.url)}
        assert not signed_in()
        context.close()
