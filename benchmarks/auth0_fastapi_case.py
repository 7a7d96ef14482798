"""auth0-fastapi's ``/auth/login`` (the Auth0 FastAPI SDK), set up as its README shows, for section 1.

It always fetches discovery from ``https://{domain}``, which a loopback provider cannot serve without a trusted
certificate, so its discovery cache is seeded with the provider's document (the state it is in after its first
login in production). Everything else is the SDK's own code path.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from benchmarks.harness import BROWSER_HEADERS, ASGICall
from benchmarks.provider import CLIENT_ID, CLIENT_SECRET, ORG_ID, SECRET_KEY, TICKET, Provider

DOMAIN = "bench.auth0.test"


def build(provider: Provider, base_url: str) -> tuple[Any, str | None]:
    from auth0_fastapi.auth.auth_client import AuthClient
    from auth0_fastapi.config import Auth0Config
    from auth0_fastapi.server.routes import register_auth_routes, router
    from fastapi import FastAPI

    config = Auth0Config(domain=DOMAIN, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, app_base_url=base_url,
                         secret=SECRET_KEY)
    app = FastAPI()
    app.state.config = config
    app.state.auth_client = client = AuthClient(config)
    register_auth_routes(router, config)
    app.include_router(router)
    document = dict(provider.discovery_document)
    document["authorization_endpoint"] = f"https://{DOMAIN}/authorize"
    client.client._discovery_cache[DOMAIN] = {"metadata": document, "jwks": None, "expires_at": time.time() + 1e9}
    query = urlencode({"organization": ORG_ID, "invitation": TICKET}).encode()
    return ASGICall(app, "/auth/login", query, BROWSER_HEADERS, expect=307), None
