"""Section 3: the CPU of a callback, the provider stubbed in-process.

``orginvite verify + org check + session`` is what the callback does once the token is in hand: ID token
verification against the cached JWKS (signature, iss, aud, azp, exp, iat, nonce, sub), the organization check and
the session cookie. ``authlib parse_id_token`` is Authlib's Starlette client on the same token and keys (its JWKS
cached from the loopback provider), which verifies the signature and the standard claims only. The full
``/callback`` row is the whole request in-process: transaction cookie, code exchange against a stubbed token
endpoint (an in-process httpx2 transport), verification, session, redirect.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx2

from benchmarks.harness import ASGICall, Case, Section, Target
from benchmarks.login import QUERY, authlib_oauth, orginvite_app
from benchmarks.provider import Provider
from orginvite.login.claims import check_organization
from orginvite.sessions.user import user_from_claims


def _stub_transport(provider: Provider, token: dict[str, str]) -> httpx2.MockTransport:
    def handle(request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx2.Response(200, json=provider.discovery_document)
        if path == "/.well-known/jwks.json":
            return httpx2.Response(200, json=provider.jwks_document)
        if path == "/oauth/token":
            return httpx2.Response(200, json=token)
        return httpx2.Response(404)

    return httpx2.MockTransport(handle)


async def build(provider: Provider) -> Section:
    token: dict[str, str] = {}
    app = orginvite_app(provider, http_client=httpx2.AsyncClient(transport=_stub_transport(provider, token)))
    login = ASGICall(app, "/login", QUERY, expect=302)
    await login()
    location = dict(login.last_headers)[b"location"].decode()
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    cookie = next(v for k, v in login.last_headers if k == b"set-cookie").split(b";")[0]
    id_token = provider.mint(provider.claims(params["nonce"]))
    token.update(id_token=id_token, access_token="at", token_type="Bearer")
    callback = ASGICall(app, "/callback", f"code=c0de&state={params['state']}".encode(),
                        headers=[(b"cookie", cookie)], expect=303)
    oidc, sessions, settings = app.oidc, app.sessions, app.settings
    nonce = params["nonce"]

    async def orginvite_cpu() -> None:
        claims = await oidc.verify_id_token(id_token, nonce=nonce)
        check_organization(claims, "org_" + "A" * 16, require=settings.require_organization)
        sessions.issue(user_from_claims(claims, settings, time.time()))

    oauth = authlib_oauth(provider)
    client = oauth.bench

    async def authlib_parse() -> None:
        await client.parse_id_token({"id_token": id_token, "access_token": "at"}, nonce=nonce)

    cases = [
        Case("authlib parse_id_token", authlib_parse),
        Case("orginvite verify + org check + session", orginvite_cpu),
        Case("orginvite /callback, full request", callback, note="token endpoint stubbed in-process"),
    ]
    return Section(
        key="callback", title="3. Callback CPU", cases=cases, baseline=cases[0].name,
        targets=[Target(cases[1].name, cases[0].name, "speedup", 2.0)],
    )
