"""An app under orginvite and the dev tenant, wired together, and the complete invitation flow a browser runs.

Used by section 6 (in-process: both apps behind one httpx2 transport that routes by origin, no sockets) and by the
load test (real uvicorn servers on loopback). The flow is a browser's: its own cookie jar, every redirect
followed by hand, the hosted sign-up form parsed and submitted, and at the end ``/me`` must show the session in
the invited organization.
"""

from __future__ import annotations

import itertools
import re
from html import unescape
from typing import Any
from urllib.parse import urljoin

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from orginvite.config import Settings
from orginvite.devtenant.app import DevTenant
from orginvite.login.middleware import OrgInviteMiddleware

ORG_ID = "org_acme000000000001"
APP_CLIENT, APP_SECRET = "web", "web-secret"
M2M_CLIENT, M2M_SECRET = "m2m", "m2m-secret"
PASSWORD = "correct horse battery"
SECRET_KEY = "s" * 40

_FORM = re.compile(r'<form[^>]*action="([^"]+)"', re.IGNORECASE)
_INPUT = re.compile(r"<input([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_serial = itertools.count(1)


def tenant_config(app_url: str) -> dict[str, Any]:
    return {
        "tenant": {"friendly_name": "Bench", "allow_organization_name_in_authentication_api": True},
        "clients": [
            {"client_id": APP_CLIENT, "client_secret": APP_SECRET, "name": "Web", "app_type": "regular_web",
             "callbacks": [app_url + "/callback"], "allowed_logout_urls": [app_url + "/"],
             "initiate_login_uri": app_url + "/login", "organization_usage": "allow",
             "organization_require_behavior": "no_prompt", "grant_types": ["authorization_code"]},
            {"client_id": M2M_CLIENT, "client_secret": M2M_SECRET, "name": "Backend", "app_type": "non_interactive",
             "grant_types": ["client_credentials"],
             "scopes": ["create:organization_invitations", "read:organization_invitations",
                        "read:organization_members", "read:organizations"]},
        ],
        "connections": [{"id": "con_dbdbdbdbdbdbdbdb", "name": "Username-Password-Authentication",
                         "strategy": "auth0"}],
        "organizations": [
            {"id": ORG_ID, "name": "acme", "display_name": "Acme Inc.",
             "enabled_connections": [{"connection": "Username-Password-Authentication",
                                      "assign_membership_on_login": False}]},
        ],
        "roles": [{"id": "rol_membr00000000001", "name": "member", "description": "Member"}],
        "users": [],
        "members": [],
    }


async def _me(request: Request) -> Response:
    user = request.user
    if not user.is_authenticated:
        return JSONResponse({"error": "anonymous"}, status_code=401)
    return JSONResponse({"email": user.email, "organization": user.organization.id if user.organization else None})


async def _home(request: Request) -> Response:
    return PlainTextResponse("home")


def app_under_orginvite(tenant_url: str, app_url: str, http_client: httpx2.AsyncClient | None = None) -> Any:
    inner = Starlette(routes=[Route("/", _home), Route("/me", _me)])
    settings = Settings(issuer=tenant_url + "/", client_id=APP_CLIENT, client_secret=APP_SECRET,
                        secret_keys=(SECRET_KEY,), base_url=app_url)
    return OrgInviteMiddleware(inner, settings, http_client=http_client)


class Router(httpx2.AsyncBaseTransport):
    """One transport for several in-process ASGI apps, chosen by the request's origin."""

    def __init__(self, apps: dict[str, Any]) -> None:
        self.transports = {origin: httpx2.ASGITransport(app=app) for origin, app in apps.items()}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        return await self.transports[origin].handle_async_request(request)


class InProcessWorld:
    """The dev tenant and the app, in-process, at fixed loopback-looking origins that no socket ever serves."""

    tenant_url = "http://127.0.0.1:18101"
    app_url = "http://127.0.0.1:18102"

    def __init__(self) -> None:
        self.tenant = DevTenant(config=tenant_config(self.app_url))
        holder: dict[str, Any] = {}

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await holder["app"](scope, receive, send)

        self.transport = Router({self.tenant_url: self.tenant.app, self.app_url: app})
        backend = httpx2.AsyncClient(transport=self.transport)  # the middleware's own client, to the tenant
        holder["app"] = app_under_orginvite(self.tenant_url, self.app_url, backend)
        self._backend = backend

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=self.transport, follow_redirects=False, timeout=30)

    async def aclose(self) -> None:
        await self._backend.aclose()
        self.tenant.close()


async def management_token(client: httpx2.AsyncClient, tenant_url: str) -> str:
    response = await client.post(tenant_url + "/oauth/token", data={
        "grant_type": "client_credentials", "client_id": M2M_CLIENT, "client_secret": M2M_SECRET,
        "audience": tenant_url + "/api/v2/"})
    response.raise_for_status()
    return response.json()["access_token"]


async def create_invitation(client: httpx2.AsyncClient, tenant_url: str, token: str, email: str) -> dict[str, Any]:
    body = {"inviter": {"name": "Bench"}, "invitee": {"email": email}, "client_id": APP_CLIENT,
            "roles": ["rol_membr00000000001"], "send_invitation_email": False}
    response = await client.post(f"{tenant_url}/api/v2/organizations/{ORG_ID}/invitations", json=body,
                                 headers={"authorization": f"Bearer {token}"})
    if response.status_code != 201 and response.status_code != 200:
        raise FlowError(f"create invitation: HTTP {response.status_code} {response.text[:200]}")
    return response.json()


async def count_members(client: httpx2.AsyncClient, tenant_url: str, token: str) -> int:
    total, page = 0, 0
    while True:
        response = await client.get(f"{tenant_url}/api/v2/organizations/{ORG_ID}/members",
                                    params={"page": page, "per_page": 100},
                                    headers={"authorization": f"Bearer {token}"})
        response.raise_for_status()
        members = response.json()
        members = members["members"] if isinstance(members, dict) else members
        total += len(members)
        if len(members) < 100:
            return total
        page += 1


class FlowError(Exception):
    pass


def _form(html: str) -> tuple[str, dict[str, str]]:
    action = _FORM.search(html)
    if action is None:
        raise FlowError("no form on the hosted page")
    fields = {}
    for raw in _INPUT.findall(html):
        attrs = dict(_ATTR.findall(raw))
        if "name" in attrs:
            fields[attrs["name"]] = unescape(attrs.get("value", ""))
    return unescape(action.group(1)), fields


async def accept(browser: httpx2.AsyncClient, invitation_url: str, app_url: str, email: str) -> None:
    """A browser accepting an invitation: link, hosted sign-up, callback, then a signed-in request."""
    response = await browser.get(invitation_url)
    if response.status_code != 302:
        raise FlowError(f"/login: HTTP {response.status_code}")
    for _ in range(10):  # to the hosted page
        if response.status_code not in (301, 302, 303):
            break
        response = await browser.get(urljoin(str(response.url), response.headers["location"]))
    if response.status_code != 200 or "/u/signup" not in str(response.url):
        raise FlowError(f"expected the hosted sign-up page, got HTTP {response.status_code} at {response.url}")
    action, fields = _form(response.text)
    fields.update(email=email, name="Bench " + email.split("@")[0], password=PASSWORD)
    response = await browser.post(urljoin(str(response.url), action), data=fields)
    for _ in range(10):  # back to the app's callback, then home
        if response.status_code not in (301, 302, 303):
            break
        response = await browser.get(urljoin(str(response.url), response.headers["location"]))
    me = await browser.get(app_url + "/me")
    if me.status_code != 200 or me.json().get("organization") != ORG_ID:
        raise FlowError(f"/me after the flow: HTTP {me.status_code} {me.text[:200]}")


def new_email() -> str:
    return f"invitee{next(_serial)}@bench.test"
