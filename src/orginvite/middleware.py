"""The ASGI middleware: serves login, callback and logout; attaches the signed-in user to every other request.

Pure ASGI in the style of ``starlette/middleware/sessions.py``: works around Starlette, FastAPI or any ASGI app.
The three routes are matched on ``scope["path"]`` (less ``root_path``, as Starlette's router does) before the app
sees the request; local redirects and page links get ``root_path`` back in front. Everything else passes through
with ``scope["user"]`` and ``scope["auth"]`` set from the session cookie (one HMAC when the cookie is there,
nothing else), so ``request.user`` and ``@requires("authenticated")`` work as with Starlette's
``AuthenticationMiddleware``.

Every URL the flow builds comes from configuration (``base_url``), never from ``Host`` or ``X-Forwarded-*``
headers; under multi-tenant routing (``Settings.tenancy``, see :mod:`orginvite.tenant_routing`) from the request's
host only after the tenancy rules have allowed it, and a host they do not allow gets a 400 page.
Every response of the three routes carries ``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer``
(the login URL may hold an invitation ticket).
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from starlette.authentication import AuthCredentials
from starlette.requests import Request, cookie_parser
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orginvite import locales
from orginvite.claims import check_host_organization, check_organization, organization_of
from orginvite.config import Settings
from orginvite.cookies import CookieSigner
from orginvite.errors import (
    CallbackError,
    InvalidCookieError,
    InvalidLinkError,
    OrganizationClaimError,
    OrgInviteError,
    ProviderError,
    TokenError,
)
from orginvite.forms import read_urlencoded_form
from orginvite.links import LoginRequest, parse_login_query, redact_log_record, safe_return_path
from orginvite.oidc import OIDCClient
from orginvite.pages import Pages, classify_callback_error, wants_json
from orginvite.session import (
    ANONYMOUS,
    ORGANIZATION_SCOPE_KEY,
    Binding,
    Organization,
    OrgUser,
    SessionCookie,
    credentials_for,
    set_cookie_header,
    user_from_claims,
)
from orginvite.tenancy import Route, TenancyError, canonical_login_url, placement
from orginvite.tenant_routing import OrganizationDirectory, TenantRouter, UnknownOrganization
from orginvite.transactions import Transaction, TransactionCookies

__all__ = ["AcceptanceVetoed", "OrgInviteMiddleware", "RedactInvitationTickets"]

logger = logging.getLogger("orginvite.login")

_ANONYMOUS_AUTH = AuthCredentials()
_ROUTE_KEY = "orginvite.route"  # the request's tenancy Route (multi-tenant routing only)
_PREFIX_KEY = "orginvite.path_prefix"  # the callback: the path prefix of the login it finishes (path routing)
_PENDING_TTL = 600
_MAX_FORM_BYTES = 4096
_CALLBACK_STATUS = {
    "invitation_invalid": 400,
    "wrong_account": 403,
    "not_a_member": 403,
    "organization_required": 400,
    "organization_invalid": 400,
    "access_denied": 403,
    "other": 400,
}


#: URLs that Starlette's RedirectResponse would leave unchanged: unreserved characters and its ``safe`` set only.
_QUOTED_URL = re.compile(r"[A-Za-z0-9_.~:/%#?=@\[\]!$&'()*+,;-]*")


class RedactInvitationTickets(logging.Filter):
    """A logging filter that replaces ``invitation=<ticket>`` in log lines by the ticket's short hash.

    Access logs print the full login URL, ticket included (uvicorn: ``logging.getLogger("uvicorn.access")``).
    The ticket is a bearer secret until accepted, so it must not land in log storage.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        redact_log_record(record)  # any spelling of the key (orginvite.links, shared with the dev tenant)
        return True


class AcceptanceVetoed(CallbackError):
    """The host app's ``on_accept`` hook refused the session (a 403 page; kind ``access_denied``)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__("access_denied", "vetoed", reason)


class OrgInviteMiddleware:
    """Mount once around the app: ``OrgInviteMiddleware(app, Settings.from_env())``.

    ``settings=None`` reads the environment (:meth:`Settings.from_env`), so a misconfiguration stops the app at
    start-up with the name of the variable. ``http_client`` is reused for every call to the provider (one
    connection pool for the app's life); ``templates_dir`` overrides pages by file name.
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        templates_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.settings = settings = settings if settings is not None else Settings.from_env()
        self.oidc = OIDCClient(settings, http_client, clock=clock)
        self.transactions = TransactionCookies(settings, clock=clock)
        self.sessions = SessionCookie(settings, clock=clock)
        self.pages = Pages(templates_dir)
        self._clock = clock
        self._pending = CookieSigner(settings.secret_keys, "orginvite.pending", clock=clock)
        self._pending_name = ("__Host-" if settings.secure else "") + settings.pending_cookie
        self._session_marker = self.sessions.name.encode("latin-1") + b"="
        self._routes: dict[str, Callable[[Request], Any]] = {
            settings.login_path: self._login,
            settings.callback_path: self._callback,
            settings.logout_path: self._logout,
        }
        origin = urlsplit(settings.base_url)
        self._origin = f"{origin.scheme}://{origin.netloc}"
        self.tenants: TenantRouter | None = None
        if settings.tenancy is not None:
            directory = None
            if settings.organization_lookup == "management":
                directory = OrganizationDirectory.from_settings(settings, http_client)
            self.tenants = TenantRouter(settings, directory)

    # -- ASGI ------------------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        bound = None
        if self.tenants is not None and kind in ("http", "websocket"):
            bound = await self._bind_tenant(scope, receive, send)
            if bound is None:
                return
        if kind == "http":
            path = scope["path"]
            root = scope.get("root_path")
            if root and path.startswith(root):
                path = path[len(root.rstrip("/")):]
            if bound is not None:
                prefix = scope[_ROUTE_KEY].path_prefix  # path routing: /o/acme/login is acme's login
                if prefix and path.startswith(prefix + "/"):
                    path = path[len(prefix):]
            handler = self._routes.get(path)
            if handler is not None:
                response = await handler(Request(scope, receive))
                await response(scope, receive, send)
                return
        elif kind != "websocket":
            if kind == "lifespan":
                receive = self._closing_receive(receive)
            await self.app(scope, receive, send)
            return

        marker = self._session_marker
        for name, value in scope["headers"]:  # inlined: this loop is all an anonymous request costs
            if name == b"cookie" and marker in value:
                user, resign = self._user_from_cookie_header(value, bound)
                break
        else:
            user = None
        if user is None:
            scope["user"] = ANONYMOUS
            scope["auth"] = _ANONYMOUS_AUTH
            await self.app(scope, receive, send)
            return
        scope["user"], scope["auth"] = user, credentials_for(user)
        if not resign or kind != "http":
            await self.app(scope, receive, send)
            return
        header = self.sessions.issue_header(user, bound)  # signed with a retired key: re-sign with the newest

        async def send_resigned(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], header]
            await send(message)

        await self.app(scope, receive, send_resigned)

    def _closing_receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.oidc.aclose()
                if self.tenants is not None and self.tenants.directory is not None:
                    await self.tenants.directory.aclose()
            return message

        return wrapped

    async def _bind_tenant(self, scope: Scope, receive: Receive, send: Send) -> Binding | None:
        """Multi-tenant routing: route the request (host, organization) or answer it with a 400 (None)."""
        assert self.tenants is not None
        root = scope.get("root_path")
        path = scope["path"]
        if root and path.startswith(root):
            path = path[len(root.rstrip("/")):]
        try:
            route_ = self.tenants.route(scope, path)
        except TenancyError as exc:
            logger.info("request refused by the tenancy rules: %s", exc.code)
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return None
            request = Request(scope, receive)
            response = self._page(
                request, "unknown_host.html", 400,
                {"error": "unknown_host", "code": exc.code, "message": str(exc)},
                code=exc.code, home_url="",  # a host we do not serve: link nowhere
            )
            await response(scope, receive, send)
            return None
        scope[_ROUTE_KEY] = route_
        scope[ORGANIZATION_SCOPE_KEY] = self.tenants.organization(route_)
        return route_.host, route_.organization_name

    @staticmethod
    def _binding(scope: Scope) -> Binding | None:
        route_ = scope.get(_ROUTE_KEY)
        return None if route_ is None else (route_.host, route_.organization_name)

    def _user_from_headers(
        self, headers: list[tuple[bytes, bytes]], bound: Binding | None = None
    ) -> tuple[OrgUser | None, bool]:
        """The session user, if a valid session cookie is present; the hot path, so no work without the cookie."""
        raw = None
        for name, value in headers:
            if name == b"cookie" and self._session_marker in value:
                raw = value
                break
        if raw is None:
            return None, False
        return self._user_from_cookie_header(raw, bound)

    def _user_from_cookie_header(self, raw: bytes, bound: Binding | None = None) -> tuple[OrgUser | None, bool]:
        value = cookie_parser(raw.decode("latin-1")).get(self.sessions.name)
        if not value:
            return None, False
        try:
            return self.sessions.read(value, bound)
        except InvalidCookieError:
            return None, False

    def _current_user(self, request: Request) -> OrgUser | None:
        return self._user_from_headers(request.scope["headers"], self._binding(request.scope))[0]

    # -- responses -------------------------------------------------------------------------------------------

    def _locale(self, request: Request) -> str:
        return self.pages.locale_for(request.headers.get("accept-language"))

    def _page(
        self,
        request: Request,
        template: str,
        status: int,
        payload: Mapping[str, Any],
        cookies: list[tuple[bytes, bytes]] | None = None,
        **context: Any,
    ) -> Response:
        locale = self._locale(request)
        headers = self.pages.headers(locale, self.oidc.authorization_origins())
        response: Response
        if wants_json(request.headers.get("accept")):
            response = JSONResponse(dict(payload), status_code=status, headers=headers)
        else:
            s = self.settings
            prefix = _path_prefix(request)
            context.setdefault("home_url", _local(request, prefix + s.default_return_to))
            context.setdefault("login_url", _local(request, prefix + s.login_path))
            html = self.pages.render(template, locale, **context)
            response = HTMLResponse(html, status_code=status, headers=headers)
        response.raw_headers.extend(cookies or ())
        return response

    def _redirect(self, url: str, cookies: list[tuple[bytes, bytes]] | None = None, status: int = 303) -> Response:
        headers = {"cache-control": "no-store", "referrer-policy": "no-referrer"}
        if _QUOTED_URL.fullmatch(url):
            # Already what RedirectResponse's quote() would make of it (the /authorize URL is built encoded):
            # skip quote(), a Python loop over every character of a URL of several hundred.
            response = Response(status_code=status, headers={"location": url, **headers})
        else:
            response = RedirectResponse(url, status_code=status, headers=headers)
        response.raw_headers.extend(cookies or ())
        return response

    @staticmethod
    def _method_not_allowed(allowed: str) -> Response:
        return PlainTextResponse("Method Not Allowed", status_code=405, headers={"allow": allowed})

    def _provider_unavailable(self, request: Request, exc: ProviderError, cookies: list[tuple[bytes, bytes]],
                              retry_url: str) -> Response:
        logger.warning("identity provider unavailable: %s", exc)
        return self._page(
            request, "provider_unavailable.html", 502,
            {"error": "provider_unavailable", "message": "The identity provider is unavailable; try again later."},
            cookies, retry_url=retry_url,
        )

    # -- /login ----------------------------------------------------------------------------------------------

    async def _login(self, request: Request) -> Response:
        method = request.method
        if method == "POST":
            return await self._interstitial_post(request)
        if method not in ("GET", "HEAD"):
            return self._method_not_allowed("GET, HEAD, POST")
        try:
            link = parse_login_query(
                request.scope["query_string"], self.settings.link_rules,
                default_return_to=self.settings.default_return_to,
            )
        except InvalidLinkError as exc:
            logger.info("invalid login link: %s (field %s)", exc.code, exc.field)
            return self._page(
                request, "invalid_link.html", 400,
                {"error": "invalid_link", "code": exc.code, "field": exc.field, "message": str(exc)},
                code=exc.code, field=exc.field, message=str(exc),
            )
        if self.tenants is not None:
            refusal = self._place(request, link)
            if refusal is not None:
                return refusal
        if link.is_invitation:
            user = self._current_user(request)
            if user is not None:
                return self._interstitial(request, link, user)
        return await self._start(request, link)

    # -- multi-tenant routing --------------------------------------------------------------------------------

    def _place(self, request: Request, link: LoginRequest) -> Response | None:
        """A link on the apex goes (303) to its organization's own login URL, with the validated parameters only;
        one that contradicts the organization of the host (or path) it arrived on is refused."""
        assert self.tenants is not None
        route_: Route = request.scope[_ROUTE_KEY]
        rules = self.tenants.rules
        name = link.organization_name
        where = placement(route_, name, rules)
        if where == "redirect" and name is not None:
            query = [("invitation", link.invitation), ("organization", link.organization), ("organization_name", name)]
            if link.return_to != self.settings.default_return_to:
                query.append(("returnTo", link.return_to))
            try:
                url = canonical_login_url(name, rules, self.tenants.scheme, query,
                                          login_path=self.tenants.base_path + self.settings.login_path)
            except TenancyError as exc:  # a name the routing rules refuse (reserved, punycode...)
                return self._organization_mismatch(request, name, None, exc.code)
            logger.info("login link for organization %s moved to its own host: invitation=%s",
                        name, link.ticket_fingerprint)
            return self._redirect(url, status=303)
        host_org = route_.organization_name
        if where == "conflict":
            return self._organization_mismatch(request, name, host_org, "organization_name_mismatch")
        if (host_org is not None and link.organization is not None and not link.organization.startswith("org_")
                and link.organization.lower() != host_org):
            return self._organization_mismatch(request, link.organization, host_org, "organization_mismatch")
        return None

    def _organization_mismatch(self, request: Request, wanted: str | None, here: str | None, code: str) -> Response:
        logger.warning("login link refused: organization %r opened on the host of %r (%s)", wanted, here, code)
        return self._page(
            request, "organization_mismatch.html", 400,
            {"error": "organization_mismatch", "code": code, "organization": wanted, "host_organization": here,
             "message": "The link belongs to another organization than the address it was opened on."},
            wanted=wanted, here=here, code=code,
        )

    def _unknown_organization(self, request: Request, name: str, cookies: list[tuple[bytes, bytes]]) -> Response:
        logger.info("login on the host of an unknown organization %r", name)
        return self._page(
            request, "unknown_organization.html", 404,
            {"error": "unknown_organization", "organization": name,
             "message": "No organization has this name."},
            cookies, organization_name=name,
        )

    async def _tenant_organization(
        self, request: Request, link: LoginRequest, cookies: list[tuple[bytes, bytes]]
    ) -> tuple[str | None, str | None] | Response:
        """``(organization for /authorize, the host organization's ID if looked up)``, or a page that refuses."""
        assert self.tenants is not None
        route_: Route = request.scope[_ROUTE_KEY]
        host_org = route_.organization_name
        organization = link.organization
        if host_org is None:
            return organization, None
        directory = self.tenants.directory
        if directory is None:  # the provider accepts names: send the host's, check org_name at the callback
            return organization or host_org, None
        try:
            org_id = await directory.resolve(host_org)
        except UnknownOrganization:
            return self._unknown_organization(request, host_org, cookies)
        except ProviderError as exc:
            return self._provider_unavailable(request, exc, cookies, retry_url="")
        if organization is not None and organization.startswith("org_") and organization != org_id:
            return self._organization_mismatch(request, organization, host_org, "organization_mismatch")
        return org_id, org_id

    def _ui_locales(self, request: Request) -> str | None:
        header = request.headers.get("accept-language")
        if not header:
            return None
        resolution = locales.negotiate_accept_language(self.pages.available, header)
        return locales.to_bcp47(resolution.locale) if resolution.source == "accept_language" else None

    async def _start(
        self,
        request: Request,
        link: LoginRequest,
        *,
        prompt: str | None = None,
        cookies: list[tuple[bytes, bytes]] | None = None,
    ) -> Response:
        cookies = list(cookies or ())
        organization, host_org, host_org_id, host, redirect_uri = link.organization, None, None, None, None
        path_prefix = None
        return_to = link.return_to
        if self.tenants is not None:
            found = await self._tenant_organization(request, link, cookies)
            if isinstance(found, Response):
                return found
            organization, host_org_id = found
            route_: Route = request.scope[_ROUTE_KEY]
            host_org, host = route_.organization_name, route_.host
            redirect_uri = self.tenants.redirect_uri(route_)
            path_prefix = route_.path_prefix or None
            if route_.path_prefix and return_to == self.settings.default_return_to:
                return_to = route_.path_prefix + return_to
        try:
            auth = await self.oidc.authorization_request(
                organization=organization,
                invitation=link.invitation,
                ui_locales=self._ui_locales(request),
                prompt=prompt,
                redirect_uri=redirect_uri,
            )
        except ProviderError as exc:
            return self._provider_unavailable(request, exc, cookies, retry_url="")
        transaction = Transaction(
            state=auth.state,
            nonce=auth.nonce,
            code_verifier=auth.code_verifier,
            organization=organization,
            invitation=link.is_invitation,
            return_to=return_to,
            created_at=round(self._clock(), 3),  # ms: the cap evicts the oldest, even within one second
            redirect_uri=auth.redirect_uri,
            host_organization=host_org,
            host_organization_id=host_org_id,
            host=host,
            path_prefix=path_prefix,
        )
        cookies.extend(self.transactions.start(transaction, request.cookies))
        if logger.isEnabledFor(logging.INFO):  # the fingerprint is a SHA-256: not for a log line nobody keeps
            logger.info(
                "login started: organization=%s invitation=%s prompt=%s",
                organization, link.ticket_fingerprint, prompt or "-",
            )
        return self._redirect(auth.url, cookies, status=303 if request.method == "POST" else 302)

    # -- the wrong-account interstitial ----------------------------------------------------------------------

    def _pending_header(self, value: str, max_age: int) -> tuple[bytes, bytes]:
        return set_cookie_header(self._pending_name, value, max_age=max_age, secure=self.settings.secure,
                                 same_site="Strict")

    def _interstitial(self, request: Request, link: LoginRequest, user: OrgUser) -> Response:
        """Signed in, and an invitation arrives: ask before the provider consumes it with the wrong account.

        The link survives the page in a signed, short-lived, HttpOnly cookie (never in the HTML, so the ticket is
        not echoed); the POST that continues carries a CSRF token bound to that cookie.
        """
        csrf = secrets.token_urlsafe(24)
        value = self._pending.sign({
            "invitation": link.invitation,
            "organization": link.organization,
            "organization_name": link.organization_name,
            "return_to": link.return_to,
            "csrf": csrf,
        })
        logger.info("invitation %s arrived while signed in; interstitial shown", link.ticket_fingerprint)
        return self._page(
            request, "interstitial.html", 409 if wants_json(request.headers.get("accept")) else 200,
            {"error": "already_signed_in", "message": "Signed in as another account; confirm to continue.",
             "signed_in_as": user.email or user.display_name},
            [self._pending_header(value, _PENDING_TTL)],
            user_label=user.email or user.display_name,
            csrf_token=csrf,
            action_url=_local(request, _path_prefix(request) + self.settings.login_path),
        )

    @staticmethod
    async def _read_form(request: Request) -> dict[str, str] | None:
        pairs = await read_urlencoded_form(request, max_bytes=_MAX_FORM_BYTES, max_fields=10)
        if pairs is None:
            return None
        form = dict(pairs)
        return form if len(form) == len(pairs) else None  # a repeated field is a forged or broken post

    async def _interstitial_post(self, request: Request) -> Response:
        # Browsers send "Origin: null" under Referrer-Policy: no-referrer; the CSRF token bound to the SameSite=Strict
        # pending cookie is the real check, Origin and Sec-Fetch-Site only refuse what is visibly cross-site.
        origin = request.headers.get("origin")
        fetch_site = request.headers.get("sec-fetch-site")
        route_ = request.scope.get(_ROUTE_KEY)
        own_origin = self._origin if self.tenants is None or route_ is None else self.tenants.origin(route_)
        if (origin not in (None, "null", own_origin)) or fetch_site in ("cross-site", "same-site"):
            logger.warning("interstitial POST from a foreign origin refused")
            return self._forbidden(request, "token", [])
        form = await self._read_form(request)
        clear_pending = [self._pending_header("", 0)]
        raw = request.cookies.get(self._pending_name)
        try:
            if raw is None:
                raise InvalidCookieError("missing")
            pending = self._pending.unsign(raw, max_age=_PENDING_TTL)
        except InvalidCookieError as exc:
            logger.info("interstitial POST without a valid pending link (%s)", exc.reason)
            return self._transaction_expired(request, clear_pending)
        expected = pending.get("csrf")
        token = (form or {}).get("csrf_token", "")
        if form is None or not isinstance(expected, str) or not hmac.compare_digest(token.encode(), expected.encode()):
            logger.warning("interstitial POST with a bad CSRF token refused")
            return self._forbidden(request, "token", clear_pending)
        action = form.get("action")
        if action == "cancel":
            return self._redirect(_local(request, _path_prefix(request) + self.settings.default_return_to),
                                  clear_pending)
        if action != "continue":
            return self._forbidden(request, "token", clear_pending)
        try:
            link = LoginRequest(
                invitation=_text_or_none(pending.get("invitation")),
                organization=_text_or_none(pending.get("organization")),
                organization_name=_text_or_none(pending.get("organization_name")),
                return_to=safe_return_path(_text_or_none(pending.get("return_to")), self.settings.default_return_to),
            )
        except TypeError:
            return self._transaction_expired(request, clear_pending)
        if link.invitation is not None and link.organization is None:
            return self._transaction_expired(request, clear_pending)
        if self.tenants is not None:
            # The cookie is Path=/: one made under /o/acme may be posted under /o/globex. Place it as /login does.
            refusal = self._place(request, link)
            if refusal is not None:
                refusal.raw_headers.extend(clear_pending)
                return refusal
        # Sign out here, then make the provider ask for credentials again instead of reusing its SSO session.
        logger.info("interstitial: signing out and continuing with invitation %s", link.ticket_fingerprint)
        return await self._start(request, link, prompt="login",
                                 cookies=[*clear_pending, self.sessions.delete_header()])

    # -- /callback -------------------------------------------------------------------------------------------

    def _transaction_expired(self, request: Request, cookies: list[tuple[bytes, bytes]]) -> Response:
        return self._page(
            request, "transaction_expired.html", 400,
            {"error": "transaction_expired", "message": "The sign-in expired or was already used; start again."},
            cookies,
        )

    def _forbidden(self, request: Request, reason: str, cookies: list[tuple[bytes, bytes]]) -> Response:
        messages = {
            "organization": "The ID token does not belong to the requested organization.",
            "vetoed": "The application refused this sign-in.",
            "token": "The sign-in could not be verified.",
        }
        return self._page(request, "forbidden.html", 403, {"error": f"forbidden_{reason}",
                                                           "message": messages[reason]}, cookies, reason=reason)

    async def _callback(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return self._method_not_allowed("GET, HEAD")
        params: dict[str, str] = {}
        repeated = False
        try:
            for key, value in parse_qsl(
                request.scope["query_string"].decode("latin-1"), keep_blank_values=True, max_num_fields=32
            ):
                if key in params:
                    repeated = True
                params[key] = value
        except ValueError:
            repeated = True
        state = None if repeated else params.get("state")
        cookies = request.cookies
        try:
            transaction = self.transactions.load(state, cookies)
        except InvalidCookieError as exc:
            logger.info("callback without a valid transaction (%s)", exc.reason)
            cleanup = []
            if state and self.transactions.cookie_name(state) in cookies:
                cleanup.append(self.transactions.delete_header(state))
            if self._current_user(request) is not None:
                return self._redirect(_local(request, self.settings.default_return_to), cleanup)
            return self._transaction_expired(request, cleanup)

        done = [self.transactions.delete_header(transaction.state)]  # whatever happens next, this login is over
        route_ = request.scope.get(_ROUTE_KEY)
        if route_ is not None and transaction.path_prefix is not None:
            request.scope[_PREFIX_KEY] = transaction.path_prefix  # the pages below link back under it
        if route_ is not None and transaction.host is not None and transaction.host != route_.host:
            logger.warning("callback on another host than the login that started it; refused")
            return self._transaction_expired(request, done)
        error = params.get("error")
        if error is not None:
            exc = classify_callback_error(error[:100], params.get("error_description", "")[:500],
                                          invitation=transaction.invitation)
            logger.warning(
                "provider returned error=%r kind=%s organization=%s description=%r",
                exc.error, exc.kind, transaction.organization, exc.description,
            )
            return self._callback_error_page(request, exc, done)
        code = params.get("code")
        if not code or len(code) > 2048:
            return self._callback_error_page(request, CallbackError("other", "missing_code"), done)
        try:
            tokens = await self.oidc.exchange_code(code, transaction.code_verifier, transaction.redirect_uri)
            claims = await self.oidc.verify_id_token(tokens["id_token"], nonce=transaction.nonce)
            check_organization(claims, transaction.organization, require=self.settings.require_organization)
            if transaction.host_organization is not None:
                check_host_organization(claims, transaction.host_organization, transaction.host_organization_id)
            org_id, org_name = organization_of(claims)
            allowed = self.settings.allowed_organizations
            if allowed is not None and not allowed(org_id, org_name):
                raise OrganizationClaimError(transaction.organization, org_id, "organization not allowed here")
            user = user_from_claims(claims, self.settings, self._clock())
            if transaction.host_organization is not None and user.organization is not None:
                # checked above against the host: an ID-only token (names off at the provider) gets the host's name
                user.organization = Organization(user.organization.id, user.organization.name
                                                 or transaction.host_organization)
            await self._accept(user, claims)
        except ProviderError as exc:
            retry_url = _local(request, _path_prefix(request) + self.settings.login_path)
            return self._provider_unavailable(request, exc, done, retry_url=retry_url)
        except OrganizationClaimError as exc:
            logger.warning("organization check failed: expected=%r actual=%r: %s", exc.expected, exc.actual, exc)
            return self._forbidden(request, "organization", done)
        except AcceptanceVetoed as exc:
            logger.info("on_accept vetoed the session: %r", exc.description[:200])
            return self._forbidden(request, "vetoed", done)
        except TokenError as exc:
            logger.warning("ID token rejected: %s", exc)
            return self._forbidden(request, "token", done)
        logger.info("signed in: sub=%r organization=%s", user.sub, org_id)
        bound = None
        if route_ is not None:
            bound = (transaction.host or route_.host, transaction.host_organization)
        done.append(self.sessions.issue_header(user, bound))
        done.append(self._pending_header("", 0))
        return self._redirect(_local(request, transaction.return_to), done)

    async def _accept(self, user: OrgUser, claims: Mapping[str, Any]) -> None:
        hook = self.settings.on_accept
        if hook is None:
            return
        try:
            verdict = await hook(user, claims)
        except AcceptanceVetoed:
            raise
        except OrgInviteError as exc:
            raise AcceptanceVetoed(str(exc)) from exc
        if verdict is False:
            raise AcceptanceVetoed("on_accept returned False")

    def _callback_error_page(
        self, request: Request, exc: CallbackError, cookies: list[tuple[bytes, bytes]]
    ) -> Response:
        return self._page(
            request, f"callback_{exc.kind}.html", _CALLBACK_STATUS[exc.kind],
            {"error": exc.kind, "provider_error": exc.error if exc.error.isascii() else "other"},
            cookies, kind=exc.kind,
        )

    # -- /logout ---------------------------------------------------------------------------------------------

    def logout_return_url(self, value: str | None, route: Route | None = None) -> str:
        """An absolute URL to come back to after logout: a safe path on our origin, an allow-listed URL, else the
        configured default. Never None, never an open redirect. ``route`` (multi-tenant routing): the request's
        allow-listed host is the origin."""
        s = self.settings
        base = s.base_url.rstrip("/")
        default = s.default_logout_return_url
        if route is not None and self.tenants is not None:
            base = self.tenants.url(route, "")
            target = s.post_logout_return_to or (route.path_prefix + s.default_return_to)
            default = base + target if target.startswith("/") else target
        if not value or len(value) > 2048:
            return default
        if value.startswith("/"):
            path = safe_return_path(value, "/")
            return base + path if path == value else default
        if value in s.allowed_logout_urls:
            return value
        return default

    async def _logout(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD", "POST"):
            return self._method_not_allowed("GET, HEAD, POST")
        return_to = None
        raw = request.scope["query_string"]
        if raw:
            try:
                pairs = parse_qsl(raw.decode("ascii"), max_num_fields=16)
            except (UnicodeDecodeError, ValueError):
                pairs = []
            values = [v for k, v in pairs if k == "returnTo"]
            return_to = values[0] if len(values) == 1 else None
        target = self.logout_return_url(return_to, request.scope.get(_ROUTE_KEY))
        provider = await self.oidc.end_session_url(target)
        user = self._current_user(request)
        logger.info("logout: sub=%r provider_logout=%s", user.sub if user else None, provider is not None)
        return self._redirect(provider or target, [self.sessions.delete_header(), self._pending_header("", 0)])


def _local(request: Request, path: str) -> str:
    """A same-origin path as the browser must see it: behind a proxy prefix (``root_path``), with the prefix."""
    return request.scope.get("root_path", "").rstrip("/") + path


def _path_prefix(request: Request) -> str:
    """Path routing: the organization's prefix (``/o/acme``) of this request, or of the login a callback
    finishes, else ``""``."""
    route_ = request.scope.get(_ROUTE_KEY)
    if route_ is None:
        return ""
    return route_.path_prefix or request.scope.get(_PREFIX_KEY, "")


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("pending link field is not a string")
    return value
