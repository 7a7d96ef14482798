"""The middleware over real loopback HTTP against a scriptable provider (tests/login_support.MiniOP)."""

from __future__ import annotations

import re
import time

import pytest

from login_support import KEY_A, KEY_B, Browser, MiniOP, import_example_app, query_of, settings_kwargs, sign_out
from loopback_support import Holder, SharedServer
from orginvite.config import Settings
from orginvite.testing import LiveServer

ORG = "org_" + "A1b2C3d4E5f6G7h8"
TICKET = "tkt-SECRET-abc123"


class Env:
    def __init__(self, op, op_url, holder, app_url):
        self.op, self.op_url, self.holder, self.url = op, op_url, holder, app_url
        self.browser = Browser()

    def configure(self, **kw):
        example = import_example_app()
        self.settings = Settings(**settings_kwargs(self.op_url, self.url, **kw))
        self.holder.inner = example.create_app(self.settings)
        return self.holder.inner

    def start(self, query=""):
        """GET /login?query -> the redirect to the provider."""
        return self.browser.get(self.url + "/login" + query)

    def finish(self, login_response):
        """Provider hop and callback hop; returns the callback response."""
        at_op = self.browser.get(login_response.headers["location"])
        assert at_op.status_code == 302, at_op.text
        return self.browser.get(at_op.headers["location"])

    def me(self):
        return self.browser.get(self.url + "/me")

    def tx_cookies(self):
        return self.browser.cookie("orginvite_tx_")


@pytest.fixture(scope="module")
def servers():
    with SharedServer() as op_server, SharedServer() as app_server:
        yield op_server, app_server


@pytest.fixture
def env(servers):
    # a fresh provider and app per test, served on the module's two servers
    op_server, app_server = servers
    op = MiniOP()
    holder = Holder()
    with op_server.serving(op.app), app_server.serving(holder):
        e = Env(op, op_server.url + "/", holder, app_server.url)
        e.configure()
        yield e
        e.browser.close()


def assert_no_store(response):
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_plain_login_flow_sets_session_and_me(env):
    assert env.me().status_code == 401
    assert env.me().json()["error"] == "unauthenticated"
    login = env.start("?returnTo=/me")
    assert login.status_code == 302
    assert_no_store(login)
    assert len(env.tx_cookies()) == 1
    callback = env.finish(login)
    assert callback.status_code == 303
    assert callback.headers["location"] == "/me"
    assert env.tx_cookies() == {}
    me = env.me()
    assert me.status_code == 200
    assert me.json() == {"user": {"sub": "auth0|alice", "email": "alice@acme.test", "name": "Alice"},
                         "organization": None, "roles": []}


def test_invitation_forwards_only_the_allow_list(env):
    env.configure(audience="https://api.example")
    query = (f"?invitation={TICKET}&organization={ORG}&organization_name=acme&returnTo=/dash"
             "&redirect_uri=https://evil.example/cb&prompt=none&scope=admin&connection=x")
    login = env.start(query)
    assert login.status_code == 302
    params = query_of(login.headers["location"])
    assert params["invitation"] == TICKET and params["organization"] == ORG
    assert params["redirect_uri"] == env.url + "/callback"
    assert params["scope"] == "openid profile email"
    assert params["audience"] == "https://api.example"
    assert not {"organization_name", "prompt", "connection", "returnTo"} & set(params)
    env.op.claims = {"https://orginvite.dev/roles": ["admin", "billing"], "org_name": "acme"}
    callback = env.finish(login)
    assert callback.headers["location"] == "/dash"
    body = env.me().json()
    assert body["organization"] == {"id": ORG, "name": "acme"}
    assert body["roles"] == ["admin", "billing"]


def test_ui_locales_from_accept_language(env):
    login = env.browser.get(env.url + "/login", headers={"accept-language": "fr-CA,fr;q=0.9,en;q=0.5"})
    assert query_of(login.headers["location"])["ui_locales"] == "fr"
    login = env.start()
    assert "ui_locales" not in query_of(login.headers["location"])


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (f"?invitation={TICKET}", "missing_organization"),
        (f"?organization={ORG}&organization={ORG}", "repeated_parameter"),
        (f"?invitation=a%20b&organization={ORG}", "invalid_ticket"),
        ("?organization=Acme%20Inc.", "invalid_organization"),
        (f"?invitation={TICKET}&organization=acme", "organization_id_required"),
        ("?organization=%zz", "invalid_encoding"),
    ],
)
def test_invalid_links_get_a_400_page_without_redirect_or_cookie(env, query, code):
    response = env.start(query)
    assert response.status_code == 400
    assert "location" not in response.headers and "set-cookie" not in response.headers
    assert_no_store(response)
    assert 'data-page="invalid_link"' in response.text and code in response.text
    assert TICKET not in response.text
    as_json = env.browser.get(env.url + "/login" + query, headers={"accept": "application/json"})
    assert as_json.status_code == 400 and as_json.json()["code"] == code


def test_invalid_link_page_is_localized(env):
    response = env.browser.get(env.url + "/login?invitation=x", headers={"accept-language": "fr"})
    assert response.status_code == 400
    assert '<html lang="fr" dir="ltr">' in response.text
    assert response.headers["content-language"] == "fr"
    assert "Ce lien n’est pas valide" in response.text  # from locales/fr through the project's catalogs


def test_two_tabs_at_once(env):
    first = env.start("?returnTo=/one")
    second = env.start("?returnTo=/two")
    assert len(env.tx_cookies()) == 2
    assert env.finish(second).headers["location"] == "/two"
    assert env.finish(first).headers["location"] == "/one"
    assert env.tx_cookies() == {}


def test_cap_evicts_the_oldest_transaction(env):
    env.configure(max_transactions=3)
    logins = []
    for i in range(5):
        logins.append(env.start(f"?returnTo=/t{i}"))
        time.sleep(0.01)  # creation times have millisecond resolution; eviction is oldest first
    assert len(env.tx_cookies()) == 3
    oldest = env.finish(logins[0])
    assert oldest.status_code == 400 and 'data-page="transaction_expired"' in oldest.text
    assert env.finish(logins[4]).headers["location"] == "/t4"


@pytest.mark.parametrize(
    ("error", "description", "kind", "status"),
    [
        ("invalid_request", "invitation not found or already used", "invitation_invalid", 400),
        ("access_denied", "invitation not found or already used", "invitation_invalid", 400),
        ("access_denied", "the specified account is not allowed to accept the current invitation",
         "wrong_account", 403),
        ("access_denied", f"user auth0|x is not part of the {ORG} organization", "not_a_member", 403),
        ("invalid_request", "authorization request parameter organization must be an organization id",
         "organization_invalid", 400),
        ("invalid_request", "parameter organization is required for this client", "organization_required", 400),
        ("access_denied", "User did not authorize the request", "access_denied", 403),
        ("server_error", "<script>alert(1)</script>", "other", 400),
    ],
)
def test_provider_errors_get_their_page_and_clear_the_transaction(env, error, description, kind, status):
    login = env.start(f"?invitation={TICKET}&organization={ORG}")
    env.op.authorize_error = (error, description)
    callback = env.finish(login)
    assert callback.status_code == status
    assert f'data-page="callback_{kind}"' in callback.text
    assert description not in callback.text and "<script>" not in callback.text
    assert env.tx_cookies() == {}
    assert env.me().status_code == 401
    as_json = env.browser.get(env.url + "/callback?state=x", headers={"accept": "application/json"})
    assert as_json.json()["error"] == "transaction_expired"


def test_org_claim_mismatch_and_missing_claim(env):
    login = env.start(f"?organization={ORG}")
    env.op.claims = {"org_id": "org_" + "Z" * 16}
    response = env.finish(login)
    assert response.status_code == 403 and 'data-page="forbidden"' in response.text
    assert env.tx_cookies() == {} and env.me().status_code == 401
    login = env.start(f"?organization={ORG}")
    env.op.claims = {"org_id": None}
    assert env.finish(login).status_code == 403
    # by name: org_name must match, lowercase
    env.op.claims = {"org_name": "other"}
    login = env.start("?organization=acme")
    assert env.finish(login).status_code == 403
    env.op.claims = {}
    login = env.start("?organization=acme")
    assert env.finish(login).status_code == 303
    assert env.me().json()["organization"]["name"] == "acme"


def test_require_organization_allow_list_and_veto(env):
    env.configure(require_organization=True)
    assert env.finish(env.start()).status_code == 403
    seen = []

    async def veto(user, claims):
        seen.append((user.sub, claims["org_id"]))
        return False

    env.configure(on_accept=veto)
    assert "access refused" in env.finish(env.start(f"?organization={ORG}")).text.lower()
    assert seen == [("auth0|alice", ORG)] and env.me().status_code == 401
    env.configure(allowed_organizations=lambda org_id, name: org_id != ORG)
    assert env.finish(env.start(f"?organization={ORG}")).status_code == 403
    env.configure(allowed_organizations=lambda org_id, name: org_id == ORG)
    assert env.finish(env.start(f"?organization={ORG}")).status_code == 303


def test_bad_tokens_are_refused(env):
    for claims in ({"nonce": "replayed"}, {"aud": "another-app"}, {"iss": "https://evil.example/"},
                   {"exp": int(time.time()) - 7200}):
        env.op.claims = claims
        response = env.finish(env.start())
        assert response.status_code == 403, claims
        assert env.me().status_code == 401
    env.op.claims = {}
    env.op.header = {"alg": "HS256", "kid": None}
    assert env.finish(env.start()).status_code == 403


def test_tampered_expired_foreign_and_replayed_transactions(env):
    login = env.start()
    name, value = next(iter(env.tx_cookies().items()))
    env.browser.client.cookies.set(name, value[:-2] + ("AA" if not value.endswith("AA") else "BB"),
                                   domain="127.0.0.1", path="/")
    response = env.finish(login)
    assert response.status_code == 400 and 'data-page="transaction_expired"' in response.text
    assert env.tx_cookies() == {}
    # a transaction signed by another deployment
    env.configure(secret_keys=(KEY_B,))
    login = env.start()
    env.configure(secret_keys=(KEY_A,))
    response = env.finish(login)
    assert response.status_code == 400 and 'data-page="transaction_expired"' in response.text
    assert env.tx_cookies() == {}
    # an expired one (the app's clock moves on)
    now = [time.time()]
    settings = Settings(**settings_kwargs(env.op_url, env.url))
    from orginvite.login.middleware import OrgInviteMiddleware

    env.holder.inner = OrgInviteMiddleware(import_example_app().create_app(settings).app, settings,
                                           clock=lambda: now[0])
    login = env.start()
    now[0] += 3601
    assert 'data-page="transaction_expired"' in env.finish(login).text
    # a replayed callback: the transaction is gone; signed in -> home instead of an error
    now[0] = time.time()
    login = env.start()
    at_op = env.browser.get(login.headers["location"])
    assert env.browser.get(at_op.headers["location"]).status_code == 303
    replay = env.browser.get(at_op.headers["location"])
    assert replay.status_code == 303 and replay.headers["location"] == "/"


def test_cookie_secret_rotation(env):
    env.finish(env.start())
    assert env.me().status_code == 200
    env.configure(secret_keys=(KEY_B, KEY_A))
    me = env.me()
    assert me.status_code == 200
    assert "orginvite_session=" in me.headers["set-cookie"]  # re-signed with the newest key
    env.configure(secret_keys=(KEY_B,))
    assert env.me().status_code == 200  # the re-signed cookie is valid under the new key alone
    env.configure(secret_keys=(KEY_A,))
    assert env.me().status_code == 401  # and not under the retired one


def test_jwks_rotation(env):
    env.configure(jwks_min_refetch_interval=0.01)
    assert env.finish(env.start()).status_code == 303
    env.op.rotate()
    time.sleep(0.05)
    assert env.finish(env.start()).status_code == 303
    assert env.op.jwks_fetches == 2


@pytest.mark.parametrize("mode", ["500", "garbage", "sleep"])
def test_provider_outages_give_502_pages(env, mode):
    # 1 s: room for the answers that must arrive under load; "sleep" outlasts it (MiniOP.sleep, 3 s)
    env.configure(http_timeout=1.0)
    env.op.token_mode = mode
    login = env.start()
    response = env.finish(login)
    assert response.status_code == 502 and 'data-page="provider_unavailable"' in response.text
    assert env.tx_cookies() == {}
    env.op.token_mode = "ok"
    env.op.discovery_mode = mode
    env.configure(http_timeout=1.0)  # fresh discovery cache
    response = env.start(f"?invitation={TICKET}&organization={ORG}")
    assert response.status_code == 502 and TICKET not in response.text
    assert_no_store(response)


def test_stopped_provider_gives_502():
    holder = Holder()
    op = MiniOP()
    op_server = LiveServer(op.app).start()
    op_url = op_server.url + "/"
    op_server.stop()
    with LiveServer(holder) as app_server:
        holder.inner = import_example_app().create_app(Settings(**settings_kwargs(op_url, app_server.url)))
        browser = Browser()
        response = browser.get(app_server.url + "/login")
        assert response.status_code == 502 and 'data-page="provider_unavailable"' in response.text
        browser.close()


def test_wrong_account_interstitial(env):
    env.finish(env.start())
    assert env.me().status_code == 200
    page = env.start(f"?invitation={TICKET}&organization={ORG}")
    assert page.status_code == 200 and 'data-page="interstitial"' in page.text
    assert "alice@acme.test" in page.text and TICKET not in page.text
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    # the form's POST is answered with a redirect to /authorize: form-action must allow the provider's origin
    assert f"form-action 'self' {env.op_url.rstrip('/')}" in csp
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    # a forged POST (wrong token) changes nothing
    bad = env.browser.post(env.url + "/login", data={"csrf_token": "x", "action": "continue"})
    assert bad.status_code == 403 and env.me().status_code == 200
    # cancel keeps the session
    page = env.start(f"?invitation={TICKET}&organization={ORG}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    cancel = env.browser.post(env.url + "/login", data={"csrf_token": csrf, "action": "cancel"})
    assert cancel.status_code == 303 and cancel.headers["location"] == "/" and env.me().status_code == 200
    # continue: signed out locally, provider asked to prompt for credentials, invitation kept
    page = env.start(f"?invitation={TICKET}&organization={ORG}&returnTo=/welcome")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    # "Origin: null" is what browsers send from a no-referrer page: the CSRF token decides
    go = env.browser.post(env.url + "/login", data={"csrf_token": csrf, "action": "continue"},
                          headers={"origin": "null", "sec-fetch-site": "same-origin"})
    assert go.status_code == 303
    params = query_of(go.headers["location"])
    assert params["prompt"] == "login" and params["invitation"] == TICKET and params["organization"] == ORG
    assert env.me().status_code == 401
    env.op.user = {"sub": "auth0|bob", "email": "bob@acme.test", "name": "Bob"}
    assert env.finish(go).headers["location"] == "/welcome"
    assert env.me().json()["user"]["sub"] == "auth0|bob"
    # the pending link is single-use
    again = env.browser.post(env.url + "/login", data={"csrf_token": csrf, "action": "continue"})
    assert again.status_code == 400 and 'data-page="transaction_expired"' in again.text


def test_interstitial_refuses_foreign_origin(env):
    env.finish(env.start())
    page = env.start(f"?invitation={TICKET}&organization={ORG}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = env.browser.post(env.url + "/login", data={"csrf_token": csrf, "action": "continue"},
                                headers={"origin": "https://evil.example"})
    assert response.status_code == 403 and env.me().status_code == 200
    response = env.browser.post(env.url + "/login", data={"csrf_token": csrf, "action": "continue"},
                                headers={"sec-fetch-site": "cross-site"})
    assert response.status_code == 403 and env.me().status_code == 200


@pytest.mark.parametrize(
    ("return_to", "expected_suffix"),
    [
        (None, "/"),
        ("/bye", "/bye"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_logout(env, return_to, expected_suffix):
    env.finish(env.start())
    query = {} if return_to is None else {"returnTo": return_to}
    response = sign_out(env.browser.client, env.url + "/logout", params=query)
    assert response.status_code == 303
    assert_no_store(response)
    location = response.headers["location"]
    assert location.startswith(env.op_url + "oidc/logout?")
    assert query_of(location)["post_logout_redirect_uri"] == env.url + expected_suffix
    assert env.me().status_code == 401


def test_logout_allow_list_and_local_fallback(env):
    env.configure(allowed_logout_urls=("https://www.example.com/bye",), logout_style="local")
    response = sign_out(env.browser.client, env.url + "/logout", params={"returnTo": "https://www.example.com/bye"})
    assert response.headers["location"] == "https://www.example.com/bye"
    response = sign_out(env.browser.client, env.url + "/logout", params={"returnTo": "https://www.example.com/other"})
    assert response.headers["location"] == env.url + "/"
    assert "None" not in response.headers["location"]


def test_methods(env):
    response = env.browser.client.put(env.url + "/login")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD, POST"
    assert env.browser.client.post(env.url + "/callback").status_code == 405
