"""Multi-tenant worlds over real loopback HTTP: the app on 127.0.0.1 reached as ``*.myapp.test``, the dev tenant.

Browsers reach ``acme.myapp.test:PORT`` through Chromium's ``--host-resolver-rules``; httpx2 through
:class:`ToLoopback`, a transport that connects to 127.0.0.1 while the request keeps its ``Host`` header and the
cookie jar keeps per-host cookies, exactly as a browser with a resolver rule would.
"""

from __future__ import annotations

import socket
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "login"))

from test_login_devtenant import PASSWORD

from devtenant_support import TenantCopies, create_invitation, follow_on_tenant, submit_form
from login_support import KEY_A, MiniOP, query_of
from loopback_support import Holder, SharedServer, free_port
from orginvite.config import Settings
from orginvite.devtenant.app import DevTenant
from orginvite.login.middleware import OrgInviteMiddleware
from orginvite.management.client import ManagementClient
from orginvite.sessions.user import current_organization
from orginvite.tenancy.rules import TenancyRules
from orginvite.testing import LiveServer

__all__ = ["ACME", "GLOBEX", "KEY_A", "PASSWORD", "ManagementAPI", "MiniOP", "TenancyServers", "TenantWorld",
           "ToLoopback", "app_routes", "query_of"]

ACME = "org_acme000000000001"
GLOBEX = "org_glob000000000001"
DOMAIN = "myapp.test"


class ToLoopback(httpx2.HTTPTransport):
    """Connect every ``*.myapp.test`` request to 127.0.0.1; the Host header and the cookies stay per host."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host
        if host == DOMAIN or host.endswith("." + DOMAIN):
            request = httpx2.Request(
                request.method, request.url.copy_with(host="127.0.0.1"), headers=request.headers,
                stream=request.stream, extensions=request.extensions,
            )
        return super().handle_request(request)


class _ClosingManagementClient(ManagementClient):
    """A ManagementClient leaves an ``http`` client it was given open (the host app's to close): this one closes
    the test's client through :class:`ManagementAPI` with it, when the directory closes it."""

    async def aclose(self) -> None:
        await super().aclose()
        await self._http.aclose()


class ManagementAPI(httpx2.AsyncHTTPTransport):
    """The dev tenant's Management API as the organization directory reaches it over loopback, with a switch.

    ``names`` lists the names looked up (one entry per call that reached the network). :meth:`down` sends every
    request to a loopback port nothing listens on (a real connection refused); :meth:`rate_limited` answers 429
    with a ``Retry-After`` longer than the client waits; :meth:`up` restores the tenant.
    """

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self._mode = "up"
        self._closed_port = free_port()

    def down(self) -> None:
        self._mode = "down"

    def rate_limited(self) -> None:
        self._mode = "429"

    def up(self) -> None:
        self._mode = "up"

    def client(self, tenant_url: str) -> ManagementClient:
        """A Management API client for the directory, configured as :meth:`OrganizationDirectory.from_settings`."""
        return _ClosingManagementClient(tenant_url + "/", "m2m", "m2m-secret", http=httpx2.AsyncClient(transport=self),
                                        max_retries=1, max_retry_wait=5.0, timeout=10)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        prefix = "/api/v2/organizations/name/"
        if request.url.path.startswith(prefix):
            self.names.append(request.url.path[len(prefix):])
        if self._mode == "429":
            return httpx2.Response(429, headers={"retry-after": "60"}, request=request,
                                  json={"statusCode": 429, "error": "Too Many Requests", "message": "Global limit"})
        if self._mode == "down":
            request = httpx2.Request(request.method, request.url.copy_with(port=self._closed_port),
                                    headers=request.headers, stream=request.stream, extensions=request.extensions)
        return await super().handle_async_request(request)


async def _me(request: Request) -> Response:
    org = current_organization(request)
    user = request.user
    return JSONResponse(
        {
            "authenticated": user.is_authenticated,
            "email": user.email if user.is_authenticated else None,
            "organization": None if org is None else {"id": org.id, "name": org.name},
        },
        status_code=200 if user.is_authenticated else 401,
    )


async def _home(request: Request) -> Response:
    return JSONResponse({"path": request.url.path})


def app_routes() -> Starlette:
    """The app behind the middleware: ``/me`` tells who and which organization, also when signed out."""
    return Starlette(routes=[Route("/", _home), Route("/me", _me), Route("/o/{org}/", _home),
                             Route("/o/{org}/me", _me)])


def tenant_config(port: int, *, names: bool = True) -> dict[str, Any]:
    apex = f"http://{DOMAIN}:{port}"
    return {
        "tenant": {"friendly_name": "Tenancy Dev", "allow_organization_name_in_authentication_api": names},
        "clients": [
            {"client_id": "web", "client_secret": "web-secret", "name": "Web", "app_type": "regular_web",
             "callbacks": [f"http://*.{DOMAIN}:{port}/callback", f"{apex}/callback"],
             "allowed_logout_urls": [f"http://*.{DOMAIN}:{port}/", f"{apex}/", f"{apex}/o/acme/"],
             "initiate_login_uri": f"{apex}/login", "organization_usage": "allow",
             "organization_require_behavior": "no_prompt", "grant_types": ["authorization_code"]},
            {"client_id": "m2m", "client_secret": "m2m-secret", "name": "Backend", "app_type": "non_interactive",
             "grant_types": ["client_credentials"],
             "scopes": ["create:organization_invitations", "read:organization_invitations", "read:organizations"]},
        ],
        "connections": [{"id": "con_dbdbdbdbdbdbdbdb", "name": "Username-Password-Authentication",
                         "strategy": "auth0"}],
        "organizations": [
            {"id": ACME, "name": "acme", "display_name": "Acme Inc.",
             "enabled_connections": [{"connection": "Username-Password-Authentication",
                                      "assign_membership_on_login": False}]},
            {"id": GLOBEX, "name": "globex", "display_name": "Globex",
             "enabled_connections": [{"connection": "Username-Password-Authentication",
                                      "assign_membership_on_login": False}]},
        ],
        "roles": [{"id": "rol_membr00000000001", "name": "member", "description": "Member"}],
        "users": [{"email": "ann@acme.test", "password": PASSWORD, "name": "Ann", "email_verified": True},
                  {"email": "gus@globex.test", "password": PASSWORD, "name": "Gus", "email_verified": True}],
        "members": [{"organization": "acme", "user": "ann@acme.test", "roles": ["member"]},
                    {"organization": "globex", "user": "gus@globex.test", "roles": ["member"]}],
    }


class TenantWorld:
    """The dev tenant, and the app (middleware + :func:`app_routes`) on ``http://myapp.test:PORT``.

    uvicorn's own proxy-header handling is off so the TCP peer reaches the middleware as it is: the tenancy rules
    alone decide whom to believe.
    """

    def __init__(self, *, names: bool = True, servers: TenancyServers | None = None) -> None:
        self.holder = Holder()
        self._served = ExitStack()
        self.shared = servers is not None
        if servers is None:
            self.app_server = LiveServer(self.holder, proxy_headers=False).start()
        else:
            self.app_server = self._served.enter_context(servers.app.serving(self.holder))
        self.port = self.app_server.port
        self.apex = f"http://{DOMAIN}:{self.port}"
        if servers is None:
            self.tenant = DevTenant(config=tenant_config(self.port, names=names))
            self.tenant_server = self.tenant.serve().start()
        else:
            self.tenant = self._served.enter_context(servers.copies(names).tenant())
            self.tenant_server = self._served.enter_context(servers.tenant.serving(self.tenant.app))
        self.tenant_url = self.tenant_server.url
        self.http = self.client()
        self.middleware: OrgInviteMiddleware | None = None

    def org_url(self, name: str) -> str:
        return f"http://{name}.{DOMAIN}:{self.port}"

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=ToLoopback(), follow_redirects=False, timeout=10)

    def raw(self, path: str, host: str, **kw: Any) -> httpx2.Response:
        """A request to the app's socket with an arbitrary Host header (attacks, unknown hosts)."""
        headers = {"host": host, **kw.pop("headers", {})}
        return httpx2.get(self.app_server.url + path, headers=headers, follow_redirects=False, timeout=10, **kw)

    def configure(self, *, tenancy: TenancyRules | None = None, issuer: str | None = None, **kw: Any) -> None:
        rules = tenancy or TenancyRules(host_template=f"{{organization}}.{DOMAIN}:{self.port}")
        values: dict[str, Any] = dict(issuer=issuer or self.tenant_url + "/", client_id="web",
                                      client_secret="web-secret", secret_keys=(KEY_A,), base_url=self.apex,
                                      tenancy=rules)
        values.update(kw)
        self.middleware = OrgInviteMiddleware(app_routes(), Settings(**values))
        self.holder.inner = self.middleware

    # -- walking through the hosted pages -----------------------------------------------------------------------

    def to_tenant(self, response: httpx2.Response, http: httpx2.Client | None = None) -> httpx2.Response:
        return follow_on_tenant(http or self.http, response, self.tenant_url)

    def submit(self, page: httpx2.Response, values: dict[str, str],
               http: httpx2.Client | None = None) -> httpx2.Response:
        return submit_form(http or self.http, page, values, self.tenant_url)

    def sign_in(self, start: httpx2.Response, email: str, http: httpx2.Client | None = None,
                **fields: str) -> httpx2.Response:
        """From a 302 to /authorize to the app's callback answer (the page or the redirect after it)."""
        http = http or self.http
        page = self.to_tenant(start, http)
        if page.status_code == 200:
            page = self.submit(page, {"email": email, "password": PASSWORD, **fields}, http)
        assert page.status_code in (302, 303), page.text[:300]
        return http.get(page.headers["location"])

    def invite(self, org_id: str, email: str) -> dict[str, Any]:
        return create_invitation(self.tenant_url, org_id, email, roles=["rol_membr00000000001"])

    def close(self) -> None:
        self.http.close()
        if self.shared:
            self._served.close()  # the shared servers stop serving this world; its tenant closes
            return
        self.app_server.stop()
        self.tenant_server.stop()
        self.tenant.close()


class TenancyServers:
    """The two loopback servers of :class:`TenantWorld` and its seeded tenants, started once for a test module:
    each world built on them serves its own fresh tenant and app (nothing carries over but ports)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.app = SharedServer(proxy_headers=False)
        self.tenant = SharedServer()
        self._copies: dict[bool, TenantCopies] = {}
        self._running = ExitStack()

    def __enter__(self) -> TenancyServers:
        self._running.enter_context(self.app)
        self._running.enter_context(self.tenant)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._running.close()

    def copies(self, names: bool) -> TenantCopies:
        """Tenants for the app's port, with organization names on or off (each seeded once)."""
        if names not in self._copies:
            folder = self.folder / f"names-{names}"
            folder.mkdir()
            self._copies[names] = TenantCopies(folder, tenant_config(self.app.port, names=names))
        return self._copies[names]


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock
