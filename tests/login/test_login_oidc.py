from __future__ import annotations

import time

import httpx2
import pytest
from joserfc.jwk import OctKey, RSAKey

from login_support import CLIENT_ID, CLIENT_SECRET, MiniOP, query_of, settings_kwargs
from orginvite.config import Settings
from orginvite.errors import ProviderError, TokenError
from orginvite.login.oidc import OIDCClient, TokenExchangeRejected
from orginvite.testing import LiveServer


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def op():
    provider = MiniOP()
    with LiveServer(provider.app) as server:
        provider.url = server.url + "/"
        yield provider


def client_for(op, clock=None, **kw) -> OIDCClient:
    settings = Settings(**settings_kwargs(op.url, "http://127.0.0.1:8000", **kw))
    return OIDCClient(settings, clock=clock or time.time)


def claims(op, **over):
    now = int(time.time())
    base = {"iss": op.url, "aud": CLIENT_ID, "sub": "auth0|x", "iat": now, "exp": now + 300, "nonce": "n1"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.anyio
async def test_discovery_is_cached_then_refetched_after_ttl(op):
    clock = Clock()
    client = client_for(op, clock, discovery_ttl=100)
    first = await client.discovery()
    await client.discovery()
    assert op.discovery_fetches == 1
    clock.now += 101
    assert await client.discovery() == first
    assert op.discovery_fetches == 2
    # a failing refresh keeps the stale copy rather than breaking every login
    op.discovery_mode = "500"
    clock.now += 101
    assert await client.discovery() == first
    await client.aclose()


@pytest.mark.anyio
async def test_discovery_issuer_mismatch_is_a_provider_error(op):
    op.issuer_override = "https://evil.example/"
    client = client_for(op)
    with pytest.raises(ProviderError, match="issuer does not match"):
        await client.discovery()
    await client.aclose()


@pytest.mark.anyio
async def test_authorize_url_holds_only_the_allow_list(op):
    client = client_for(op, audience="https://api.example", extra_authorize_params={"connection": "db"})
    req = await client.authorization_request(organization="org_" + "a" * 16, invitation="tkt", ui_locales="fr-CA",
                                             prompt="login")
    q = query_of(req.url)
    assert req.url.startswith(op.url + "authorize?")
    assert set(q) == {"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
                      "code_challenge_method", "audience", "organization", "invitation", "ui_locales", "prompt",
                      "connection"}
    assert q["redirect_uri"] == "http://127.0.0.1:8000/callback"
    assert q["code_challenge_method"] == "S256"
    assert q["state"] == req.state and q["nonce"] == req.nonce
    assert q["code_challenge"] != req.code_verifier
    assert "tkt" not in repr(req)
    with pytest.raises(ValueError):
        await client.authorization_request(invitation="tkt")
    await client.aclose()


@pytest.mark.anyio
async def test_exchange_and_verify_round_trip(op):
    client = client_for(op)
    req = await client.authorization_request(organization="org_" + "b" * 16)
    async with httpx2.AsyncClient() as browser:
        hop = await browser.get(req.url)
    code = query_of(hop.headers["location"])["code"]
    tokens = await client.exchange_code(code, req.code_verifier, req.redirect_uri)
    got = await client.verify_id_token(tokens["id_token"], nonce=req.nonce)
    assert got["sub"] == "auth0|alice" and got["org_id"] == "org_" + "b" * 16
    # the code is single-use: a replay is refused by the provider, reported as a rejection (not an outage)
    with pytest.raises(TokenExchangeRejected) as info:
        await client.exchange_code(code, req.code_verifier, req.redirect_uri)
    assert info.value.error == "invalid_grant"
    await client.aclose()


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"nonce": "other"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"aud": "someone-else"}, "aud"),
        ({"aud": [CLIENT_ID, "api"]}, "azp"),
        ({"aud": [CLIENT_ID, "api"], "azp": "api"}, "azp"),
        ({"azp": "other"}, "azp"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"exp": None}, "exp"),
        ({"exp": True}, "exp"),
        ({"iat": int(time.time()) + 3600}, "future"),
        ({"iat": None}, "iat"),
        ({"iss": "https://evil.example/"}, "issuer"),
        ({"sub": None}, "sub"),
        ({"sub": ""}, "sub"),
    ],
)
@pytest.mark.anyio
async def test_claim_checks(op, over, message):
    client = client_for(op)
    await client.discovery()
    token = op.mint(claims(op, **over))
    with pytest.raises(TokenError, match=message):
        await client.verify_id_token(token, nonce="n1")
    await client.aclose()


@pytest.mark.anyio
async def test_leeway_accepts_small_clock_skew(op):
    client = client_for(op, leeway=120)
    await client.discovery()
    now = int(time.time())
    token = op.mint(claims(op, exp=now - 60, iat=now + 60))
    assert (await client.verify_id_token(token, nonce="n1"))["sub"] == "auth0|x"
    await client.aclose()


@pytest.mark.anyio
async def test_algorithm_confusion_is_refused(op):
    client = client_for(op)
    await client.discovery()
    # "none": unsigned token
    import base64
    import json

    def seg(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    unsigned = seg({"alg": "none"}) + "." + seg(claims(op)) + "."
    with pytest.raises(TokenError, match="algorithm"):
        await client.verify_id_token(unsigned, nonce="n1")
    # HS256 with the client secret (listed in discovery) is refused unless configured
    hs = op.mint(claims(op), {"alg": "HS256", "kid": None}, OctKey.import_key(CLIENT_SECRET))
    with pytest.raises(TokenError, match="algorithm"):
        await client.verify_id_token(hs, nonce="n1")
    allowed = client_for(op, allow_symmetric_id_tokens=True)
    assert (await allowed.verify_id_token(hs, nonce="n1"))["sub"] == "auth0|x"
    for junk in ("", "a.b", "a.b.c", "x" * 20000, seg([1]) + ".e30.sig"):
        with pytest.raises(TokenError):
            await client.verify_id_token(junk, nonce="n1")
    await client.aclose()
    await allowed.aclose()


@pytest.mark.anyio
async def test_foreign_key_with_a_known_kid_fails_the_signature(op):
    client = client_for(op)
    await client.discovery()
    forged = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    with pytest.raises(TokenError, match="signature"):
        await client.verify_id_token(op.mint(claims(op), key=forged), nonce="n1")
    await client.aclose()


@pytest.mark.anyio
async def test_jwks_rotation_one_refetch_and_rate_limit(op):
    clock = Clock()
    client = client_for(op, clock)
    assert await client.verify_id_token(op.mint(claims(op)), nonce="n1")
    assert op.jwks_fetches == 1
    clock.now += 31
    op.rotate()
    assert await client.verify_id_token(op.mint(claims(op)), nonce="n1")  # unknown kid -> one refetch
    assert op.jwks_fetches == 2
    assert await client.verify_id_token(op.mint(claims(op)), nonce="n1")  # cached now
    assert op.jwks_fetches == 2
    # tokens with unknown kids cannot make us hammer the provider: refetch at most once per interval
    stranger = RSAKey.generate_key(2048, parameters={"kid": "nobody"})
    for _ in range(3):
        with pytest.raises(TokenError, match="does not publish"):
            await client.verify_id_token(op.mint(claims(op), key=stranger), nonce="n1")
    assert op.jwks_fetches == 2
    clock.now += 31
    with pytest.raises(TokenError, match="does not publish"):
        await client.verify_id_token(op.mint(claims(op), key=stranger), nonce="n1")
    assert op.jwks_fetches == 3
    await client.aclose()


@pytest.mark.parametrize("mode", ["500", "garbage", "array", "sleep"])
@pytest.mark.anyio
async def test_provider_outages_are_provider_errors(op, mode):
    # 1 s: room for the answers that must arrive under load; "sleep" outlasts it (MiniOP.sleep, 3 s)
    client = client_for(op, http_timeout=1.0)
    op.discovery_mode = mode
    with pytest.raises(ProviderError):
        await client.authorization_request()
    op.discovery_mode = "ok"
    req = await client.authorization_request()
    op.token_mode = mode
    with pytest.raises(ProviderError):
        await client.exchange_code("c", req.code_verifier, req.redirect_uri)
    op.token_mode = "ok"
    op.jwks_mode = mode
    with pytest.raises(ProviderError):
        await client.verify_id_token(op.mint(claims(op)), nonce="n1")
    await client.aclose()


@pytest.mark.anyio
async def test_missing_id_token_and_stopped_server(op):
    client = client_for(op)
    req = await client.authorization_request()
    async with httpx2.AsyncClient() as browser:
        code = query_of((await browser.get(req.url)).headers["location"])["code"]
    op.token_mode = "no_id_token"
    with pytest.raises(ProviderError, match="no ID token"):
        await client.exchange_code(code, req.code_verifier, req.redirect_uri)
    await client.aclose()
    provider = MiniOP()
    server = LiveServer(provider.app).start()
    url = server.url + "/"
    server.stop()
    dead = OIDCClient(Settings(**settings_kwargs(url, "http://127.0.0.1:8000")))
    with pytest.raises(ProviderError, match="cannot reach"):
        await dead.discovery()
    await dead.aclose()


@pytest.mark.anyio
async def test_logout_urls(op):
    client = client_for(op)
    url = await client.end_session_url("http://127.0.0.1:8000/")
    assert url.startswith(op.url + "oidc/logout?")
    assert query_of(url) == {"client_id": CLIENT_ID, "post_logout_redirect_uri": "http://127.0.0.1:8000/"}
    auth0 = client_for(op, logout_style="auth0")
    url = await auth0.end_session_url("http://127.0.0.1:8000/")
    assert url.startswith(op.url + "v2/logout?")
    assert query_of(url) == {"client_id": CLIENT_ID, "returnTo": "http://127.0.0.1:8000/"}
    local = client_for(op, logout_style="local")
    assert await local.end_session_url("x") is None
    op.end_session = False
    without = client_for(op)
    assert await without.end_session_url("x") is None
    for each in (client, auth0, local, without):
        await each.aclose()


@pytest.mark.anyio
async def test_jwks_refresh_with_stale_discovery_does_not_deadlock(op):
    import anyio

    clock = Clock()
    client = client_for(op, clock, discovery_ttl=10)
    assert await client.verify_id_token(op.mint(claims(op)), nonce="n1")
    clock.now += 60  # discovery and the JWKS rate limit are both due
    op.rotate()
    with anyio.fail_after(5):
        assert await client.verify_id_token(op.mint(claims(op)), nonce="n1")
    assert op.discovery_fetches == 2 and op.jwks_fetches == 2
    await client.aclose()
