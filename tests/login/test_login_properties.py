"""Property-based and payload tests: no input makes the login routes answer 5xx or redirect off-site."""

from __future__ import annotations

import asyncio
import base64
import json
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from login_support import KEY_A, MiniOP, query_of, settings_kwargs
from orginvite.config import Settings
from orginvite.login.middleware import OrgInviteMiddleware
from orginvite.testing import LiveServer

BASE = "http://127.0.0.1:8000"
ALLOWED_AUTHORIZE_KEYS = {"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
                          "code_challenge_method", "organization", "invitation", "ui_locales", "prompt"}


async def inner_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"app"})


class Harness:
    """Calls the middleware in-process with raw ASGI scopes (raw query bytes, raw cookie headers)."""

    def __init__(self, op_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        # logout_on_get: GET /logout goes to the provider, so the return URL rules below are seen in one request
        self.settings = Settings(**settings_kwargs(op_url, BASE, secret_keys=(KEY_A,)), logout_on_get=True)
        self.app = OrgInviteMiddleware(inner_app, self.settings)
        self.op_url = op_url

    def call(self, path: str, query: bytes = b"", headers=(), method: str = "GET", body: bytes = b"",
             root_path: str = "", app=None):
        messages = []
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": query, "root_path": root_path,
            "headers": list(headers), "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
        }

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            messages.append(message)

        self.loop.run_until_complete((app or self.app)(scope, receive, send))
        start = messages[0]
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", [])]
        return start["status"], headers

    def close(self):
        self.loop.run_until_complete(self.app.oidc.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def harness():
    op = MiniOP()
    with LiveServer(op.app) as server:
        h = Harness(server.url + "/")
        yield h
        h.close()


def location(headers):
    return next((v for k, v in headers if k == "location"), None)


def assert_safe_redirect(harness, status, headers):
    assert status < 500
    where = location(headers)
    if where is None:
        return
    assert where is not None and where != "None"
    if where.startswith(harness.op_url):
        params = query_of(where)
        assert set(params) <= ALLOWED_AUTHORIZE_KEYS | {"client_id", "post_logout_redirect_uri"}
        if "redirect_uri" in params:
            assert params["redirect_uri"] == BASE + "/callback"
        if "post_logout_redirect_uri" in params:
            assert params["post_logout_redirect_uri"].startswith(BASE + "/")
    else:
        assert where.startswith("/") and not where.startswith("//") and "\\" not in where, where


query_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), max_size=300)
key = st.sampled_from(["invitation", "organization", "organization_name", "returnTo", "state", "code", "error",
                       "error_description", "redirect_uri", "prompt", "x", "%6frganization", "organization[]"])
value = st.one_of(query_text, st.sampled_from(["org_" + "a" * 16, "acme", "tkt", "/ok", "//evil.example",
                                               "%zz", "%00", "%C3%28", "a%2526b", ""]))
raw_query = st.one_of(
    query_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.lists(st.tuples(key, value), max_size=6).map(
        lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")),
    st.binary(max_size=200),
)
cookie_names = st.sampled_from(["orginvite_session", "orginvite_pending", "orginvite_tx_" + "S" * 32,
                                "orginvite_tx_", "other", "__Host-orginvite_session"])
cookie_values = st.one_of(st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters=";"),
                                  max_size=200),
                          st.sampled_from(["a.b.c", "e30.AAAA.BBBB", "", "\"quoted\""]))
cookie_header = st.lists(st.tuples(cookie_names, cookie_values), max_size=5).map(
    lambda pairs: "; ".join(f"{n}={v}" for n, v in pairs).encode("latin-1"))
accept = st.sampled_from([b"text/html", b"application/json", b"*/*", b"application/json;q=abc", b""])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/login", "/callback", "/logout"]), query=raw_query, cookies=cookie_header,
       accept=accept, accept_language=st.text(max_size=60).map(lambda s: s.encode("utf-8")))
def test_routes_never_answer_5xx(harness, path, query, cookies, accept, accept_language):
    headers = [(b"cookie", cookies), (b"accept", accept), (b"accept-language", accept_language)]
    status, out = harness.call(path, query, headers)
    assert_safe_redirect(harness, status, out)
    if path == "/login" and status == 400:
        assert location(out) is None and not any(k == "set-cookie" for k, _ in out)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=600), cookies=cookie_header,
       origin=st.sampled_from([None, BASE, "https://evil.example", "null"]))
def test_interstitial_post_never_5xx(harness, body, cookies, origin):
    headers = [(b"cookie", cookies), (b"content-type", b"application/x-www-form-urlencoded")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    status, out = harness.call("/login", b"", headers, method="POST", body=body)
    assert status in (400, 403)
    assert location(out) is None


@given(cookies=cookie_header, path=st.sampled_from(["/", "/me", "/anything"]))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_pass_through_survives_any_cookie(harness, cookies, path):
    status, _ = harness.call(path, b"", [(b"cookie", cookies)])
    assert status == 200


OPEN_REDIRECTS = [
    "//evil.example", "///evil.example", "////evil.example", "/\\evil.example", "\\\\evil.example",
    "\\/evil.example", "/\\/evil.example", "https://evil.example", "http://evil.example", "HTTPS://evil.example",
    "//evil.example/%2e%2e", "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>",
    "vbscript:msgbox", "%2F%2Fevil.example", "%2f%2fevil.example", "/%2F/evil.example", "/%5Cevil.example",
    "%5C%5Cevil.example", "%252F%252Fevil.example", "/%09/evil.example", "/\t/evil.example", " //evil.example",
    "\n//evil.example", "/\n/evil.example", "//evil.example%00", "/%0d%0aSet-Cookie:x=y", "//user@evil.example",
    "https://app.example@evil.example", "//evil%E3%80%82example", "/／evil.example", "/＼evil.example",
    "//evil。example", "/⁄evil.example", "/.//evil.example", "/./\\evil.example", "/../evil.example",
    "//google.com/%2f..", "http:evil.example", "https:/evil.example", "/\u2215\u2215evil.example", "ftp://x",
    "//[::1]/", "//127.0.0.1:8000@evil.example", "\u3002evil", "a" * 3000, "/ok?" + "b" * 3000,
]


def tx_return_to(headers):
    for k, v in headers:
        if k == "set-cookie" and v.startswith("orginvite_tx_") and "Max-Age=0" not in v:
            value = v.split("=", 1)[1].split(";", 1)[0]
            payload = value.split(".")[0]
            return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["return_to"]
    raise AssertionError("no transaction cookie")


def test_at_least_40_open_redirect_payloads():
    assert len(OPEN_REDIRECTS) >= 40


@pytest.mark.parametrize("payload", OPEN_REDIRECTS)
def test_open_redirect_payloads_fall_back_to_the_default(harness, payload):
    query = ("returnTo=" + quote(payload, safe="")).encode()
    status, headers = harness.call("/login", query)
    assert status == 302
    assert tx_return_to(headers) == "/"
    status, headers = harness.call("/logout", query)
    assert status == 303
    where = location(headers)
    assert query_of(where)["post_logout_redirect_uri"] == BASE + "/"


@pytest.mark.parametrize("good", ["/dashboard", "/a/b?c=d#e", "/settings%20page"])
def test_safe_return_paths_are_kept(harness, good):
    status, headers = harness.call("/login", ("returnTo=" + quote(good, safe="")).encode())
    assert status == 302 and tx_return_to(headers) == good
    status, headers = harness.call("/logout", ("returnTo=" + quote(good, safe="")).encode())
    assert status == 303
    back = query_of(location(headers))["post_logout_redirect_uri"]
    assert urlsplit(back).netloc == "127.0.0.1:8000" and back == BASE + good


def test_behind_a_proxy_prefix(harness):
    """uvicorn --root-path /app: scope["path"] holds the prefix; routes match without it, links get it back."""
    settings = Settings(**settings_kwargs(harness.op_url, BASE + "/app"), logout_on_get=True)
    app = OrgInviteMiddleware(inner_app, settings)
    status, headers = harness.call("/app/login", b"returnTo=/x", root_path="/app", app=app)
    assert status == 302
    assert query_of(location(headers))["redirect_uri"] == BASE + "/app/callback"
    status, headers = harness.call("/app/callback", b"state=" + b"S" * 32, root_path="/app", app=app,
                                   headers=[(b"accept", b"text/html")])
    assert status == 400
    status, headers = harness.call("/app/logout", b"", root_path="/app", app=app)
    assert query_of(location(headers))["post_logout_redirect_uri"] == BASE + "/app/"
    button = OrgInviteMiddleware(inner_app, Settings(**settings_kwargs(harness.op_url, BASE + "/app")))
    status, _ = harness.call("/app/logout", b"returnTo=/x", root_path="/app", app=button)
    assert status == 200  # without logout_on_get: the sign-out page, no redirect and no side effect
    status, _ = harness.call("/app/elsewhere", b"", root_path="/app", app=app)
    assert status == 200
    loop_app = app

    async def page():
        from starlette.requests import Request

        scope = {"type": "http", "method": "GET", "path": "/app/login", "root_path": "/app", "headers": [],
                 "query_string": b"invitation=x"}
        response = loop_app.context.page(Request(scope), "transaction_expired.html", 400, {})
        return response.body.decode()

    html = harness.loop.run_until_complete(page())
    assert 'href="/app/login"' in html and 'href="/app/"' in html
    harness.loop.run_until_complete(app.oidc.aclose())
