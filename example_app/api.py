"""Calling your own API as the signed-in member: the workspace's ``/invoices`` and the API it calls.

``/api/invoices`` stands for the app's API (in a real deployment another service): a real bearer-token check,
nothing taken on trust. The token must be an RS256 JWT from the issuer (signature from its JWKS, fetched once and
again on an unknown key), for the API's audience, unexpired, carrying an ``org_id`` and the ``invoices:read``
permission (Auth0 RBAC with "add permissions in the access token"). ``/invoices`` is the page a member opens: it
asks orginvite for a token (``get_access_token``: refreshed when it expires) and calls the API with it over HTTP.
"""

from __future__ import annotations

import time
from typing import Any

import httpx2
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import JSONResponse

from orginvite import OrgUser, ProviderError, SessionExpired, Settings, get_access_token

__all__ = ["InvoiceAPI"]

_JWKS_MIN_REFETCH = 30.0


class InvoiceAPI:
    """The API's side: verify the bearer token, answer the organization's invoices."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.issuer = settings.issuer
        self.audience = settings.audience
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._http: httpx2.AsyncClient | None = None  # the page's client for the API: one pool, made in the app's loop

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def _key_set(self, refresh: bool = False) -> KeySet:
        if self._keys is None or (refresh and time.monotonic() - self._fetched_at > _JWKS_MIN_REFETCH):
            async with httpx2.AsyncClient(timeout=10, trust_env=False) as client:
                document = (await client.get(self.issuer + ".well-known/openid-configuration")).json()
                jwks = (await client.get(document["jwks_uri"])).json()
            self._keys, self._fetched_at = KeySet.import_key_set(jwks), time.monotonic()
        return self._keys

    async def claims(self, authorization: str | None) -> dict[str, Any] | JSONResponse:
        """The verified claims of ``Authorization: Bearer ...``, or the 401/403 answer an API gives."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _refuse(401, "missing_token", "send Authorization: Bearer <access token>")
        try:
            try:
                decoded = jwt.decode(token, await self._key_set(), algorithms=["RS256"])
            except JoseError:  # a key published after our fetch: refetch once (rate-limited), then decide
                decoded = jwt.decode(token, await self._key_set(refresh=True), algorithms=["RS256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError, KeyError, httpx2.HTTPError):
            return _refuse(401, "invalid_token", "the token does not verify for this API")
        claims = decoded.claims
        if not isinstance(claims.get("org_id"), str):
            return _refuse(403, "no_organization", "the token names no organization")
        if "invoices:read" not in (claims.get("permissions") or []):
            return _refuse(403, "insufficient_permission", "invoices:read is required")
        return claims

    async def invoices(self, request: Request) -> JSONResponse:
        claims = await self.claims(request.headers.get("authorization"))
        if isinstance(claims, JSONResponse):
            return claims
        org = claims["org_id"]
        return JSONResponse({"organization": org, "invoices": [
            {"id": f"inv_{org[-4:]}_001", "amount": "1200.00", "currency": "EUR"},
            {"id": f"inv_{org[-4:]}_002", "amount": "340.50", "currency": "EUR"},
        ], "permissions": claims.get("permissions")})


    async def page(self, request: Request) -> JSONResponse:
        """``/invoices``: the member's invoices, fetched from the API with their access token."""
        settings = self.settings
        if not isinstance(request.user, OrgUser):
            return JSONResponse({"error": "not_signed_in"}, status_code=401)
        if settings.audience is None:
            return JSONResponse({"error": "no_api", "error_description": "set ORGINVITE_AUDIENCE"}, status_code=404)
        try:
            token = await get_access_token(request)
        except SessionExpired as exc:
            return JSONResponse({"error": "session_expired", "reason": exc.reason}, status_code=401)
        except ProviderError:
            return JSONResponse({"error": "provider_unavailable"}, status_code=502)
        if self._http is None:
            self._http = httpx2.AsyncClient(timeout=10, trust_env=False)
        try:
            answer = await self._http.get(settings.base_url + "/api/invoices",
                                          headers={"authorization": f"Bearer {token}"})
            body = answer.json()
        except (httpx2.HTTPError, ValueError):
            return JSONResponse({"error": "api_unavailable"}, status_code=502)
        return JSONResponse({"api": settings.audience, "status": answer.status_code, "answer": body},
                            status_code=200 if answer.status_code == 200 else 502)


def _refuse(status: int, error: str, description: str) -> JSONResponse:
    header = f'Bearer error="{"invalid_token" if status == 401 else "insufficient_scope"}"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"www-authenticate": header})
