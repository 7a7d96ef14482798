"""What every route of the login flow shares, handed to each handler as one object (not a base class).

The middleware builds one :class:`LoginContext` at start-up; a handler is a plain ``async def handler(ctx,
request)``. The context holds the long-lived parts (settings, the OIDC client, the transaction and session
cookies, the pages, the tenant router) and the few responses more than one route gives (a page, a redirect, the
expired-sign-in, forbidden and provider-unavailable pages), so every route answers in the same shape:
``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer`` on everything (the login URL may hold an
invitation ticket), JSON instead of HTML when the client asks for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response

from orginvite.config import Settings
from orginvite.errors import ProviderError, SessionStoreError
from orginvite.login.oidc import OIDCClient
from orginvite.login.pages import Pages, wants_json
from orginvite.login.tokens import ProviderTokens
from orginvite.login.transactions import TransactionCookies
from orginvite.sessions.access import AccessTokens
from orginvite.sessions.guards import GUARD_PAGES_KEY
from orginvite.sessions.membership import Memberships
from orginvite.sessions.revalidation import Revalidator
from orginvite.sessions.signing import CookieSigner, set_cookie_header
from orginvite.sessions.store import Session, SessionStore
from orginvite.sessions.user import Binding, OrgUser
from orginvite.tenancy.routing import TenantRouter

__all__ = ["CONTEXT_KEY", "PREFIX_KEY", "ROUTE_KEY", "Cookies", "LoginContext", "binding", "local", "path_prefix"]

logger = logging.getLogger("orginvite.login")

ROUTE_KEY = "orginvite.route"  # the request's tenancy Route (multi-tenant routing only)
#: The LoginContext, for helpers the app calls (logout_form_token) and the guards' pages: one scope key for both,
#: so that an anonymous request costs one write for it.
CONTEXT_KEY = GUARD_PAGES_KEY
PREFIX_KEY = "orginvite.path_prefix"  # the callback: the path prefix of the login it finishes (path routing)

#: ``Set-Cookie`` headers a response carries, as raw ``(name, value)`` pairs.
Cookies = list[tuple[bytes, bytes]]

#: URLs that Starlette's RedirectResponse would leave unchanged: unreserved characters and its ``safe`` set only.
_QUOTED_URL = re.compile(r"[A-Za-z0-9_.~:/%#?=@\[\]!$&'()*+,;-]*")
_NO_STORE = {"cache-control": "no-store", "referrer-policy": "no-referrer"}


class LoginContext:
    """Settings, clients and cookies of one mounted login flow, and the responses its routes share."""

    def __init__(
        self,
        settings: Settings,
        *,
        oidc: OIDCClient,
        pages: Pages,
        tenants: TenantRouter | None,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.oidc = oidc
        self.pages = pages
        self.tenants = tenants
        self.clock = clock
        self.transactions = TransactionCookies(settings, clock=clock)
        self.store = SessionStore(settings, clock=clock)
        self.sessions = self.store.cookie  # the identity-only signed session cookie
        self.provider_tokens = ProviderTokens(settings, oidc, clock=clock)
        self.access_tokens = AccessTokens(self.store, self.provider_tokens, clock=clock)
        self.memberships = Memberships.from_settings(settings, clock=clock)
        self.revalidator = Revalidator(settings, self.store, self.access_tokens, self.memberships, clock=clock)
        #: The invitation link kept across the wrong-account interstitial (see :mod:`orginvite.login.interstitial`).
        self.pending = CookieSigner(settings.secret_keys, "orginvite.pending", clock=clock)
        self.pending_name = ("__Host-" if settings.secure else "") + settings.pending_cookie
        self.session_marker = self.sessions.name.encode("latin-1") + b"="
        origin = urlsplit(settings.base_url)
        self.origin = f"{origin.scheme}://{origin.netloc}"

    # -- the signed-in user ------------------------------------------------------------------------------------

    def cookie_header(self, request: Request) -> bytes | None:
        """The request's ``Cookie`` header when it may hold a session (the first one naming the session cookie)."""
        marker = self.session_marker
        for name, value in request.scope["headers"]:
            if name == b"cookie" and marker in value:
                return bytes(value)
        return None

    async def current_session(self, request: Request) -> Session | None:
        """The request's session, for the login routes (the pass-through reads it in the middleware). A store
        that is down reads as no session here: these routes go on to the provider, which asks who it is."""
        raw = self.cookie_header(request)
        if raw is None:
            return None
        try:
            session = await self.store.load(raw, binding(request.scope))
        except SessionStoreError as exc:
            logger.warning("session store unavailable on a login route (%s): treated as signed out", exc)
            return None
        return None if session is None or session.revoked else session

    async def current_user(self, request: Request) -> OrgUser | None:
        session = await self.current_session(request)
        return None if session is None else session.user

    def logout_token(self, request: Request) -> str:
        """The sign-out form's CSRF token: an HMAC of the request's session cookie under the newest secret key."""
        value = request.cookies.get(self.sessions.name, "")
        key = self.settings.secret_keys[0]
        digest = hmac.new(key.encode() if isinstance(key, str) else key,
                          b"orginvite.logout\0" + value.encode("latin-1", "replace"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def pending_header(self, value: str, max_age: int) -> tuple[bytes, bytes]:
        return set_cookie_header(self.pending_name, value, max_age=max_age, secure=self.settings.secure,
                                 same_site="Strict")

    def request_origin(self, request: Request) -> str:
        """The origin this request is served on: ``base_url``'s, or (multi-tenant) its organization's host."""
        route_ = request.scope.get(ROUTE_KEY)
        return self.origin if self.tenants is None or route_ is None else self.tenants.origin(route_)

    def foreign_request(self, request: Request) -> bool:
        """Whether the browser says another site made it send this request (Fetch Metadata ``Sec-Fetch-Site`` of
        ``cross-site`` or ``same-site``, or an ``Origin`` not ours): such a request must not change the session.

        ``same-site`` is foreign too: it is another subdomain, under multi-tenant routing another organization's
        host, otherwise another app of the same domain. ``none`` (a typed URL, a bookmark) and no header at all
        (older browsers) are the user's own. ``Origin: null`` (sent under ``Referrer-Policy: no-referrer``) proves
        nothing either way and passes.
        """
        origin = request.headers.get("origin")
        if origin not in (None, "null", self.request_origin(request)):
            return True
        return request.headers.get("sec-fetch-site") in ("cross-site", "same-site")

    # -- responses ---------------------------------------------------------------------------------------------

    def page(
        self,
        request: Request,
        template: str,
        status: int,
        payload: Mapping[str, Any],
        cookies: Cookies | None = None,
        **context: Any,
    ) -> Response:
        """An HTML page in the invitee's language, or ``payload`` as JSON when the client asks for JSON."""
        locale = self.pages.locale_for(request.headers.get("accept-language"))
        headers = self.pages.headers(locale, self.oidc.authorization_origins())
        response: Response
        if wants_json(request.headers.get("accept")):
            response = JSONResponse(dict(payload), status_code=status, headers=headers)
        else:
            s = self.settings
            prefix = path_prefix(request)
            context.setdefault("home_url", local(request, prefix + s.default_return_to))
            context.setdefault("login_url", local(request, prefix + s.login_path))
            html = self.pages.render(template, locale, **context)
            response = HTMLResponse(html, status_code=status, headers=headers)
        response.raw_headers.extend(cookies or ())
        return response

    @staticmethod
    def redirect(url: str, cookies: Cookies | None = None, status: int = 303) -> Response:
        response: Response
        if _QUOTED_URL.fullmatch(url):
            # Already what RedirectResponse's quote() would make of it (the /authorize URL is built encoded):
            # skip quote(), a Python loop over every character of a URL of several hundred.
            response = Response(status_code=status, headers={"location": url, **_NO_STORE})
        else:
            response = RedirectResponse(url, status_code=status, headers=_NO_STORE)
        response.raw_headers.extend(cookies or ())
        return response

    @staticmethod
    def method_not_allowed(allowed: str) -> Response:
        return PlainTextResponse("Method Not Allowed", status_code=405, headers={"allow": allowed})

    def provider_unavailable(self, request: Request, exc: ProviderError, cookies: Cookies, retry_url: str) -> Response:
        logger.warning("identity provider unavailable: %s", exc)
        return self.page(
            request, "provider_unavailable.html", 502,
            {"error": "provider_unavailable", "message": "The identity provider is unavailable; try again later."},
            cookies, retry_url=retry_url,
        )

    def transaction_expired(self, request: Request, cookies: Cookies) -> Response:
        return self.page(
            request, "transaction_expired.html", 400,
            {"error": "transaction_expired", "message": "The sign-in expired or was already used; start again."},
            cookies,
        )

    def store_unavailable(self, request: Request, exc: SessionStoreError, cookies: Cookies | None = None) -> Response:
        """The session store (SQLite, Redis) is down: a 503 that says try again, never a 500 or a silent sign-out.
        The page is the provider-unavailable one: for the invitee both are "sign-in is unavailable right now"."""
        logger.error("session store unavailable: %s", exc)
        return self.page(
            request, "provider_unavailable.html", 503,
            {"error": "session_store_unavailable", "message": "Sessions are unavailable; try again later."},
            cookies, retry_url=local(request, path_prefix(request) + self.settings.login_path),
        )

    def guard_denied(self, request: Request, status: int, missing: dict[str, list[str]]) -> Response:
        """A guard's refusal (:mod:`orginvite.sessions.guards`): 401 sign in first, 403 not allowed."""
        error = "unauthorized" if status == 401 else "forbidden"
        return self.page(request, "guard_denied.html", status, {"error": error, "missing": missing},
                         signed_out=status == 401, login_url=self.login_url_back(request))

    def membership_ended(self, request: Request, organization: str | None, cookies: Cookies) -> Response:
        """Revalidation found the member removed: the session is over; say so and offer to sign in elsewhere."""
        return self.page(request, "membership_ended.html", 403,
                         {"error": "membership_ended", "organization": organization}, cookies,
                         organization=organization)

    def login_url_back(self, request: Request) -> str:
        """This flow's login URL, returning to the request's path afterwards."""
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        root = request.scope.get("root_path", "").rstrip("/")
        if root and here.startswith(root):
            here = here[len(root):]
        return local(request, path_prefix(request) + self.settings.login_path) + "?" + urlencode({"returnTo": here})

    def forbidden(self, request: Request, reason: str, cookies: Cookies) -> Response:
        messages = {
            "organization": "The ID token does not belong to the requested organization.",
            "vetoed": "The application refused this sign-in.",
            "token": "The sign-in could not be verified.",
            "profile_too_large": "Your profile is too large to keep in a session.",
        }
        return self.page(request, "forbidden.html", 403, {"error": f"forbidden_{reason}",
                                                         "message": messages[reason]}, cookies, reason=reason)


def binding(scope: Mapping[str, Any]) -> Binding | None:
    """Multi-tenant routing: the ``(host, organization name)`` a session of this request must be bound to."""
    route_ = scope.get(ROUTE_KEY)
    return None if route_ is None else (route_.host, route_.organization_name)


def local(request: Request, path: str) -> str:
    """A same-origin path as the browser must see it: behind a proxy prefix (``root_path``), with the prefix."""
    return request.scope.get("root_path", "").rstrip("/") + path


def path_prefix(request: Request) -> str:
    """Path routing: the organization's prefix (``/o/acme``) of this request, or of the login a callback
    finishes, else ``""``."""
    route_ = request.scope.get(ROUTE_KEY)
    if route_ is None:
        return ""
    return route_.path_prefix or request.scope.get(PREFIX_KEY, "")
