"""/authorize's response types (code, id_token, code id_token) and modes (query, fragment, form_post).

express-openid-connect's default configuration is ``response_type=id_token`` with ``response_mode=form_post``;
its ``code`` configuration is the code flow with form_post too. Both must complete as they do on Auth0.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from test_auth_support import (
    ACME,
    CALLBACK,
    PASSWORD,
    Browser,
    callback_params,
    exchange,
    forms_of,
    make_invitation,
    pkce_pair,
    running,
    tenant_config,
    verify_jwt,
)


@pytest.fixture
def live() -> Iterator[tuple[object, str]]:
    config = tenant_config()
    config["clients"][0]["grant_types"] = ["authorization_code", "implicit", "refresh_token"]  # "webapp"
    with running(config) as pair:
        yield pair


@pytest.fixture
def browser(live: tuple[object, str]) -> Iterator[Browser]:
    b = Browser(live[1])
    yield b
    b.close()


def _signed_in(browser: Browser, **params: str) -> httpx2.Response:
    """The tenant's final answer (a redirect or the form_post page) after the login form."""
    page = browser.authorize(**params)
    if page.status_code == 200 and page.url.path == "/u/login":
        page = browser.submit({"email": "ann@acme.test", "password": PASSWORD})
    return page


def _fragment(response: httpx2.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text[:300]
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK and location.query == ""
    return {k: v[0] for k, v in parse_qs(location.fragment).items()}


def _posted(response: httpx2.Response) -> dict[str, str]:
    """The fields of the form_post page, after checking it posts to the callback and may run only its script."""
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    (form,) = forms_of(response.text)
    assert form.method == "POST" and form.action == CALLBACK
    csp = response.headers["content-security-policy"]
    assert "script-src 'sha256-" in csp and "'unsafe-inline'" not in csp.split("script-src")[1]
    assert "form-action 'self' http://127.0.0.1:8000" in csp
    assert response.headers["cache-control"] == "no-store"
    return form.fields


def _c_hash(code: str) -> str:
    digest = hashlib.sha256(code.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_express_openid_connect_default_id_token_with_form_post(live, browser) -> None:
    _, base = live
    nonce = secrets.token_urlsafe(12)
    fields = _posted(
        _signed_in(
            browser, response_type="id_token", response_mode="form_post", nonce=nonce, state="s1", organization=ACME
        )
    )
    assert set(fields) == {"id_token", "state"} and fields["state"] == "s1"
    claims = verify_jwt(base, fields["id_token"])
    assert claims["aud"] == "webapp" and claims["nonce"] == nonce and claims["org_id"] == ACME
    assert claims["email"] == "ann@acme.test"  # the profile scopes asked for
    assert "c_hash" not in claims and "at_hash" not in claims


def test_code_with_form_post_then_the_exchange(live, browser) -> None:
    """express-openid-connect's ``code`` configuration (form_post is its default mode for every type)."""
    _, base = live
    verifier, challenge = pkce_pair()
    fields = _posted(
        _signed_in(
            browser,
            response_mode="form_post",
            code_challenge=challenge,
            code_challenge_method="S256",
            state="s2",
            organization=ACME,
        )
    )
    assert set(fields) == {"code", "state"}
    tokens = exchange(base, fields["code"], verifier)
    assert tokens.status_code == 200 and verify_jwt(base, tokens.json()["id_token"])["org_id"] == ACME


def test_hybrid_code_id_token_defaults_to_the_fragment(live, browser) -> None:
    _, base = live
    nonce = secrets.token_urlsafe(12)
    verifier, challenge = pkce_pair()
    params = _fragment(
        _signed_in(
            browser,
            response_type="id_token code",  # the parts in any order
            nonce=nonce,
            code_challenge=challenge,
            code_challenge_method="S256",
            state="s3",
        )
    )
    assert set(params) == {"code", "id_token", "state"}
    claims = verify_jwt(base, params["id_token"])
    assert claims["nonce"] == nonce and claims["c_hash"] == _c_hash(params["code"])  # OIDC Core 3.3.2.11
    tokens = exchange(base, params["code"], verifier).json()
    assert verify_jwt(base, tokens["id_token"])["nonce"] == nonce
    # The SSO session answers the next request at once, in the fragment again.
    again = _fragment(browser.authorize(response_type="id_token", nonce="n2", state="s4"))
    assert set(again) == {"id_token", "state"} and verify_jwt(base, again["id_token"])["nonce"] == "n2"


def test_code_with_fragment_mode(live, browser) -> None:
    params = _fragment(_signed_in(browser, response_mode="fragment", state="s5"))
    assert set(params) == {"code", "state"}


def test_errors_travel_in_the_requested_mode_and_never_put_a_token_type_in_the_query(live, browser) -> None:
    # A token-bearing type never answers in the query, not even the error that refuses response_mode=query.
    refused = _fragment(browser.authorize(response_type="id_token", response_mode="query", nonce="n", state="e1"))
    assert refused["error"] == "invalid_request" and "response_mode" in refused["error_description"]
    assert refused["state"] == "e1"
    no_nonce = _fragment(browser.authorize(response_type="id_token"))
    assert no_nonce["error"] == "invalid_request" and "nonce" in no_nonce["error_description"]
    posted = _posted(browser.authorize(response_type="code id_token", response_mode="form_post", state="e2"))
    assert posted["error"] == "invalid_request" and posted["state"] == "e2"
    # A client without the implicit grant gets Auth0's unauthorized_client.
    code_only = _fragment(browser.authorize(client_id="noorgs", response_type="id_token", nonce="n"))
    assert code_only == {
        "error": "unauthorized_client",
        "error_description": "Grant type 'implicit' not allowed for the client.",
        "state": code_only["state"],
    }
    # Types the tenant does not serve are refused in the query (nothing is issued, so nothing can leak).
    for response_type in ("token", "id_token token", "code code", "code  id_token"):
        params = callback_params(browser.authorize(response_type=response_type, nonce="n"))
        assert params["error"] == "unsupported_response_type", response_type
    bogus_mode = callback_params(browser.authorize(response_mode="web_message"))
    assert bogus_mode["error"] == "invalid_request"


def test_login_errors_after_the_form_also_use_the_mode(live, browser) -> None:
    """An organization rule that refuses the user answers through form_post too (Carl is not an Acme member)."""
    page = browser.authorize(response_type="id_token", response_mode="form_post", nonce="n", organization=ACME)
    assert page.url.path == "/u/login"
    fields = _posted(browser.submit({"email": "carl@else.test", "password": PASSWORD}))
    assert fields["error"] == "access_denied" and "not part of" in fields["error_description"]


def test_authlib_oauth_client_completes_a_login_with_form_post() -> None:
    """Authlib's Starlette client, unmodified, against the tenant: the callback arrives as a POST."""
    from authlib.integrations.starlette_client import OAuth
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from orginvite.forms import read_urlencoded_form
    from orginvite.testing import LiveServer

    oauth = OAuth()

    async def login(request: Request) -> Response:
        callback = str(request.url_for("callback"))
        return await oauth.dev.authorize_redirect(request, callback, response_mode="form_post", organization=ACME)

    async def callback(request: Request) -> Response:
        method = request.method
        if method == "POST":
            # Authlib parses a POSTed callback with python-multipart, which this project does without: the app
            # reads the form itself (orginvite.forms) and hands Authlib the same parameters, session included.
            pairs = await read_urlencoded_form(request, max_bytes=16384, max_fields=10)
            assert pairs is not None
            scope = {**request.scope, "method": "GET", "query_string": urlencode(pairs).encode()}
            request = Request(scope, request.receive)
        token = await oauth.dev.authorize_access_token(request)
        return JSONResponse({"method": method, "userinfo": dict(token["userinfo"])})

    app = Starlette(
        routes=[Route("/login", login), Route("/callback", callback, methods=["GET", "POST"], name="callback")],
        middleware=[Middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32))],
    )
    with LiveServer(app) as site:
        config = tenant_config()
        config["clients"][0]["callbacks"] = [site.url + "/callback"]
        with running(config) as (_, base):
            oauth.register(
                "dev",
                client_id="webapp",
                client_secret="webapp-secret",
                server_metadata_url=base + "/.well-known/openid-configuration",
                client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
            )
            with httpx2.Client(timeout=10, follow_redirects=True) as user_agent:
                page = user_agent.get(site.url + "/login")  # app -> /authorize -> /u/login
                assert urlsplit(str(page.url)).path == "/u/login", page.text[:300]
                (form,) = forms_of(page.text)
                credentials = {**form.fields, "email": "ann@acme.test", "password": PASSWORD}
                posted = user_agent.post(str(page.url.join(form.action)), data=credentials)
                (hidden,) = forms_of(posted.text)  # the form_post page: what a browser's script submits
                assert hidden.action == site.url + "/callback" and set(hidden.fields) == {"code", "state"}
                result = user_agent.post(hidden.action, data=hidden.fields)
    assert result.status_code == 200, result.text[:500]
    assert result.json()["method"] == "POST"
    userinfo = result.json()["userinfo"]
    assert userinfo["email"] == "ann@acme.test" and userinfo["org_id"] == ACME and userinfo["aud"] == "webapp"


@pytest.mark.parametrize("response_type", ["id_token", "code"])
def test_invitation_flow_with_express_openid_connect_configurations(live, browser, response_type: str) -> None:
    """The invitee signs up and arrives as a member, through form_post, for both of express-openid-connect's modes."""
    tenant, base = live
    invitation = make_invitation(tenant, "invitee@new.test")
    page = browser.authorize(
        response_type=response_type,
        response_mode="form_post",
        nonce="inv-nonce",
        invitation=invitation["ticket_id"],
        organization=ACME,
        state="inv",
    )
    assert page.url.path == "/u/signup"
    fields = _posted(browser.submit({"name": "New Invitee", "password": PASSWORD}))
    if response_type == "code":
        fields = exchange(base, fields["code"], None).json()
    claims = verify_jwt(base, fields["id_token"])
    assert claims["org_id"] == ACME and claims["email"] == "invitee@new.test" and claims["nonce"] == "inv-nonce"
    assert tenant.store.is_member(ACME, claims["sub"])
