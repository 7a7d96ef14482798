"""The ASGI middleware: routes login, callback and logout to their handlers; attaches the signed-in user to every
other request.

Pure ASGI in the style of ``starlette/middleware/sessions.py``: works around Starlette, FastAPI or any ASGI app.
The three routes are matched on ``scope["path"]`` (less ``root_path``, as Starlette's router does) before the app
sees the request, and each is handled by its own module with one shared :class:`~orginvite.login.context.
LoginContext`. Everything else passes through with ``scope["user"]`` and ``scope["auth"]`` set from the session
cookie (one HMAC when the cookie is there, nothing else), so ``request.user`` and ``@requires("authenticated")``
work as with Starlette's ``AuthenticationMiddleware``.

Every URL the flow builds comes from configuration (``base_url``), never from ``Host`` or ``X-Forwarded-*``
headers; under multi-tenant routing (``Settings.tenancy``, see :mod:`orginvite.tenancy.routing`) from the
request's host only after the tenancy rules have allowed it, and a host they do not allow gets a 400 page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx2
from starlette.authentication import AuthCredentials
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orginvite.config import Settings
from orginvite.errors import SessionStoreError
from orginvite.login import lifecycle
from orginvite.login.backchannel import backchannel_logout
from orginvite.login.callback import callback
from orginvite.login.context import CONTEXT_KEY, ROUTE_KEY, LoginContext
from orginvite.login.lifespan import run_lifespan
from orginvite.login.login import login
from orginvite.login.logout import logout
from orginvite.login.oidc import OIDCClient
from orginvite.login.pages import Pages
from orginvite.sessions.membership import MEMBERSHIPS_KEY
from orginvite.sessions.store import SESSION_KEY, Session
from orginvite.sessions.user import ANONYMOUS, ORGANIZATION_SCOPE_KEY, Binding, Organization, credentials_for
from orginvite.tenancy.routing import OrganizationDirectory, TenantRouter
from orginvite.tenancy.rules import TenancyError

__all__ = ["OrgInviteMiddleware"]

logger = logging.getLogger("orginvite.login")

_ANONYMOUS_AUTH = AuthCredentials()
_TOKENS_KEY = SESSION_KEY + ".tokens"  # where get_access_token finds the refresh logic of this login flow

Handler = Callable[[LoginContext, Request], Awaitable[Response]]


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
        http_client: httpx2.AsyncClient | None = None,
        templates_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.settings = settings = settings if settings is not None else Settings.from_env()
        self.oidc = OIDCClient(settings, http_client, clock=clock)
        self.tenants: TenantRouter | None = None
        if settings.tenancy is not None:
            directory = None
            if settings.organization_lookup == "management":
                directory = OrganizationDirectory.from_settings(settings, http_client)
            self.tenants = TenantRouter(settings, directory)
        self.context = LoginContext(settings, oidc=self.oidc, pages=Pages(templates_dir), tenants=self.tenants,
                                    clock=clock)
        self.sessions = self.context.sessions
        self.store = self.context.store
        self._session_marker = self.context.session_marker
        self._routes: dict[str, Handler] = {
            settings.login_path: login,
            settings.callback_path: callback,
            settings.logout_path: logout,
        }
        if self.store.revocations.enabled:
            self._routes[settings.backchannel_logout_path] = backchannel_logout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        bound = None
        if self.tenants is not None and kind in ("http", "websocket"):
            bound = await self._bind_tenant(scope, receive, send)
            if bound is None:
                return
        if kind == "http":
            # Subscripts and `in` rather than .get(): on the anonymous pass-through the method calls were a
            # quarter of what this route match costs.
            path = scope["path"]
            try:
                root = scope["root_path"]
            except KeyError:  # optional in ASGI
                root = ""
            if root and path.startswith(root):
                path = path[len(root.rstrip("/")):]
            if bound is not None:
                prefix = scope[ROUTE_KEY].path_prefix  # path routing: /o/acme/login is acme's login
                if prefix and path.startswith(prefix + "/"):
                    path = path[len(prefix):]
            if path in self._routes:
                response = await self._routes[path](self.context, Request(scope, receive))
                await response(scope, receive, send)
                return
        elif kind != "websocket":
            if kind == "lifespan":
                await run_lifespan(self.app, scope, receive, send, self.aclose)
            else:
                await self.app(scope, receive, send)
            return

        # All an anonymous request costs: this scan of the headers (inlined) and three scope keys, the context under
        # the one key its helpers and the guards share (each key more is a dict insert, and a fourth pushed a
        # benchmark's scope past a resize once Starlette added its own).
        scope[CONTEXT_KEY] = self.context  # logout_form_token(request) and the guards' pages find it here
        marker = self._session_marker
        for name, value in scope["headers"]:
            if name == b"cookie" and marker in value:
                try:
                    session = await self.store.load(value, bound)
                except SessionStoreError as exc:
                    await self._store_unavailable(scope, receive, send, exc)
                    return
                break
        else:
            session = None
        if session is None or session.revoked:
            scope["user"] = ANONYMOUS
            scope["auth"] = _ANONYMOUS_AUTH
            if session is not None and kind == "http":  # ended by back-channel logout: its cookies go too
                await self.app(scope, receive, self._dropping(session, send))
                return
            await self.app(scope, receive, send)
            return
        revalidator = self.context.revalidator
        if revalidator.due(session):
            organization = session.user.organization
            if await revalidator.check(session) == "removed":
                await self._membership_ended(scope, receive, send, session, organization)
                return
        user = session.record.user
        scope["user"], scope["auth"] = user, credentials_for(user)
        scope[SESSION_KEY] = session
        scope[_TOKENS_KEY] = self.context.access_tokens
        if self.context.memberships is not None:
            scope[MEMBERSHIPS_KEY] = self.context.memberships
        if not session.writes_back or kind != "http":
            await self.app(scope, receive, send)
            return
        store = self.store

        async def send_with_session(message: Message) -> None:
            # A refresh (or a key rotation) changed what the browser must keep: whatever the app answers,
            # streaming responses included, the headers carry it. After the start it is too late by HTTP.
            if message["type"] == "http.response.start":
                extra = store.response_headers(session)
                if extra:
                    message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_session)

    async def _membership_ended(self, scope: Scope, receive: Receive, send: Send, session: Session,
                                organization: Organization | None) -> None:
        """The member was removed: this request is answered with the page (the app never sees it signed in)."""
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        name = None if organization is None else (organization.name or organization.id)
        response = self.context.membership_ended(Request(scope, receive), name, self.store.response_headers(session))
        await response(scope, receive, send)

    def _dropping(self, session: Session, send: Send) -> Send:
        store = self.store

        async def send_dropping(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *store.response_headers(session)]
            await send(message)

        return send_dropping

    async def _store_unavailable(self, scope: Scope, receive: Receive, send: Send, exc: SessionStoreError) -> None:
        if scope["type"] == "websocket":
            logger.error("session store unavailable: %s", exc)
            await send({"type": "websocket.close", "code": 1011})
            return
        response = self.context.store_unavailable(Request(scope, receive), exc)
        await response(scope, receive, send)

    async def aclose(self) -> None:
        """Close what the login flow holds (HTTP clients, stores), queued invitation events delivered first: at
        lifespan shutdown, or by an app that runs the middleware without a lifespan."""
        await lifecycle.aclose(self.context)  # their sink may need a client
        await self.oidc.aclose()
        await self.context.provider_tokens.aclose()
        await self.store.aclose()  # its revocation store with it
        if self.context.memberships is not None:
            await self.context.memberships.aclose()
        if self.tenants is not None and self.tenants.directory is not None:
            await self.tenants.directory.aclose()

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
            response = self.context.page(
                Request(scope, receive), "unknown_host.html", 400,
                {"error": "unknown_host", "code": exc.code, "message": str(exc)},
                code=exc.code, home_url="",  # a host we do not serve: link nowhere
            )
            await response(scope, receive, send)
            return None
        scope[ROUTE_KEY] = route_
        scope[ORGANIZATION_SCOPE_KEY] = self.tenants.organization(route_)
        return route_.host, route_.organization_name
