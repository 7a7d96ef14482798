"""The hosted pages in a real Chromium: cookies, the CSRF-bound form, the CSP and escaping as a browser sees them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from test_auth_support import ACME, PASSWORD, make_invitation, pkce_pair, running, tenant_config, verify_jwt

from orginvite.testing import LiveServer

pytestmark = pytest.mark.browser  # the `chromium` fixture and the no-browser policy: tests/conftest.py


async def _callback(request: Request) -> PlainTextResponse:
    return PlainTextResponse("back at the app")


@pytest.fixture(scope="module")
def app_server() -> Iterator[str]:
    with LiveServer(Starlette(routes=[Route("/callback", _callback)])) as server:
        yield server.url


def _config(callback: str) -> dict[str, Any]:
    config = tenant_config()
    for client in config["clients"]:
        if client["client_id"] == "webapp":
            client["callbacks"] = [callback]
    return config


def test_invitee_signs_up_in_a_real_browser(app_server: str, chromium: Any) -> None:
    callback = app_server + "/callback"
    with running(_config(callback)) as (tenant, base):
        hostile = tenant.store.create_organization("hostile", '<img src=x onerror="alert(1)">Hostile & Co')
        connection = tenant.store.get_connection_by_name("Username-Password-Authentication")
        tenant.store.enable_connection(hostile["id"], connection["id"])
        invitation = make_invitation(tenant, "chrome@new.test", org_id=hostile["id"])
        verifier, challenge = pkce_pair()
        context = chromium.new_context(locale="fr-FR")
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        query = {
            "response_type": "code",
            "client_id": "webapp",
            "redirect_uri": callback,
            "scope": "openid profile email",
            "state": "chrome-state",
            "nonce": "chrome-nonce",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "invitation": invitation["ticket_id"],
            "organization": hostile["id"],
        }
        page.goto(base + "/authorize?" + urlencode(query))
        assert urlsplit(page.url).path == "/u/signup"
        assert page.get_attribute("html", "lang") == "fr"  # Accept-Language from the browser's locale
        email = page.locator("#email")
        assert email.input_value() == "chrome@new.test" and email.get_attribute("readonly") is not None
        assert '<img src=x onerror="alert(1)">Hostile & Co' in page.locator("p.lead bdi").inner_text()
        page.fill("#name", "Chrome User")
        assert page.get_attribute("#password", "minlength") == "8"  # the browser checks first...
        page.evaluate("document.getElementById('password').removeAttribute('minlength')")
        page.fill("#password", "short")  # ...and the server too
        page.click("button[type=submit]")
        assert page.locator("#error").get_attribute("data-error") == "weak_password"
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(callback + "?*")
        params = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
        assert params["state"] == "chrome-state" and "error" not in params
        assert dialogs == []  # nothing in the pages ran as script
        token = httpx2.post(
            base + "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": callback,
                "code_verifier": verifier,
            },
            auth=("webapp", "webapp-secret"),
        )
        claims = verify_jwt(base, token.json()["id_token"])
        assert claims["org_id"] == hostile["id"] and claims["nonce"] == "chrome-nonce"
        user = tenant.store.get_user_by_email("chrome@new.test")
        assert tenant.store.is_member(hostile["id"], user["user_id"])
        # The hosted session cookie now signs the browser in without a form (SSO) for another organization login.
        tenant.store.add_members(ACME, [user["user_id"]])
        sso = {k: v for k, v in query.items() if k != "invitation"}
        page.goto(base + "/authorize?" + urlencode({**sso, "organization": ACME, "state": "sso"}))
        page.wait_for_url(callback + "?*")
        back = parse_qs(urlsplit(page.url).query)
        assert back["state"] == ["sso"] and "code" in back and "error" not in back
        context.close()


def test_a_cross_site_form_post_cannot_sign_in(app_server: str, chromium: Any) -> None:
    """Login CSRF: another site posting the login form (even with a valid token) is refused by the cookie binding."""
    callback = app_server + "/callback"
    with running(_config(callback)) as (_, base):
        context = chromium.new_context()
        page = context.new_page()
        query = {"response_type": "code", "client_id": "webapp", "redirect_uri": callback, "organization": ACME}
        page.goto(base + "/authorize?" + urlencode(query))
        action = base + page.locator("form").get_attribute("action")
        csrf = page.locator("input[name=csrf]").input_value()
        # The attacker's page lives on another origin (the app server here, "localhost" vs "127.0.0.1").
        attacker = app_server.replace("127.0.0.1", "localhost") + "/callback"
        page.goto(attacker)
        page.set_content(
            f'<form id="f" method="post" action="{action}">'
            f'<input name="csrf" value="{csrf}"><input name="email" value="ann@acme.test">'
            f'<input name="password" value="{PASSWORD}"></form>'
        )
        with page.expect_navigation():
            page.evaluate("document.getElementById('f').submit()")
        assert urlsplit(page.url).path == "/u/login"
        assert page.locator("#error").get_attribute("data-error") == "other_browser"
        context.close()


def test_form_post_page_submits_itself_under_its_csp(chromium: Any) -> None:
    """The hash-allowed script runs in a real browser and the POST reaches the app (form-action allows it)."""
    received: list[dict[str, str]] = []

    async def posted(request: Request) -> PlainTextResponse:
        body = (await request.body()).decode()
        received.append({k: v[0] for k, v in parse_qs(body).items()})
        return PlainTextResponse("posted")

    with LiveServer(Starlette(routes=[Route("/callback", posted, methods=["POST"])])) as app:
        config = _config(app.url + "/callback")
        config["clients"][0]["grant_types"] = ["authorization_code", "implicit", "refresh_token"]
        with running(config) as (_, base):
            context = chromium.new_context()
            page = context.new_page()
            violations: list[str] = []
            page.on("console", lambda message: violations.append(message.text))
            query = {
                "response_type": "id_token",
                "response_mode": "form_post",
                "client_id": "webapp",
                "redirect_uri": app.url + "/callback",
                "scope": "openid email",
                "state": "fp-state",
                "nonce": "fp-nonce",
            }
            page.goto(base + "/authorize?" + urlencode(query))
            page.fill("#email", "ann@acme.test")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(app.url + "/callback")
            assert page.locator("body").inner_text() == "posted"
            context.close()
            (fields,) = received
            assert fields["state"] == "fp-state" and set(fields) == {"id_token", "state"}
            assert verify_jwt(base, fields["id_token"])["nonce"] == "fp-nonce"
    assert not [text for text in violations if "Content Security" in text]
