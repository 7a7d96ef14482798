"""Calling your own API as the signed-in member: the workspace's ``/invoices`` and the API it calls.

``/api/invoices`` stands for the app's API (in a real deployment another service): a real bearer-token check,
nothing taken on trust. The token must be an RS256 JWT from the issuer (signature from its JWKS, fetched once and
again on an unknown key), for the API's audience, unexpired, carrying an ``org_id`` and the ``invoices:read``
permission (Auth0 RBAC with "add permissions in the access token"). ``/invoices`` is the page a member opens, behind
orginvite's permission guard (each app applies it in its idiom): it asks orginvite for a token
(``get_access_token``: refreshed when it expires), calls the API with it over HTTP and shows the answer as a page
of the workspace, or as JSON to a client that asks for JSON. What the API answers is untrusted data to the page:
checked for shape, escaped by the template.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx2
from babel.numbers import format_currency
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from example_app.core import INVOICES_READ, _, wants_json
from orginvite import ProviderError, SessionExpired, Settings, get_access_token
from orginvite.i18n.translations import current_locale

__all__ = ["InvoiceAPI", "InvoiceRow", "demo_ledger"]

#: The app's page function (``render(request, template, status, **context)``): each front-end has its own.
Render = Callable[..., Awaitable[Response]]
Ledger = Callable[[str], Sequence[Mapping[str, str]]]

_JWKS_MIN_REFETCH = 30.0


def demo_ledger(org_id: str) -> list[dict[str, str]]:
    """Two invoices per organization, named after its ID: what the demo's API answers."""
    tail = org_id[-4:]
    return [{"id": f"inv_{tail}_001", "amount": "1200.00", "currency": "EUR"},
            {"id": f"inv_{tail}_002", "amount": "340.50", "currency": "EUR"}]


@dataclass(frozen=True)
class InvoiceRow:
    """One invoice as the page shows it: its amount formatted for the page's locale."""

    id: str
    amount: str


class InvoiceAPI:
    """The API's side (verify the bearer token, answer the organization's invoices from ``ledger``) and the page
    that calls it."""

    def __init__(self, settings: Settings, ledger: Ledger = demo_ledger) -> None:
        self.settings = settings
        self.ledger = ledger
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
        if INVOICES_READ not in (claims.get("permissions") or []):
            return _refuse(403, "insufficient_permission", f"{INVOICES_READ} is required")
        return claims

    async def invoices(self, request: Request) -> JSONResponse:
        claims = await self.claims(request.headers.get("authorization"))
        if isinstance(claims, JSONResponse):
            return claims
        org = claims["org_id"]
        return JSONResponse({"organization": org, "invoices": list(self.ledger(org)),
                             "permissions": claims.get("permissions")})

    @property
    def configured(self) -> bool:
        """Whether the login asks for the API's tokens (``ORGINVITE_AUDIENCE``): without, /invoices has nothing
        to call."""
        return self.audience is not None

    async def not_configured(self, request: Request, render: Render) -> Response:
        """``/invoices`` of a workspace whose login asks for no API audience."""
        if wants_json(request):
            return JSONResponse({"error": "no_api", "error_description": "set ORGINVITE_AUDIENCE"}, status_code=404)
        return await render(request, "error.html", 404, code="no_api", title=_("No invoice API"),
                            message=_("This workspace calls no API: set ORGINVITE_AUDIENCE to the API's identifier."))

    async def page(self, request: Request, render: Render) -> Response:
        """``/invoices`` for a member the guard let through: the organization's invoices, fetched from the API with
        their access token, as a page (``render``: the app's page function) or JSON."""
        as_json = wants_json(request)
        try:
            token = await get_access_token(request)
        except SessionExpired as exc:  # the middleware drops the session's cookie with this answer
            if as_json:
                return JSONResponse({"error": "session_expired", "reason": exc.reason}, status_code=401)
            return await render(request, "error.html", 401, code="session_expired", title=_("Sign in again"),
                                message=_("Your session has ended. Sign in again to see the invoices."))
        except ProviderError:
            return await _unavailable(request, render, as_json, "provider_unavailable",
                                      _("The sign-in service is unavailable, so the invoices cannot be fetched. "
                                        "Try again in a moment."))
        if self._http is None:
            self._http = httpx2.AsyncClient(timeout=10, trust_env=False)
        try:
            answer = await self._http.get(self.settings.base_url + "/api/invoices",
                                          headers={"authorization": f"Bearer {token}"})
            body = answer.json()
        except (httpx2.HTTPError, ValueError):
            return await _unavailable(request, render, as_json, "api_unavailable",
                                      _("The invoice API did not answer. Try again in a moment."))
        if as_json:
            return JSONResponse({"api": self.audience, "status": answer.status_code, "answer": body},
                                status_code=200 if answer.status_code == 200 else 502)
        rows = _rows(body) if answer.status_code == 200 else None
        if rows is None:
            return await _unavailable(request, render, False, "api_refused", _(
                "The invoice API refused the request or answered something unexpected (status %(status)d).",
                status=answer.status_code))
        return await render(request, "invoices.html", invoices=rows, api=self.audience)


async def _unavailable(request: Request, render: Render, as_json: bool, code: str, message: str) -> Response:
    if as_json:
        return JSONResponse({"error": code}, status_code=502)
    return await render(request, "error.html", 502, code=code, title=_("The invoices are unavailable"),
                        message=message)


def _rows(body: Any) -> list[InvoiceRow] | None:
    """The API's invoices for the page, or None when the answer is not the API's shape."""
    items = body.get("invoices") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        return None
    rows = []
    for item in items[:500]:
        if not isinstance(item, Mapping) or not all(isinstance(item.get(k), str) for k in ("id", "amount", "currency")):
            return None
        rows.append(InvoiceRow(item["id"], _amount(item["amount"], item["currency"])))
    return rows


def _amount(amount: str, currency: str) -> str:
    """``1200.00`` ``EUR`` as the page's locale writes it (``1 200,00 €``); as sent when it is not a number and an
    ISO 4217 code, or a number too large for babel to round to the currency's digits (never a 500)."""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or len(currency) != 3 or not currency.isascii() or not currency.isupper():
        return f"{amount} {currency}"
    try:
        return format_currency(value, currency, locale=current_locale())
    except ArithmeticError:  # decimal's InvalidOperation / Overflow: more digits than its context holds (1e30)
        return f"{amount} {currency}"


def _refuse(status: int, error: str, description: str) -> JSONResponse:
    header = f'Bearer error="{"invalid_token" if status == 401 else "insufficient_scope"}"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"www-authenticate": header})
