"""/authorize, the hosted pages and Auth0's Organizations rules, driven over loopback HTTP like a browser would."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from test_auth_support import (
    ACME,
    CALLBACK,
    CLOSED,
    OPEN,
    PASSWORD,
    ROLES_CLAIM,
    Browser,
    Clock,
    callback_params,
    exchange,
    forms_of,
    make_invitation,
    pkce_pair,
    running,
    sign_in,
    tenant_config,
    verify_jwt,
)

INVITATION_GONE = ("invalid_request", "invitation not found or already used")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def live(clock: Clock) -> Iterator[tuple[object, str]]:
    with running(clock=clock) as pair:
        yield pair


@pytest.fixture
def browser(live: tuple[object, str]) -> Iterator[Browser]:
    b = Browser(live[1])
    yield b
    b.close()


def test_discovery_and_jwks(live) -> None:
    tenant, base = live
    doc = httpx2.get(base + "/.well-known/openid-configuration").json()
    issuer = base + "/"
    assert doc["issuer"] == issuer
    assert doc["authorization_endpoint"] == issuer + "authorize"
    assert doc["token_endpoint"] == issuer + "oauth/token"
    assert doc["userinfo_endpoint"] == issuer + "userinfo"
    assert doc["jwks_uri"] == issuer + ".well-known/jwks.json"
    assert doc["end_session_endpoint"] == issuer + "oidc/logout"
    assert doc["response_types_supported"] == ["code", "id_token", "code id_token"]
    assert doc["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert "implicit" in doc["grant_types_supported"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert {"openid", "profile", "email", "offline_access"} <= set(doc["scopes_supported"])
    assert {"org_id", "org_name", "nonce"} <= set(doc["claims_supported"])
    jwks = httpx2.get(doc["jwks_uri"]).json()
    assert [k["kid"] for k in jwks["keys"]] == tenant.keys.kids
    assert all(k["alg"] == "RS256" and k["use"] == "sig" and "d" not in k for k in jwks["keys"])
    assert all(len(k["x5c"]) == 1 and k["x5t"] for k in jwks["keys"])  # as Auth0 publishes its keys
    # Advertised because it is served: /oauth/revoke answers (here 401: no client authentication).
    assert doc["revocation_endpoint"] == issuer + "oauth/revoke"
    assert httpx2.post(doc["revocation_endpoint"], data={"token": "x"}).status_code == 401


def test_invitation_acceptance_end_to_end(live, browser) -> None:
    tenant, base = live
    invitation = make_invitation(tenant, "Newbie@Acme.test", roles=["rol_membr00000000001", "rol_admin00000000001"])
    verifier, challenge = pkce_pair()
    nonce = secrets.token_urlsafe(12)
    page = browser.authorize(
        invitation=invitation["ticket_id"],
        organization=ACME,
        state="st-1",
        nonce=nonce,
        code_challenge=challenge,
        code_challenge_method="S256",
        login_hint="someone.else@evil.test",
    )
    assert page.status_code == 200 and page.url.path == "/u/signup"
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert "form-action 'self' http://127.0.0.1:8000;" in page.headers["content-security-policy"] + ";"
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script at all
    assert invitation["ticket_id"] not in page.text  # the ticket never reaches a page
    form = browser.form()
    assert form.fields["email"] == "Newbie@Acme.test" and "email" in form.readonly  # login_hint ignored
    assert form.fields["csrf"]
    assert "Acme Inc." in page.text and "https://cdn.acme.test/logo.png" in page.text and "#0059d6" in page.text
    # An edited email field is ignored: the account is the invitee's.
    params = callback_params(
        browser.submit({"email": "attacker@evil.test", "name": "New Bie", "password": "s3cret-pass"})
    )
    assert params["state"] == "st-1" and "error" not in params
    token = exchange(base, params["code"], verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "Bearer" and token.headers["cache-control"] == "no-store"
    claims = verify_jwt(base, body["id_token"])
    user = tenant.store.get_user_by_email("newbie@acme.test")
    assert user is not None and tenant.store.get_user_by_email("attacker@evil.test") is None
    assert claims["sub"] == user["user_id"] and claims["aud"] == "webapp" and claims["iss"] == base + "/"
    assert claims["org_id"] == ACME and claims["org_name"] == "acme" and claims["nonce"] == nonce
    assert claims["email"].lower() == "newbie@acme.test" and claims["name"] == "New Bie"
    assert sorted(claims[ROLES_CLAIM]) == ["admin", "member"]
    assert tenant.store.is_member(ACME, user["user_id"])
    roles, _ = tenant.store.list_member_roles(ACME, user["user_id"])
    assert sorted(r["name"] for r in roles) == ["admin", "member"]
    assert tenant.store.get_invitation_by_ticket(invitation["ticket_id"]) is None
    # The same link a second time: Auth0's answer for a used invitation.
    again = browser.authorize(invitation=invitation["ticket_id"], organization=ACME, state="st-2")
    assert callback_params(again) == {
        "error": INVITATION_GONE[0],
        "error_description": INVITATION_GONE[1],
        "state": "st-2",
    }


def test_invitation_for_an_existing_account_shows_login(live, browser) -> None:
    tenant, _ = live
    invitation = make_invitation(tenant, "carl@else.test", org_id=OPEN)
    page = browser.authorize(invitation=invitation["ticket_id"], organization=OPEN)
    assert page.url.path == "/u/login" and browser.form().fields["email"] == "carl@else.test"
    params = callback_params(browser.submit({"password": PASSWORD}))
    assert "code" in params
    carl = tenant.store.get_user_by_email("carl@else.test")
    assert tenant.store.is_member(OPEN, carl["user_id"])
    assert tenant.store.get_invitation_by_ticket(invitation["ticket_id"]) is None


def test_invitation_accepted_by_another_account_is_refused_and_consumed(live, browser) -> None:
    tenant, _ = live
    invitation = make_invitation(tenant, "bob@new.test")
    browser.authorize(invitation=invitation["ticket_id"], organization=ACME, state="s")
    assert browser.page.url.path == "/u/signup"
    login_page = browser.http.get(browser.page.url.copy_with(path="/u/login"))
    browser.page = login_page
    params = callback_params(browser.submit({"email": "carl@else.test", "password": PASSWORD}))
    assert params == {
        "error": "access_denied",
        "error_description": "the specified account is not allowed to accept the current invitation",
        "state": "s",
    }
    assert tenant.store.get_invitation_by_ticket(invitation["ticket_id"]) is None  # Auth0 consumes it
    carl = tenant.store.get_user_by_email("carl@else.test")
    assert not tenant.store.is_member(ACME, carl["user_id"])


def test_invitation_errors(live, browser, clock) -> None:
    tenant, _ = live
    unknown = browser.authorize(invitation="no-such-ticket", organization=ACME, state="a")
    assert callback_params(unknown) == {
        "error": INVITATION_GONE[0],
        "error_description": INVITATION_GONE[1],
        "state": "a",
    }
    foreign = make_invitation(tenant, "x@new.test", org_id=OPEN)
    params = callback_params(browser.authorize(invitation=foreign["ticket_id"], organization=ACME))
    assert (params["error"], params["error_description"]) == INVITATION_GONE
    expiring = make_invitation(tenant, "y@new.test", ttl=60)
    clock.now += 61
    params = callback_params(browser.authorize(invitation=expiring["ticket_id"], organization=ACME))
    assert (params["error"], params["error_description"]) == INVITATION_GONE
    missing_org = callback_params(browser.authorize(invitation=foreign["ticket_id"]))
    assert missing_org["error"] == "invalid_request"


def test_invitation_that_expires_while_signing_up(live, browser, clock) -> None:
    tenant, _ = live
    invitation = make_invitation(tenant, "late@new.test", ttl=600)
    browser.authorize(invitation=invitation["ticket_id"], organization=ACME)
    clock.now += 601
    params = callback_params(browser.submit({"password": "long enough"}))
    assert (params["error"], params["error_description"]) == INVITATION_GONE
    assert tenant.store.get_user_by_email("late@new.test") is not None  # the account exists, the membership not
    assert not tenant.store.is_member(ACME, tenant.store.get_user_by_email("late@new.test")["user_id"])


def test_member_logs_in_by_organization_name_with_roles_in_the_token(live, browser) -> None:
    tenant, base = live
    page = browser.authorize(organization="ACME", nonce="n1")
    assert page.url.path == "/u/login" and "Acme Inc." in page.text
    wrong = browser.submit({"email": "ann@acme.test", "password": "nope-nope"})
    assert wrong.status_code == 400 and "Wrong email or password." in wrong.text
    assert wrong.headers.get("location") is None
    params = callback_params(browser.submit({"email": "ann@acme.test", "password": PASSWORD}))
    claims = verify_jwt(base, exchange(base, params["code"], None).json()["id_token"])
    assert claims["org_id"] == ACME and claims["org_name"] == "acme" and claims[ROLES_CLAIM] == ["admin"]
    ann = tenant.store.get_user_by_email("ann@acme.test")
    assert tenant.store.get_user(ann["user_id"])["logins_count"] >= 1


def test_login_without_organization_has_no_org_claims(live, browser) -> None:
    _, base = live
    params = sign_in(base, browser, nonce="n")
    claims = verify_jwt(base, exchange(base, params["code"], None).json()["id_token"])
    assert "org_id" not in claims and "org_name" not in claims and ROLES_CLAIM not in claims


def test_sso_session_skips_the_form_and_prompt_login_forces_it(live, browser) -> None:
    _, base = live
    sign_in(base, browser)
    again = browser.authorize(organization=ACME, state="sso")
    assert callback_params(again)["state"] == "sso" and "code" in callback_params(again)
    forced = browser.authorize(organization=ACME, prompt="login")
    assert forced.status_code == 200 and forced.url.path == "/u/login"
    silent_other = Browser(base)
    try:
        params = callback_params(silent_other.authorize(prompt="none", state="q"))
        assert params == {"error": "login_required", "error_description": "Login required", "state": "q"}
    finally:
        silent_other.close()


def test_non_member_is_refused_unless_the_connection_assigns_membership(live, browser) -> None:
    tenant, base = live
    carl = tenant.store.get_user_by_email("carl@else.test")
    params = sign_in(base, browser, "carl@else.test", organization=ACME, state="x")
    assert params == {
        "error": "access_denied",
        "error_description": f"user {carl['user_id']} is not part of the {ACME} organization",
        "state": "x",
    }
    assert not tenant.store.is_member(ACME, carl["user_id"])
    form = browser.authorize(organization=OPEN, prompt="login")
    assert form.status_code == 200 and form.url.path == "/u/login"  # prompt=login: the form despite the session
    params = callback_params(browser.submit({"email": "carl@else.test", "password": PASSWORD}))
    assert "code" in params and tenant.store.is_member(OPEN, carl["user_id"])


def test_connection_not_enabled_for_the_organization(live, browser) -> None:
    tenant, base = live
    tenant.store.add_members(CLOSED, [tenant.store.get_user_by_email("ann@acme.test")["user_id"]])
    params = sign_in(base, browser, organization=CLOSED)
    assert params["error"] == "access_denied" and CLOSED in params["error_description"]


def test_organization_names_refused_when_the_tenant_disallows_them(clock) -> None:
    with running(tenant_config(names=False), clock) as (_, base):
        browser = Browser(base)
        params = callback_params(browser.authorize(organization="acme", state="n"))
        assert params == {
            "error": "invalid_request",
            "error_description": "authorization request parameter organization must be an organization id",
            "state": "n",
        }
        code = sign_in(base, browser, organization=ACME)["code"]
        claims = verify_jwt(base, exchange(base, code, None).json()["id_token"])
        assert claims["org_id"] == ACME and "org_name" not in claims
        browser.close()


def test_organization_usage_rules(browser) -> None:
    required = callback_params(browser.authorize(client_id="required", state="r"))
    assert required == {
        "error": "invalid_request",
        "error_description": "parameter organization is required for this client",
        "state": "r",
    }
    denied = callback_params(browser.authorize(client_id="noorgs", organization=ACME))
    assert denied["error"] == "invalid_request"
    unknown = callback_params(browser.authorize(organization="org_nothere00000000"))
    assert unknown["error"] == "invalid_request"
    display_name = callback_params(browser.authorize(organization="Acme Inc."))
    assert display_name["error"] == "invalid_request"


def test_pre_login_prompt_asks_for_the_organization_name(live, browser) -> None:
    _, base = live
    page = browser.authorize(client_id="prompted")
    assert page.url.path == "/u/login/organization"
    missing = browser.submit({"organization": "nope"})
    assert missing.status_code == 400 and "No organization with this name was found." in missing.text
    login = browser.submit({"organization": "Acme"})
    assert login.url.path == "/u/login" and "Acme Inc." in login.text
    params = callback_params(browser.submit({"email": "ann@acme.test", "password": PASSWORD}))
    token = exchange(base, params["code"], None, client_id="prompted")
    assert verify_jwt(base, token.json()["id_token"])["org_id"] == ACME


def test_post_login_prompt_lets_the_user_pick_among_their_organizations(live, browser) -> None:
    tenant, base = live
    ann = tenant.store.get_user_by_email("ann@acme.test")
    tenant.store.add_members(OPEN, [ann["user_id"]])
    browser.authorize(client_id="picker")
    picker = browser.submit({"email": "ann@acme.test", "password": PASSWORD})
    assert picker.url.path == "/u/organization-picker"
    form = browser.form()
    assert sorted(value for _, value in form.buttons) == sorted([ACME, OPEN])
    forged = browser.submit({"organization": CLOSED})
    assert forged.status_code == 400
    params = callback_params(browser.submit({"organization": OPEN}))
    claims = verify_jwt(base, exchange(base, params["code"], None, client_id="picker").json()["id_token"])
    assert claims["org_id"] == OPEN
    # Someone with no organization at all is sent back with access_denied.
    carl_browser = Browser(base)
    carl_browser.authorize(client_id="picker", state="c")
    params = callback_params(carl_browser.submit({"email": "carl@else.test", "password": PASSWORD}))
    assert params["error"] == "access_denied" and params["state"] == "c"
    carl_browser.close()


def test_untrusted_client_or_redirect_uri_gets_a_page_never_a_redirect(browser) -> None:
    cases = [
        {"client_id": "nobody"},
        {"redirect_uri": "https://evil.test/callback"},
        {"redirect_uri": CALLBACK + "/"},
        {"redirect_uri": "https://a.b.app.test/callback"},
        {"redirect_uri": ""},
    ]
    for case in cases:
        page = browser.authorize(**case)
        assert page.status_code == 400, case
        assert "location" not in page.headers and "evil.test" not in page.text
        assert 'data-error="invalid_' in page.text
    repeated = browser.http.get(
        "/authorize?" + urlencode([("client_id", "webapp"), ("redirect_uri", CALLBACK), ("redirect_uri", CALLBACK)])
    )
    assert repeated.status_code == 400 and "location" not in repeated.headers


def test_wildcard_callback_matches_one_label(browser) -> None:
    params = callback_params(browser.authorize(redirect_uri="https://tenant1.app.test/callback", response_type="token"))
    assert params["error"] == "unsupported_response_type"
    assert browser.page.headers["location"].startswith("https://tenant1.app.test/callback?")


def test_request_errors_go_back_to_the_redirect_uri_with_state(browser) -> None:
    _, challenge = pkce_pair()
    cases = [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": ""}, "invalid_request"),
        ({"code_challenge": challenge, "code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": challenge}, "invalid_request"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
        ({"code_challenge_method": "S256"}, "invalid_request"),
        ({"prompt": "bogus"}, "invalid_request"),
        ({"audience": "https://unknown.api/"}, "access_denied"),
        ({"client_id": "implicit"}, "unauthorized_client"),
    ]
    for extra, error in cases:
        params = callback_params(browser.authorize(state="keep-me", **extra))
        assert params["error"] == error and params["state"] == "keep-me", (extra, params)
        assert params["error_description"]
    repeated = browser.http.get(
        "/authorize?"
        + urlencode(
            [
                ("client_id", "webapp"),
                ("redirect_uri", CALLBACK),
                ("response_type", "code"),
                ("organization", ACME),
                ("organization", OPEN),
            ]
        )
    )
    assert callback_params(repeated)["error"] == "invalid_request"


def test_csrf_token_and_browser_binding_are_checked(live, browser) -> None:
    _, base = live
    page = browser.authorize(organization=ACME)
    form = browser.form()
    forged = browser.http.post(str(page.url), data={"csrf": "forged", "email": "ann@acme.test", "password": PASSWORD})
    assert forged.status_code == 403 and "location" not in forged.headers
    missing = browser.http.post(str(page.url), data={"email": "ann@acme.test", "password": PASSWORD})
    assert missing.status_code == 403
    # The right token from another browser (no "did" cookie bound to the request): refused.
    other = httpx2.post(str(page.url), data={**form.fields, "email": "ann@acme.test", "password": PASSWORD})
    assert other.status_code == 403 and "location" not in other.headers
    assert httpx2.get(str(page.url)).status_code == 403
    # Still usable by its own browser.
    assert "code" in callback_params(browser.submit({"email": "ann@acme.test", "password": PASSWORD}))
    # Used up: the pending request is gone.
    assert browser.http.get(str(page.url)).status_code == 400
    assert httpx2.get(base + "/u/login?state=nonsense").status_code == 400


def test_signup_errors_are_shown_on_the_page(live, browser) -> None:
    tenant, _ = live
    page = browser.authorize(screen_hint="signup", login_hint="fresh@new.test")
    assert page.url.path == "/u/signup" and browser.form().fields["email"] == "fresh@new.test"
    weak = browser.submit({"password": "short"})
    assert weak.status_code == 400 and "at least 8 characters" in weak.text
    taken = browser.submit({"email": "ANN@acme.test", "password": "long enough"})
    assert taken.status_code == 400 and "already exists" in taken.text
    invalid = browser.submit({"email": "not-an-email", "password": "long enough"})
    assert invalid.status_code == 400 and "valid email" in invalid.text
    assert "code" in callback_params(browser.submit({"email": "fresh@new.test", "password": "long enough"}))
    assert tenant.store.verify_password("fresh@new.test", "long enough") is not None


def test_hostile_organization_and_user_names_are_escaped(live) -> None:
    tenant, base = live
    # The config refuses such values; the store (fed by the Management API) is where they could come from.
    hostile = '<script>alert("org")</script>&'
    org = tenant.store.create_organization(
        "hostile",
        hostile,
        branding={
            "logo_url": 'javascript:alert(4)"',
            "colors": {"primary": "red;}</style><script>alert(1)</script>", "page_background": "url(x)"},
        },
    )
    connection = tenant.store.get_connection_by_name("Username-Password-Authentication")
    tenant.store.enable_connection(org["id"], connection["id"])
    eve = tenant.store.create_user("eve@evil.test", PASSWORD, name="<img src=x onerror=alert(2)>")
    tenant.store.add_members(org["id"], [eve["user_id"]])
    browser = Browser(base)
    page = browser.authorize(organization=org["id"], login_hint='"><script>alert(3)</script>')
    assert "<script>" not in page.text and "&lt;script&gt;alert(&#34;org&#34;)&lt;/script&gt;&amp;" in page.text
    assert "alert(1)" not in page.text and "#635dff" in page.text  # a bad colour falls back to the default
    assert "javascript:" not in page.text and "url(x)" not in page.text
    assert browser.form().fields["email"] == '"><script>alert(3)</script>'  # kept as a value, escaped
    assert "<script>alert(3)" not in page.text
    invitation = make_invitation(tenant, "eve2@evil.test", org_id=org["id"])
    invite_page = Browser(base)
    signup = invite_page.authorize(invitation=invitation["ticket_id"], organization=org["id"])
    assert signup.url.path == "/u/signup"
    assert "<script>" not in signup.text and "&lt;script&gt;" in signup.text
    picker = Browser(base)
    picker.authorize(client_id="picker")
    chooser = picker.submit({"email": "eve@evil.test", "password": PASSWORD})
    assert chooser.url.path == "/u/organization-picker"
    assert "<script>" not in chooser.text and "<img" not in chooser.text and "&lt;script&gt;" in chooser.text
    for b in (browser, invite_page, picker):
        b.close()


def test_pages_are_localized_from_ui_locales_then_accept_language(browser) -> None:
    page = browser.authorize(ui_locales="fr-CA de")
    assert '<html lang="fr"' in page.text
    browser.http.headers["accept-language"] = "de-DE,de;q=0.9"
    page = browser.authorize()
    assert '<html lang="de"' in page.text
    page = browser.authorize(ui_locales="ar")
    assert 'dir="rtl"' in page.text
    # The organization's metadata.lang comes last, after what the browser asks for.
    assert '<html lang="de"' in browser.authorize(organization=OPEN).text
    del browser.http.headers["accept-language"]
    assert '<html lang="ja"' in browser.authorize(organization=OPEN).text


def test_bad_form_bodies_are_refused_cleanly(browser) -> None:
    page = browser.authorize()
    form = forms_of(page.text)[0]
    raw = browser.http.post(
        str(page.url), content=b"\xff\xfe", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert raw.status_code in (400, 403)
    json_body = browser.http.post(str(page.url), json={"csrf": form.fields["csrf"]})
    assert json_body.status_code == 403
    huge = browser.http.post(str(page.url), data={**form.fields, "email": "a" * 10000, "password": "x"})
    assert huge.status_code == 403
    assert browser.http.get("/authorize?client_id=%ff").status_code == 400
    assert browser.http.get("/authorize").status_code == 400


def test_prompt_none_and_max_age(live, browser, clock) -> None:
    _, base = live
    sign_in(base, browser)
    silent = callback_params(browser.authorize(prompt="none", state="p"))
    assert "code" in silent and silent["state"] == "p"
    needs_page = callback_params(browser.authorize(client_id="picker", prompt="none", state="p"))
    assert needs_page["error"] == "interaction_required"
    clock.now += 120
    assert "code" in callback_params(browser.authorize(max_age="600"))
    stale = browser.authorize(max_age="60")
    assert stale.status_code == 200 and stale.url.path == "/u/login"  # the session is older than max_age
    assert callback_params(browser.authorize(max_age="soon"))["error"] == "invalid_request"


def test_invitation_created_through_the_management_api(live, browser) -> None:
    """The whole loop over HTTP: M2M token, create the invitation, follow its URL's parameters, sign up."""
    _, base = live
    token = httpx2.post(
        base + "/oauth/token",
        data={"grant_type": "client_credentials", "audience": base + "/api/v2/"},
        auth=("m2m", "m2m-secret"),
    ).json()["access_token"]
    api = httpx2.Client(base_url=base + "/api/v2", headers={"authorization": f"Bearer {token}"})
    created = api.post(
        f"/organizations/{ACME}/invitations",
        json={
            "inviter": {"name": "Ann Admin"},
            "invitee": {"email": "api.invitee@new.test"},
            "client_id": "webapp",
            "roles": ["rol_membr00000000001"],
            "send_invitation_email": False,
        },
    )
    assert created.status_code == 200, created.text  # as the seeds document it
    link = parse_qs(urlsplit(created.json()["invitation_url"]).query)
    assert link["organization_name"] == ["acme"]
    # Forward invitation and organization only (organization_name is the app's routing hint).
    verifier, challenge = pkce_pair()
    page = browser.authorize(
        invitation=link["invitation"][0],
        organization=link["organization"][0],
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert page.url.path == "/u/signup"
    params = callback_params(browser.submit({"password": "a good password"}))
    claims = verify_jwt(base, exchange(base, params["code"], verifier).json()["id_token"])
    assert claims["org_id"] == ACME and claims[ROLES_CLAIM] == ["member"]
    members = api.get(f"/organizations/{ACME}/members").json()
    assert claims["sub"] in [m["user_id"] for m in members]
    roles = api.get(f"/organizations/{ACME}/members/{claims['sub']}/roles").json()
    assert [r["name"] for r in roles] == ["member"]
    assert api.get(f"/organizations/{ACME}/invitations/{created.json()['id']}").status_code == 404
    api.close()


def test_repeated_wrong_passwords_lock_the_form_for_that_email(live, browser, clock) -> None:
    _, base = live
    browser.authorize()
    for _ in range(10):
        assert browser.submit({"email": "ann@acme.test", "password": "guess-guess"}).status_code == 400
    locked = browser.submit({"email": "ann@acme.test", "password": PASSWORD})
    assert locked.status_code == 429 and 'data-error="too_many_attempts"' in locked.text
    # Another account from the same address is not affected.
    assert "code" in callback_params(browser.submit({"email": "carl@else.test", "password": PASSWORD}))
    clock.now += 901
    later = Browser(base)
    assert "code" in sign_in(base, later)
    later.close()


def test_empty_parameters_count_as_absent(browser) -> None:
    page = browser.authorize(invitation="", organization=ACME)
    assert page.status_code == 200 and page.url.path == "/u/login"
    required = callback_params(browser.authorize(client_id="required", organization=""))
    assert required["error_description"] == "parameter organization is required for this client"


def test_the_name_the_inviter_typed_is_offered_on_the_sign_up_page_and_kept(live) -> None:
    """orginvite's invite() keeps the invitee's name in the invitation's user_metadata: the sign-up form offers it,
    editable, and the account (and its ID token) carries it instead of the email address."""
    _, base = live
    token = httpx2.post(base + "/oauth/token", data={"grant_type": "client_credentials", "audience": base + "/api/v2/"},
                       auth=("m2m", "m2m-secret")).json()["access_token"]
    api = httpx2.Client(base_url=base + "/api/v2", headers={"authorization": f"Bearer {token}"})

    browsers: list[Browser] = []

    def signup_page(email: str, user_metadata: dict[str, object]) -> tuple[Browser, httpx2.Response, str]:
        created = api.post(f"/organizations/{ACME}/invitations", json={
            "inviter": {"name": "Ann Admin"}, "invitee": {"email": email}, "client_id": "webapp",
            "user_metadata": user_metadata, "send_invitation_email": False})  # fmt: skip
        assert created.status_code == 200, created.text
        link = parse_qs(urlsplit(created.json()["invitation_url"]).query)
        verifier, challenge = pkce_pair()
        browser = Browser(base)  # a browser of its own: no tenant session from the previous sign-up
        browsers.append(browser)
        page = browser.authorize(invitation=link["invitation"][0], organization=ACME, code_challenge=challenge,
                                 code_challenge_method="S256")
        assert page.url.path == "/u/signup"
        return browser, page, verifier

    def signed_up_name(browser: Browser, page_values: dict[str, str], verifier: str) -> str:
        params = callback_params(browser.submit(page_values))
        return verify_jwt(base, exchange(base, params["code"], verifier).json()["id_token"])["name"]

    browser, page, verifier = signup_page("zoe@new.test", {"name": "  Zoé   Martin ", "lang": "fr"})
    form = browser.form()
    assert form.fields["name"] == "Zoé Martin" and "name" not in form.readonly
    assert "Acme Inc.</bdi>." not in page.text  # "join Acme Inc." ends with one full stop
    assert signed_up_name(browser, {"password": "a good password"}, verifier) == "Zoé Martin"
    # the invitee may change it
    browser, _, verifier = signup_page("lou@new.test", {"name": "Lou"})
    assert browser.form().fields["name"] == "Lou"
    edited = {"name": "Louise Lenoir", "password": "a good password"}
    assert signed_up_name(browser, edited, verifier) == "Louise Lenoir"
    # no name, or not a string: an empty field, as before
    for email, metadata in (("nobody@new.test", {}), ("odd@new.test", {"name": ["not", "a", "name"]})):
        browser, _, _ = signup_page(email, metadata)
        assert browser.form().fields["name"] == ""
    api.close()
    for browser in browsers:
        browser.close()
