"""A tiny, scriptable OpenID Connect provider for the login tests, plus HTTP helpers.

The dev tenant is the realistic provider; this one exists to misbehave on demand: mint tokens with wrong claims,
answer 500, garbage or slowly (``sleep``: longer than any client timeout, until the client hangs up), rotate keys,
send ``error=`` back. It runs over real loopback HTTP (LiveServer).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "test-client"
CLIENT_SECRET = "test-client-secret"
KEY_A = "a" * 40
KEY_B = "b" * 40


class MiniOP:
    """Behaviour knobs (plain attributes, change them between requests):

    - ``discovery_mode`` / ``token_mode`` / ``jwks_mode``: "ok", "500", "garbage", "sleep", "array"
      (token: also "no_id_token", "refused").
    - ``claims``: extra/overriding claims for the next ID tokens (a None value removes the claim).
    - ``header``: overriding JOSE header fields (e.g. {"alg": "HS256"}); ``sign_with``: a key not in the JWKS.
    - ``authorize_error``: (error, description) to send back instead of a code.
    - ``user``: the claims of the signed-in user.
    - Tokens: an access token per login (a JWT for the requested ``audience``, else opaque) living ``access_ttl``
      seconds, and with ``offline_access`` a refresh token, rotated on every refresh (``refresh_requests`` counts
      them; ``refresh_mode``: "ok", "invalid_grant", "500", "sleep"; ``refresh_claims`` overrides the refreshed
      ID token's claims, e.g. another ``org_id``). A rotated-away refresh token is refused (no reuse leeway).
    """

    def __init__(self) -> None:
        self.issuer = ""
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})]
        self.discovery_mode = "ok"
        self.token_mode = "ok"
        self.jwks_mode = "ok"
        self.sleep = 3.0
        self.claims: dict[str, Any] = {}
        self.header: dict[str, Any] = {}
        self.sign_with: Any = None
        self.authorize_error: tuple[str, str] | None = None
        self.user: dict[str, Any] = {"sub": "auth0|alice", "email": "alice@acme.test", "name": "Alice"}
        self.codes: dict[str, dict[str, Any]] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests = 0
        self.refresh_requests = 0
        self.refresh_mode = "ok"
        self.refresh_claims: dict[str, Any] = {}
        self.access_ttl = 600
        self.refresh_tokens: dict[str, dict[str, Any]] = {}  # live refresh token -> what it was issued for
        self.refresh_delay = 0.0
        self.access_claims: dict[str, Any] = {}  # extra claims of the API access tokens (e.g. padding)
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        self.end_session = True
        self.issuer_override: str | None = None
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/.well-known/jwks.json", self.jwks),
                Route("/authorize", self.authorize),
                Route("/oauth/token", self.token, methods=["POST"]),
            ]
        )

    def rotate(self) -> str:
        kid = f"k{len(self.keys) + 1}"
        self.keys.insert(0, RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"}))
        return kid

    async def _misbehave(self, mode: str, request: Request) -> Response | None:
        if mode == "500":
            return PlainTextResponse("boom", status_code=500)
        if mode == "garbage":
            return Response("<html>not json</html>", media_type="text/html")
        if mode == "array":
            return JSONResponse([1, 2, 3])
        if mode == "sleep":
            # Slower than any client timeout, yet done as soon as the client gives up: no task outlives the test.
            deadline = time.monotonic() + self.sleep
            while time.monotonic() < deadline and not await request.is_disconnected():
                await asyncio.sleep(0.02)
            return JSONResponse({})
        return None

    async def discovery(self, request: Request) -> Response:
        self.discovery_fetches += 1
        if (bad := await self._misbehave(self.discovery_mode, request)) is not None:
            return bad
        base = str(request.base_url)
        self.issuer = base
        doc = {
            "issuer": self.issuer_override or base,
            "authorization_endpoint": base + "authorize",
            "token_endpoint": base + "oauth/token",
            "jwks_uri": base + ".well-known/jwks.json",
            "id_token_signing_alg_values_supported": ["RS256", "HS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }
        if self.end_session:
            doc["end_session_endpoint"] = base + "oidc/logout"
        return JSONResponse(doc)

    async def jwks(self, request: Request) -> Response:
        self.jwks_fetches += 1
        if (bad := await self._misbehave(self.jwks_mode, request)) is not None:
            return bad
        return JSONResponse({"keys": [k.as_dict(private=False) for k in self.keys]})

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        redirect = params["redirect_uri"]
        if self.authorize_error is not None:
            error, description = self.authorize_error
            query = {"error": error, "error_description": description, "state": params["state"]}
            return RedirectResponse(redirect + "?" + urlencode(query), status_code=302)
        code = secrets.token_urlsafe(16)
        self.codes[code] = params
        return RedirectResponse(redirect + "?" + urlencode({"code": code, "state": params["state"]}), status_code=302)

    def mint(self, claims: dict[str, Any], header: dict[str, Any] | None = None, key: Any = None) -> str:
        key = key or self.keys[0]
        head = {"alg": "RS256", "kid": key.kid, "typ": "JWT", **(header or {})}
        head = {k: v for k, v in head.items() if v is not None}
        return jwt.encode(head, claims, key, algorithms=[head["alg"]])

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") == "refresh_token":
            return await self._refresh(request, form)
        if (bad := await self._misbehave(self.token_mode, request)) is not None:
            return bad
        params = self.codes.pop(str(form.get("code")), None)
        if self.token_mode == "refused" or params is None:
            # Auth0's statuses: 403 invalid_grant, 401 access_denied "Unauthorized" (not RFC 6749's 400/401).
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Invalid authorization code"}, status_code=403
            )
        if form.get("client_secret") != CLIENT_SECRET or form.get("client_id") != CLIENT_ID:
            return JSONResponse({"error": "access_denied", "error_description": "Unauthorized"}, status_code=401)
        verifier = str(form.get("code_verifier"))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != params.get("code_challenge") or form.get("redirect_uri") != params["redirect_uri"]:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Failed to verify code verifier"}, status_code=403
            )
        if self.token_mode == "no_id_token":
            return JSONResponse({"access_token": "x", "token_type": "Bearer"})
        claims = self._id_claims(params, nonce=params.get("nonce"))
        claims.update(self.claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.sign_with
        if self.header.get("alg") == "HS256":
            key = OctKey.import_key(CLIENT_SECRET)
        answer = {"id_token": self.mint(claims, self.header, key), "token_type": "Bearer",
                  **self._access(params, claims, params.get("audience"))}
        if "offline_access" in str(params.get("scope", "")).split():
            answer["refresh_token"] = self._new_refresh(params, claims)
        return JSONResponse(answer)

    def _id_claims(self, params: dict[str, Any], *, nonce: str | None) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "aud": CLIENT_ID, "azp": CLIENT_ID, "iat": now,
                                  "exp": now + 600, "nonce": nonce, "sid": "sid-" + str(params.get("state", ""))[:8],
                                  **self.user}
        if params.get("organization"):
            org = params["organization"]
            if org.startswith("org_"):
                claims["org_id"] = org
            else:
                claims["org_id"] = "org_" + "X" * 16
                claims["org_name"] = org
        return claims

    def _access(self, params: dict[str, Any], claims: dict[str, Any], audience: str | None) -> dict[str, Any]:
        now = int(time.time())
        if audience:
            body = {"iss": self.issuer, "sub": claims["sub"], "aud": [audience, self.issuer + "userinfo"],
                    "azp": CLIENT_ID, "iat": now, "exp": now + self.access_ttl, "scope": params.get("scope"),
                    "jti": secrets.token_hex(8), **self.access_claims}
            for name in ("org_id", "org_name"):
                if claims.get(name):
                    body[name] = claims[name]
            token = self.mint(body)
        else:
            token = "opaque-" + secrets.token_urlsafe(24)
        return {"access_token": token, "expires_in": self.access_ttl, "scope": params.get("scope")}

    def _new_refresh(self, params: dict[str, Any], claims: dict[str, Any]) -> str:
        token = "rt-" + secrets.token_urlsafe(24)
        self.refresh_tokens[token] = {"params": params, "claims": claims}
        return token

    async def _refresh(self, request: Request, form: dict[str, str]) -> Response:
        self.refresh_requests += 1
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        if (bad := await self._misbehave(self.refresh_mode, request)) is not None:
            return bad
        if form.get("client_secret") != CLIENT_SECRET or form.get("client_id") != CLIENT_ID:
            return JSONResponse({"error": "access_denied", "error_description": "Unauthorized"}, status_code=401)
        grant = self.refresh_tokens.pop(str(form.get("refresh_token")), None)
        if self.refresh_mode == "invalid_grant" or grant is None:
            return JSONResponse({"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."},
                                status_code=403)
        params, claims = grant["params"], {**grant["claims"], **self.refresh_claims}
        fresh = self._id_claims(params, nonce=None)
        fresh.update({k: v for k, v in claims.items() if k in ("org_id", "org_name", "sub")})
        fresh = {k: v for k, v in fresh.items() if v is not None}
        audience = form.get("audience") or params.get("audience")
        return JSONResponse({"id_token": self.mint(fresh), "token_type": "Bearer",
                             **self._access(params, fresh, audience),
                             "refresh_token": self._new_refresh(params, grant["claims"])})


def cookie_jar(client: httpx2.Client) -> dict[str, str]:
    return {c.name: c.value for c in client.cookies.jar}


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def settings_kwargs(issuer: str, base_url: str, **kw: Any) -> dict[str, Any]:
    values = dict(
        issuer=issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        secret_keys=(KEY_A,),
        base_url=base_url,
    )
    values.update(kw)
    return values


def decode_segment(token: str, index: int) -> dict[str, Any]:
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def import_example_app() -> Any:
    """Import example_app.minimal (its module-level ``app`` reads the environment) with a throwaway environment."""
    import importlib
    import os
    import sys

    if "example_app.minimal" in sys.modules:
        return sys.modules["example_app.minimal"]
    env = {
        "ORGINVITE_ISSUER": "http://127.0.0.1:9/",
        "ORGINVITE_CLIENT_ID": "import-only",
        "ORGINVITE_CLIENT_SECRET": "import-only",
        "ORGINVITE_SECRET_KEYS": "i" * 32,
        "ORGINVITE_BASE_URL": "http://127.0.0.1:9",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return importlib.import_module("example_app.minimal")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Browser:
    """An httpx2 client that follows redirects by hand, so tests can assert each hop."""

    def __init__(self, **kw: Any) -> None:
        self.client = httpx2.Client(follow_redirects=False, timeout=10, **kw)

    def get(self, url: str, **kw: Any) -> httpx2.Response:
        return self.client.get(url, **kw)

    def post(self, url: str, **kw: Any) -> httpx2.Response:
        return self.client.post(url, **kw)

    def follow(self, response: httpx2.Response, limit: int = 10) -> list[httpx2.Response]:
        hops = [response]
        while response.status_code in (301, 302, 303, 307) and limit:
            location = response.headers["location"]
            url = httpx2.URL(str(response.url)).join(location)
            response = self.client.get(url)
            hops.append(response)
            limit -= 1
        return hops

    def cookie_names(self) -> set[str]:
        return {c.name for c in self.client.cookies.jar}

    def cookie(self, prefix: str) -> dict[str, str]:
        return {c.name: c.value for c in self.client.cookies.jar if c.name.startswith(prefix)}

    def close(self) -> None:
        self.client.close()


class FrozenClock:
    """A clock the test moves by hand (``clock.now += 601``), for cookie and session expiry."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def unit_settings(base: str = "http://127.0.0.1:8000", **kw: Any) -> Any:
    """Settings for unit tests that never talk to the issuer."""
    from orginvite.config import Settings

    return Settings(**settings_kwargs("https://id.example.com/", base, **kw))


@contextmanager
def example_app_against(op: MiniOP) -> Iterator[tuple[str, Browser, Any]]:
    """``op`` and example_app.minimal (configured against it) served on loopback: the app's URL, a Browser and
    the app's Settings."""
    from loopback_support import Holder
    from orginvite.config import Settings
    from orginvite.testing import LiveServer

    holder = Holder()
    with LiveServer(op.app) as op_server, LiveServer(holder) as app_server:
        settings = Settings(**settings_kwargs(op_server.url + "/", app_server.url))
        holder.inner = import_example_app().create_app(settings)
        browser = Browser()
        try:
            yield app_server.url, browser, settings
        finally:
            browser.close()


def sign_in_at_op(browser: Browser, url: str) -> httpx2.Response:
    """``/login``, the provider's ``/authorize`` (which signs in at once), then the app's callback: its answer."""
    login = browser.get(url + "/login")
    assert login.status_code == 302, login.text[:300]
    at_op = browser.get(login.headers["location"])
    return browser.get(at_op.headers["location"])


def sign_out(client: httpx2.Client, logout_url: str, **kw: Any) -> httpx2.Response:
    """Sign out as a user does: ``GET /logout`` (the page with the button), then POST its form and CSRF token."""
    import re
    from html import unescape
    from urllib.parse import urljoin

    page = client.get(logout_url, **kw)
    assert page.status_code == 200, page.text[:300]
    action = unescape(re.search(r'<form method="post" action="([^"]*)"', page.text).group(1))
    token = unescape(re.search(r'name="csrf_token" value="([^"]*)"', page.text).group(1))
    return client.post(urljoin(str(page.url), action), data={"csrf_token": token})
