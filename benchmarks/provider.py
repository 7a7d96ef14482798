"""A minimal OpenID provider for the benchmarks: discovery, JWKS, token minting, and the few Management API answers
the preflight and revalidation ask for (counted in ``management_calls``).

Served on loopback (``orginvite.testing.LiveServer``) so that Authlib and orginvite both fetch discovery the way
they do in production, over HTTP, and then cache it; no traffic leaves 127.0.0.1.
"""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orginvite.testing import LiveServer

CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-client-secret"
SECRET_KEY = "k" * 40
ORG_ID = "org_" + "A" * 16
TICKET = "bench-ticket-" + "t" * 20


class Provider:
    """Discovery and JWKS over loopback; ``mint`` signs an ID token with the published key."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "bench-1", "alg": "RS256", "use": "sig"})
        self.app = Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/.well-known/jwks.json", self.jwks),
            # the few Management API answers the invitation preflight asks for (one pending invitation)
            Route("/oauth/token", self.m2m_token, methods=["POST"]),
            Route("/api/v2/organizations/{org_id}/invitations", self.invitations),
            Route("/api/v2/users-by-email", self.users_by_email),
            # and the two that revalidation asks (the user's organizations, their roles in one)
            Route("/api/v2/users/{user_id}/organizations", self.user_organizations),
            Route("/api/v2/organizations/{org_id}/members/{user_id}/roles", self.member_roles),
        ])
        self.management_calls: dict[str, int] = {}
        self.server = LiveServer(self.app)
        self.issuer = ""

    def start(self) -> Provider:
        self.server.start()
        self.issuer = self.server.url + "/"
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def discovery_document(self) -> dict[str, Any]:
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": base + "authorize",
            "token_endpoint": base + "oauth/token",
            "jwks_uri": base + ".well-known/jwks.json",
            "end_session_endpoint": base + "oidc/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }

    @property
    def jwks_document(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    async def discovery(self, request: Request) -> JSONResponse:
        return JSONResponse(self.discovery_document)

    async def jwks(self, request: Request) -> JSONResponse:
        return JSONResponse(self.jwks_document)

    def _count(self, what: str) -> None:
        self.management_calls[what] = self.management_calls.get(what, 0) + 1

    async def m2m_token(self, request: Request) -> JSONResponse:
        self._count("token")
        return JSONResponse({"access_token": "bench-m2m-token", "token_type": "Bearer", "expires_in": 86400,
                             "scope": "read:organization_invitations read:users"})

    async def invitations(self, request: Request) -> JSONResponse:
        self._count("invitations page")
        org_id = request.path_params["org_id"]
        if request.query_params.get("page", "0") != "0":
            return JSONResponse([])
        return JSONResponse([{
            "id": "uinv_" + "B" * 16, "organization_id": org_id, "inviter": {"name": "Ann"},
            "invitee": {"email": "bench@acme.test"}, "client_id": CLIENT_ID, "ticket_id": TICKET,
            "user_metadata": {"lang": "fr"}, "created_at": "2026-12-01T00:00:00.000Z",
            "expires_at": "2026-12-08T00:00:00.000Z",
        }])

    async def users_by_email(self, request: Request) -> JSONResponse:
        self._count("users-by-email")
        return JSONResponse([])

    async def user_organizations(self, request: Request) -> JSONResponse:
        self._count("users/{id}/organizations")
        return JSONResponse({"organizations": [{"id": ORG_ID, "name": "acme", "display_name": "Acme Inc."}],
                             "start": 0, "limit": 100, "total": 1})

    async def member_roles(self, request: Request) -> JSONResponse:
        self._count("organizations/{org}/members/{id}/roles")
        return JSONResponse({"roles": [{"id": "rol_" + "C" * 16, "name": "admin"},
                                       {"id": "rol_" + "D" * 16, "name": "member"}],
                             "start": 0, "limit": 100, "total": 2})

    def claims(self, nonce: str, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.issuer, "aud": CLIENT_ID, "azp": CLIENT_ID, "iat": now, "exp": now + 3600,
            "nonce": nonce, "sub": "auth0|bench-user", "email": "bench@acme.test", "email_verified": True,
            "name": "Bench User", "org_id": ORG_ID, "org_name": "acme", **extra,
        }

    def mint(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": "RS256", "kid": self.key.kid, "typ": "JWT"}, claims, self.key,
                          algorithms=["RS256"])
