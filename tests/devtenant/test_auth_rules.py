"""The pure decisions behind /authorize and /oauth/token: callback matching, PKCE, organization parameter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orginvite.devtenant.authorize_rules import (
    AuthorizeError,
    add_query,
    callback_allowed,
    check_organization_parameter,
    parse_single_valued,
    pkce_s256,
    valid_code_challenge,
    verify_pkce,
)
from orginvite.devtenant.token_claims import client_credentials_claims, id_token_claims

ALLOWED = ["http://127.0.0.1:8000/callback", "https://*.example.com/callback"]


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1:8000/callback", "https://acme.example.com/callback", "https://a-1.example.com/callback"],
)
def test_callbacks_that_match(uri: str) -> None:
    assert callback_allowed(uri, ALLOWED)


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:8000/callback/",  # trailing slash: exact means exact
        "http://127.0.0.1:8000/callback?x=1",
        "http://127.0.0.1:8001/callback",
        "http://localhost:8000/callback",
        "https://a.b.example.com/callback",  # the wildcard matches one label only
        "https://example.com/callback",
        "http://acme.example.com/callback",  # scheme differs
        "https://acme.example.com/callback2",
        "https://acme.example.com:444/callback",
        "https://evil.com#.example.com/callback",
        "https://user@acme.example.com/callback",
        "https://acme.example.com.evil.com/callback",
        "https://-bad.example.com/callback",
        "javascript:alert(1)",
        "",
        "http://127.0.0.1:8000/callback#frag",
        "http://127.0.0.1:99999/callback",
    ],
)
def test_callbacks_that_do_not_match(uri: str) -> None:
    assert not callback_allowed(uri, ALLOWED)


def test_wildcard_only_as_the_leftmost_label_and_never_over_a_tld() -> None:
    assert not callback_allowed("https://acme.com/cb", ["https://*.com/cb"])
    assert not callback_allowed("https://a.example.com/cb", ["https://a*.example.com/cb"])
    assert not callback_allowed("https://a.example.com/x", ["https://*.example.com/*"])


@given(st.text(max_size=60))
def test_callback_matching_never_raises(uri: str) -> None:
    assert callback_allowed(uri, ALLOWED) in (True, False)


def test_pkce_round_trip_and_rfc_7636_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert verify_pkce(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert not verify_pkce(verifier[:-1] + "Y", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert not verify_pkce(None, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert not verify_pkce("short", pkce_s256("short"))  # below 43 characters
    assert verify_pkce(None, None)
    assert not verify_pkce(verifier, None)  # a verifier for a code that had no challenge
    assert valid_code_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert not valid_code_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c=")


def test_organization_parameter_rules() -> None:
    ok = {"usage": "allow", "require_behavior": "no_prompt", "names_allowed": True}
    assert check_organization_parameter("org_abcdefghijklmnop", **ok) == ("id", "org_abcdefghijklmnop")
    assert check_organization_parameter("Acme", **ok) == ("name", "acme")
    assert check_organization_parameter(None, **ok) is None
    with pytest.raises(AuthorizeError) as names_off:
        check_organization_parameter("acme", usage="allow", require_behavior="no_prompt", names_allowed=False)
    assert names_off.value.description == "authorization request parameter organization must be an organization id"
    with pytest.raises(AuthorizeError) as required:
        check_organization_parameter(None, usage="require", require_behavior="no_prompt", names_allowed=True)
    assert (required.value.error, required.value.description) == (
        "invalid_request",
        "parameter organization is required for this client",
    )
    assert (
        check_organization_parameter(None, usage="require", require_behavior="pre_login_prompt", names_allowed=True)
        is None
    )
    with pytest.raises(AuthorizeError):
        check_organization_parameter(
            "org_abcdefghijklmnop", usage="deny", require_behavior="no_prompt", names_allowed=True
        )
    with pytest.raises(AuthorizeError):
        check_organization_parameter("Acme Inc.", **ok)  # a display name is never an organization


def test_repeated_parameters_are_reported_not_resolved() -> None:
    values, repeated = parse_single_valued(
        [("organization", "a"), ("organization", "b"), ("state", "s"), ("other", "x"), ("other", "y")],
        ("organization", "state"),
    )
    assert repeated == ["organization"]
    assert "other" not in values


def test_add_query_keeps_existing_parameters_and_encodes() -> None:
    assert (
        add_query("https://app.test/cb?x=1", {"code": "a b&c", "state": None}) == "https://app.test/cb?x=1&code=a+b%26c"
    )


def test_id_token_claims_carry_the_organization_and_lowercase_name() -> None:
    user = {"user_id": "auth0|1", "email": "ann@acme.test", "email_verified": True, "name": "Ann", "updated_at": "x"}
    org = {"id": "org_abcdefghijklmnop", "name": "Acme"}
    claims = id_token_claims(
        issuer="http://t/",
        client_id="c",
        user=user,
        scopes=["openid", "profile", "email"],
        now=1000,
        auth_time=990,
        sid="s",
        nonce="n",
        organization=org,
        include_org_name=True,
        roles_claim="https://x/roles",
        role_names=["admin"],
    )
    assert claims["org_id"] == "org_abcdefghijklmnop" and claims["org_name"] == "acme"
    assert claims["https://x/roles"] == ["admin"] and claims["exp"] == 1000 + 36000
    assert claims["nonce"] == "n" and claims["email"] == "ann@acme.test" and claims["aud"] == "c"
    bare = id_token_claims(issuer="http://t/", client_id="c", user=user, scopes=["openid"], now=1, auth_time=1, sid="s")
    assert "org_id" not in bare and "org_name" not in bare and "nonce" not in bare and "email" not in bare


def test_client_credentials_claims_follow_the_contract() -> None:
    claims = client_credentials_claims(
        issuer="http://t/", client_id="m2m", audience="http://t/api/v2/", scopes=["a", "b"], now=5
    )
    assert claims == {
        "iss": "http://t/",
        "sub": "m2m@clients",
        "aud": "http://t/api/v2/",
        "iat": 5,
        "exp": 5 + 86400,
        "scope": "a b",
        "gty": "client-credentials",
        "azp": "m2m",
    }
