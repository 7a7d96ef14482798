"""/oauth/token, /userinfo, logout and key rotation over loopback HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, quote, urlsplit

import httpx2
import pytest
from test_auth_support import (
    ACME,
    CALLBACK,
    M2M_SCOPES,
    PASSWORD,
    Browser,
    Clock,
    callback_params,
    exchange,
    make_invitation,
    pkce_pair,
    running,
    sign_in,
    verify_jwt,
)


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


def _code(base: str, browser: Browser, **params: str) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    result = sign_in(base, browser, code_challenge=challenge, code_challenge_method="S256", **params)
    return result["code"], verifier


def test_code_is_single_use_and_a_replay_revokes_its_refresh_token(live, browser) -> None:
    _, base = live
    code, verifier = _code(base, browser, organization=ACME, scope="openid profile email offline_access")
    first = exchange(base, code, verifier)
    assert first.status_code == 200
    refresh = first.json()["refresh_token"]
    replay = exchange(base, code, verifier)
    # Auth0's answers: 403, not RFC 6749's 400 (see token_endpoint's docstring for the sources).
    assert replay.status_code == 403
    assert replay.json() == {"error": "invalid_grant", "error_description": "Invalid authorization code"}
    revoked = httpx2.post(
        base + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh},
        auth=("webapp", "webapp-secret"),
    )
    assert revoked.status_code == 403
    assert revoked.json() == {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}


def test_pkce_is_verified(live, browser) -> None:
    _, base = live
    code, verifier = _code(base, browser)
    wrong = exchange(base, code, verifier[:-2] + ("AA" if not verifier.endswith("AA") else "BB"))
    assert wrong.status_code == 403
    assert wrong.json() == {"error": "invalid_grant", "error_description": "Failed to verify code verifier"}
    # The failed attempt used the code up.
    assert exchange(base, code, verifier).json()["error"] == "invalid_grant"
    code, _ = _code(base, browser)
    missing = exchange(base, code, None)
    assert missing.status_code == 403 and missing.json()["error"] == "invalid_grant"
    plain_code = sign_in(base, browser)["code"]
    unexpected = exchange(base, plain_code, "x" * 43)  # a verifier for a code that had no challenge
    assert unexpected.json()["error"] == "invalid_grant"


def test_redirect_uri_and_client_must_match_the_code(live, browser) -> None:
    _, base = live
    code, verifier = _code(base, browser)
    other = exchange(base, code, verifier, redirect_uri="https://tenant1.app.test/callback")
    assert other.status_code == 403 and other.json()["error"] == "invalid_grant"
    code, verifier = _code(base, browser)
    stolen = exchange(base, code, verifier, client_id="required")
    assert stolen.status_code == 403
    assert stolen.json() == {"error": "invalid_grant", "error_description": "Invalid authorization code"}


def test_codes_expire_after_ten_minutes(live, browser, clock) -> None:
    _, base = live
    code, verifier = _code(base, browser)
    clock.now += 601
    assert exchange(base, code, verifier).json()["error"] == "invalid_grant"


def test_client_authentication(live, browser) -> None:
    _, base = live
    code, verifier = _code(base, browser)
    bad = httpx2.post(
        base + "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier},
        auth=("webapp", "wrong"),
    )
    # Auth0: 401 access_denied "Unauthorized", never RFC 6749's invalid_client.
    assert bad.status_code == 401 and bad.json() == {"error": "access_denied", "error_description": "Unauthorized"}
    assert bad.headers["www-authenticate"].startswith("Basic")
    # client_secret_post works (the failed attempt above did not consume the code: authentication comes first).
    post = httpx2.post(
        base + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
            "client_id": "webapp",
            "client_secret": "webapp-secret",
        },
    )
    assert post.status_code == 200 and "id_token" in post.json()
    for headers, data in [
        ({}, {"grant_type": "client_credentials"}),
        ({"authorization": "Basic !!!"}, {"grant_type": "client_credentials"}),
        ({"authorization": "Bearer x"}, {"grant_type": "client_credentials"}),
        ({}, {"grant_type": "client_credentials", "client_id": "ghost", "client_secret": "x"}),
    ]:
        response = httpx2.post(base + "/oauth/token", data=data, headers=headers)
        assert response.status_code == 401, (headers, data)
        assert response.json() == {"error": "access_denied", "error_description": "Unauthorized"}, (headers, data)
    both = httpx2.post(
        base + "/oauth/token",
        data={"grant_type": "client_credentials", "client_secret": "m2m-secret"},
        auth=("m2m", "m2m-secret"),
    )
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"


def test_malformed_token_requests_get_oauth_errors(live) -> None:
    _, base = live
    url = base + "/oauth/token"
    auth = ("m2m", "m2m-secret")
    cases = [
        (httpx2.post(url, data={}, auth=auth), 400, "invalid_request"),
        (httpx2.post(url, data={"grant_type": "password"}, auth=auth), 400, "unsupported_grant_type"),
        (httpx2.post(url, content=b"{not json", headers={"content-type": "application/json"}), 400, "invalid_request"),
        (
            httpx2.post(
                url, content=b"grant_type=a&grant_type=b", headers={"content-type": "application/x-www-form-urlencoded"}
            ),
            400,
            "invalid_request",
        ),
        (
            httpx2.post(url, content=b"\xff", headers={"content-type": "application/x-www-form-urlencoded"}),
            400,
            "invalid_request",
        ),
        (httpx2.post(url, content=b"x", headers={"content-type": "text/plain"}), 400, "invalid_request"),
        (httpx2.post(url, json=["a"]), 400, "invalid_request"),
        (
            httpx2.post(url, data={"grant_type": "authorization_code"}, auth=("webapp", "webapp-secret")),
            400,
            "invalid_request",
        ),
        (
            httpx2.post(url, data={"grant_type": "authorization_code", "code": "x"}, auth=auth),
            403,
            "unauthorized_client",
        ),
    ]
    for response, status, error in cases:
        assert response.status_code == status and response.json()["error"] == error, response.text
        assert response.json()["error_description"]


def test_refresh_token_grant_keeps_the_organization_and_follows_membership(live, browser) -> None:
    tenant, base = live
    code, verifier = _code(base, browser, organization=ACME, scope="openid email offline_access")
    tokens = exchange(base, code, verifier).json()
    refresh = tokens["refresh_token"]

    def use(**extra: str) -> httpx2.Response:
        return httpx2.post(
            base + "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh, **extra},
            auth=("webapp", "webapp-secret"),
        )

    renewed = use()
    assert renewed.status_code == 200
    claims = verify_jwt(base, renewed.json()["id_token"])
    assert claims["org_id"] == ACME and "nonce" not in claims
    assert "refresh_token" not in renewed.json()  # non-rotating: the same refresh token keeps working
    assert use().status_code == 200
    narrower = use(scope="openid")
    assert narrower.status_code == 200 and narrower.json()["scope"] == "openid"
    wider = use(scope="openid profile")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    other_client = httpx2.post(
        base + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh},
        auth=("required", "required-secret"),
    )
    assert other_client.json()["error"] == "invalid_grant"
    ann = tenant.store.get_user_by_email("ann@acme.test")
    tenant.store.remove_members(ACME, [ann["user_id"]])
    gone = use()
    assert gone.status_code == 403 and gone.json()["error"] == "invalid_grant"
    # No offline_access, no refresh token.
    code, verifier = _code(base, browser)
    assert "refresh_token" not in exchange(base, code, verifier).json()


def test_client_credentials_for_the_management_api(live) -> None:
    _, base = live
    audience = base + "/api/v2/"

    def ask(**data: str) -> httpx2.Response:
        return httpx2.post(
            base + "/oauth/token", data={"grant_type": "client_credentials", **data}, auth=("m2m", "m2m-secret")
        )

    full = ask(audience=audience)
    assert full.status_code == 200
    body = full.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400
    claims = verify_jwt(base, body["access_token"])
    assert claims["sub"] == "m2m@clients" and claims["aud"] == audience and claims["gty"] == "client-credentials"
    assert claims["azp"] == "m2m" and claims["iss"] == base + "/" and claims["exp"] - claims["iat"] == 86400
    assert set(claims["scope"].split()) == set(M2M_SCOPES)
    subset = ask(audience=audience, scope="read:organizations")
    assert verify_jwt(base, subset.json()["access_token"])["scope"] == "read:organizations"
    too_much = ask(audience=audience, scope="read:organizations delete:users")
    assert too_much.status_code == 403 and too_much.json()["error"] == "access_denied"
    assert "delete:users" in too_much.json()["error_description"]
    unknown = ask(audience="https://other.api/")
    assert unknown.status_code == 403 and unknown.json() == {
        "error": "access_denied",
        "error_description": "Service not found: https://other.api/",
    }
    assert ask().status_code == 403
    web = httpx2.post(
        base + "/oauth/token",
        data={"grant_type": "client_credentials", "audience": audience},
        auth=("webapp", "webapp-secret"),
    )
    assert web.status_code == 403 and web.json()["error"] == "unauthorized_client"


def test_client_credentials_with_auth0_python(live) -> None:
    from auth0.authentication import GetToken

    _, base = live
    domain = urlsplit(base).netloc
    token = GetToken(domain, "m2m", client_secret="m2m-secret", protocol="http").client_credentials(base + "/api/v2/")
    assert verify_jwt(base, token["access_token"])["sub"] == "m2m@clients"


def test_userinfo(live, browser, clock) -> None:
    _, base = live
    code, verifier = _code(base, browser, organization=ACME)
    access = exchange(base, code, verifier).json()["access_token"]
    info = httpx2.get(base + "/userinfo", headers={"authorization": f"Bearer {access}"})
    assert info.status_code == 200
    assert info.json()["email"] == "ann@acme.test" and info.json()["name"] == "Ann Admin"
    assert info.json()["org_id"] == ACME
    assert httpx2.post(base + "/userinfo", headers={"authorization": f"Bearer {access}"}).status_code == 200
    m2m = httpx2.post(
        base + "/oauth/token",
        data={"grant_type": "client_credentials", "audience": base + "/api/v2/"},
        auth=("m2m", "m2m-secret"),
    ).json()["access_token"]
    # An access token for an API is a JWT, good at /userinfo too; tampered or unsigned copies are not.
    code, verifier = _code(base, browser, organization=ACME, audience=base + "/api/v2/")
    api_access = exchange(base, code, verifier).json()["access_token"]
    assert httpx2.get(base + "/userinfo", headers={"authorization": f"Bearer {api_access}"}).status_code == 200
    header, payload, signature = api_access.split(".")
    tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
    none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').decode().rstrip("=")
    unsigned = f"{none_header}.{payload}."
    bad = ["", "Bearer", "Bearer nonsense", "Bearer e30.e30.e30", "Bearer %%%.%%%.%%%", f"Bearer {unsigned}"]
    for value in [*bad, f"Basic {access}", f"Bearer {m2m}", f"Bearer {tampered}", f"Bearer {access[:-2]}"]:
        response = httpx2.get(base + "/userinfo", headers={"authorization": value} if value else {})
        assert response.status_code == 401 and "invalid_token" in response.headers["www-authenticate"], value
    clock.now += 86401
    assert httpx2.get(base + "/userinfo", headers={"authorization": f"Bearer {access}"}).status_code == 401
    assert httpx2.get(base + "/userinfo", headers={"authorization": f"Bearer {api_access}"}).status_code == 401


def test_access_tokens_without_an_audience_are_opaque(live, browser) -> None:
    """As on Auth0: no audience, no JWT to decode (FACTS: "never decode it"); only /userinfo understands it."""
    _, base = live
    for extra in ({}, {"audience": base + "/userinfo"}):
        code, verifier = _code(base, browser, organization=ACME, **extra)
        access = exchange(base, code, verifier).json()["access_token"]
        assert "." not in access and len(access) >= 32, extra
        info = httpx2.get(base + "/userinfo", headers={"authorization": f"Bearer {access}"})
        assert info.status_code == 200 and info.json()["org_id"] == ACME
    # The Management API does not take it either.
    refused = httpx2.get(base + "/api/v2/organizations", headers={"authorization": f"Bearer {access}"})
    assert refused.status_code == 401


def test_a_replayed_code_revokes_its_opaque_access_token(live, browser) -> None:
    _, base = live
    code, verifier = _code(base, browser, organization=ACME)
    access = exchange(base, code, verifier).json()["access_token"]
    assert httpx2.get(base + "/userinfo", headers={"authorization": f"Bearer {access}"}).status_code == 200
    assert exchange(base, code, verifier).status_code == 403
    assert httpx2.get(base + "/userinfo", headers={"authorization": f"Bearer {access}"}).status_code == 401


def test_v2_logout_checks_return_to_and_ends_the_session(live, browser) -> None:
    _, base = live
    sign_in(base, browser)
    refused = browser.http.get(f"/v2/logout?client_id=webapp&returnTo={quote('https://evil.test/')}")
    assert refused.status_code == 400 and "location" not in refused.headers
    no_client = browser.http.get(f"/v2/logout?returnTo={quote('http://127.0.0.1:8000/')}")
    assert no_client.status_code == 400 and "location" not in no_client.headers
    # The refused attempts did not sign the user out.
    assert "code" in callback_params(browser.authorize())
    ok = browser.http.get(f"/v2/logout?client_id=webapp&returnTo={quote('http://127.0.0.1:8000/')}")
    assert ok.status_code == 302 and ok.headers["location"] == "http://127.0.0.1:8000/"
    page = browser.authorize()
    assert page.status_code == 200 and page.url.path == "/u/login"  # the SSO session is gone
    wildcard = browser.http.get(f"/v2/logout?client_id=webapp&returnTo={quote('https://acme.app.test/bye')}")
    assert wildcard.status_code == 302
    plain = browser.http.get("/v2/logout")
    assert plain.status_code == 200 and "logged out" in plain.text


def test_v2_logout_matches_the_allow_list_on_the_url_without_its_query(live, browser) -> None:
    """Auth0's "Redirect Users After Logout": query and hash are not taken into account; the path must match."""
    for target in ("http://127.0.0.1:8000/?bye=1&lang=fr", "https://acme.app.test/bye?from=menu#top"):
        response = browser.http.get(f"/v2/logout?client_id=webapp&returnTo={quote(target)}")
        assert response.status_code == 302 and response.headers["location"] == target
    # The path, its trailing slash included, is compared as listed (only the query is left out).
    for target in ("https://acme.app.test/bye/", "https://acme.app.test/bye/?x=1", "http://127.0.0.1:8000/x?y=1"):
        response = browser.http.get(f"/v2/logout?client_id=webapp&returnTo={quote(target)}")
        assert response.status_code == 400 and "location" not in response.headers, target
    # /oidc/logout keeps comparing the whole URL, query included (as Auth0 does).
    oidc = browser.http.get(
        f"/oidc/logout?client_id=webapp&post_logout_redirect_uri={quote('http://127.0.0.1:8000/?bye=1')}"
    )
    assert oidc.status_code == 400 and "location" not in oidc.headers


def test_v2_logout_without_return_to_goes_to_the_first_allowed_logout_url(live, browser) -> None:
    sign_in(live[1], browser)
    response = browser.http.get("/v2/logout?client_id=webapp")
    assert response.status_code == 302 and response.headers["location"] == "http://127.0.0.1:8000/"
    assert browser.authorize().url.path == "/u/login"  # and the session ended
    # A client without Allowed Logout URLs (or an unknown one) still gets the "logged out" page.
    for query in ("client_id=m2m", "client_id=ghost"):
        page = browser.http.get(f"/v2/logout?{query}")
        assert page.status_code == 200 and "location" not in page.headers, query


def test_oidc_logout_with_id_token_hint(live, browser) -> None:
    _, base = live
    code, verifier = _code(base, browser)
    id_token = exchange(base, code, verifier).json()["id_token"]
    target = quote("http://127.0.0.1:8000/")
    ok = browser.http.get(f"/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri={target}&state=xyz")
    assert ok.status_code == 302
    assert parse_qs(urlsplit(ok.headers["location"]).query) == {"state": ["xyz"]}
    assert browser.authorize().url.path == "/u/login"
    bad_hint = browser.http.get(f"/oidc/logout?id_token_hint=abc.def.ghi&post_logout_redirect_uri={target}")
    assert bad_hint.status_code == 400 and "location" not in bad_hint.headers
    mismatch = browser.http.get(
        f"/oidc/logout?id_token_hint={id_token}&client_id=required&post_logout_redirect_uri={target}"
    )
    assert mismatch.status_code == 400
    evil = browser.http.get(f"/oidc/logout?client_id=webapp&post_logout_redirect_uri={quote('https://evil.test/')}")
    assert evil.status_code == 400 and "location" not in evil.headers


def test_key_rotation_signs_with_the_new_key_and_keeps_the_old_one_published(live, browser) -> None:
    tenant, base = live
    code, verifier = _code(base, browser)
    old_token = exchange(base, code, verifier).json()["id_token"]
    old_kid = tenant.keys.current_kid
    new_kid = tenant.keys.rotate()
    assert new_kid != old_kid
    code, verifier = _code(base, browser)
    new_token = exchange(base, code, verifier).json()["id_token"]
    kid_of = lambda token: __import__("json").loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]  # noqa: E731
    assert kid_of(new_token) == new_kid and kid_of(old_token) == old_kid
    jwks = httpx2.get(base + "/.well-known/jwks.json").json()
    assert [k["kid"] for k in jwks["keys"]][:2] == [new_kid, old_kid]
    assert verify_jwt(base, old_token)["aud"] == "webapp"
    assert verify_jwt(base, new_token)["aud"] == "webapp"


def test_login_form_after_logout_needs_the_password_again(live, browser) -> None:
    _, base = live
    sign_in(base, browser)
    browser.http.get("/v2/logout")
    browser.authorize()
    wrong = browser.submit({"email": "ann@acme.test", "password": PASSWORD + "x"})
    assert wrong.status_code == 400


def test_concurrent_exchanges_of_one_code_succeed_once(live, browser) -> None:
    _, base = live
    code, verifier = _code(base, browser)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: exchange(base, code, verifier).status_code, range(8)))
    assert sorted(statuses) == [200] + [403] * 7


def test_concurrent_acceptances_of_one_invitation_succeed_once(live) -> None:
    tenant, base = live
    invitation = make_invitation(tenant, "carl@else.test")
    browsers = [Browser(base) for _ in range(4)]
    for b in browsers:
        assert b.authorize(invitation=invitation["ticket_id"], organization=ACME).url.path == "/u/login"
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda b: callback_params(b.submit({"password": PASSWORD})), browsers))
    assert sum("code" in o for o in outcomes) == 1
    assert all(
        o.get("error_description") == "invitation not found or already used" for o in outcomes if "code" not in o
    )
    carl = tenant.store.get_user_by_email("carl@else.test")
    roles, total = tenant.store.list_member_roles(ACME, carl["user_id"])
    assert total == 1 and roles[0]["name"] == "member"
    for b in browsers:
        b.close()


def test_a_login_form_submitted_twice_at_once_gives_one_code(browser) -> None:
    page = browser.authorize()
    form = browser.form()
    data = {**form.fields, "email": "ann@acme.test", "password": PASSWORD}
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: browser.http.post(str(page.url), data=data), range(6)))
    codes = [r for r in responses if r.status_code == 302 and "code=" in r.headers["location"]]
    assert len(codes) == 1
    assert all(r.status_code == 400 for r in responses if r not in codes)


def test_a_blocked_user_can_neither_sign_in_nor_refresh(live, browser) -> None:
    """PATCH /api/v2/users/{id} {"blocked": true}: Auth0 answers the login with unauthorized "user is blocked"."""
    tenant, base = live
    code, verifier = _code(base, browser, organization=ACME, scope="openid offline_access")
    refresh = exchange(base, code, verifier).json()["refresh_token"]
    ann = tenant.store.get_user_by_email("ann@acme.test")
    tenant.store.update_user(ann["user_id"], {"blocked": True})
    refused = callback_params(browser.authorize(organization=ACME))  # the SSO session does not get around it
    assert refused["error"] == "unauthorized" and refused["error_description"] == "user is blocked"
    renewed = httpx2.post(
        base + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh},
        auth=("webapp", "webapp-secret"),
    )
    assert renewed.status_code == 403 and renewed.json()["error"] == "invalid_grant"
