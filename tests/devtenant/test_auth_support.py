"""Shared helpers for the Authentication API tests: a tenant config, a clock, and a form-filling HTTP "browser".

(Named test_auth_*.py to live among this helper's files; it holds no tests.)
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx2
from joserfc import jwt
from joserfc.jwk import KeySet

from orginvite.devtenant.app import DevTenant

CALLBACK = "http://127.0.0.1:8000/callback"
ACME = "org_acme000000000001"
OPEN = "org_open000000000001"
CLOSED = "org_clos000000000001"
ROLES_CLAIM = "https://orginvite.dev/roles"
PASSWORD = "correct horse battery"
M2M_SCOPES = [
    "read:organizations",
    "create:organization_invitations",
    "read:organization_invitations",
    "read:organization_members",
    "read:organization_member_roles",
]


def _web(client_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "client_secret": f"{client_id}-secret",
        "name": client_id,
        "app_type": "regular_web",
        "callbacks": [CALLBACK, "https://*.app.test/callback"],
        "allowed_logout_urls": ["http://127.0.0.1:8000/", "https://*.app.test/bye"],
        "initiate_login_uri": "https://app.test/login",
        "organization_usage": "allow",
        "organization_require_behavior": "no_prompt",
        "grant_types": ["authorization_code", "refresh_token"],
        **extra,
    }


def tenant_config(*, names: bool = True, acme_display: str = "Acme Inc.", acme_primary: str = "#0059d6") -> dict:
    return {
        "tenant": {
            "friendly_name": "Acme Dev",
            "allow_organization_name_in_authentication_api": names,
            "id_token_roles_claim": ROLES_CLAIM,
        },
        "clients": [
            _web("webapp"),
            _web("required", organization_usage="require"),
            _web("prompted", organization_usage="require", organization_require_behavior="pre_login_prompt"),
            _web("picker", organization_usage="require", organization_require_behavior="post_login_prompt"),
            _web("noorgs", organization_usage="deny"),
            _web("implicit", app_type="non_interactive", grant_types=["client_credentials"]),
            {
                "client_id": "m2m",
                "client_secret": "m2m-secret",
                "name": "Backend",
                "app_type": "non_interactive",
                "callbacks": [],
                "allowed_logout_urls": [],
                "grant_types": ["client_credentials"],
                "scopes": M2M_SCOPES,
            },
        ],
        "connections": [
            {"id": "con_dbdbdbdbdbdbdbdb", "name": "Username-Password-Authentication", "strategy": "auth0"},
        ],
        "organizations": [
            {
                "id": ACME,
                "name": "acme",
                "display_name": acme_display,
                "branding": {
                    "logo_url": "https://cdn.acme.test/logo.png",
                    "colors": {"primary": acme_primary, "page_background": "#f4f4f5"},
                },
                "enabled_connections": [
                    {"connection": "Username-Password-Authentication", "assign_membership_on_login": False}
                ],
            },
            {
                "id": OPEN,
                "name": "open",
                "display_name": "Open Co",
                "metadata": {"lang": "ja"},
                "enabled_connections": [
                    {"connection": "Username-Password-Authentication", "assign_membership_on_login": True}
                ],
            },
            {"id": CLOSED, "name": "closed", "display_name": "Closed Co", "enabled_connections": []},
        ],
        "roles": [
            {"id": "rol_admin00000000001", "name": "admin", "description": "Manages the workspace"},
            {"id": "rol_membr00000000001", "name": "member", "description": "Uses the workspace"},
        ],
        "users": [
            {"email": "ann@acme.test", "password": PASSWORD, "name": "Ann Admin", "email_verified": True},
            {"email": "carl@else.test", "password": PASSWORD, "name": "Carl Outsider", "email_verified": True},
        ],
        "members": [{"organization": "acme", "user": "ann@acme.test", "roles": ["admin"]}],
    }


class Clock:
    """The tenant's clock, moved by tests to expire codes and invitations."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@contextmanager
def running(config: dict | None = None, clock: Clock | None = None) -> Iterator[tuple[DevTenant, str]]:
    tenant = DevTenant(config=config or tenant_config(), clock=clock or Clock())
    with tenant.serve() as server:
        yield tenant, server.url


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def make_invitation(
    tenant: DevTenant, email: str, *, org_id: str = ACME, roles: list[str] | None = None, ttl: float = 604800
) -> dict[str, Any]:
    now = tenant.now()
    iso = lambda t: datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
    ticket = secrets.token_urlsafe(24)
    return tenant.store.create_invitation(
        {
            "id": "uinv_" + secrets.token_hex(8),
            "organization_id": org_id,
            "inviter": {"name": "Ann Admin"},
            "invitee": {"email": email},
            "invitation_url": f"https://app.test/login?invitation={ticket}&organization={org_id}",
            "created_at": iso(now),
            "expires_at": iso(now + ttl),
            "client_id": "webapp",
            "connection_id": "con_dbdbdbdbdbdbdbdb",
            "app_metadata": {},
            "user_metadata": {},
            "roles": roles if roles is not None else ["rol_membr00000000001"],
            "ticket_id": ticket,
            "send_invitation_email": False,
        }
    )


class Form:
    def __init__(self, action: str, method: str) -> None:
        self.action = action
        self.method = method
        self.fields: dict[str, str] = {}
        self.readonly: set[str] = set()
        self.buttons: list[tuple[str, str]] = []


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").upper()))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1].fields[a["name"]] = a.get("value", "")
            if "readonly" in a:
                self.forms[-1].readonly.add(a["name"])
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1].buttons.append((a["name"], a.get("value", "")))


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class Browser:
    """An httpx2 client that follows the tenant's redirects and stops at the app's callback, keeping cookies."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx2.Client(base_url=base, follow_redirects=False, timeout=10)
        self.page: httpx2.Response | None = None

    def close(self) -> None:
        self.http.close()

    def _follow(self, response: httpx2.Response) -> httpx2.Response:
        for _ in range(10):
            if response.status_code not in (301, 302, 303) or "location" not in response.headers:
                break
            target = urljoin(str(response.url), response.headers["location"])
            if not target.startswith(self.base):
                break  # left the tenant: the callback
            response = self.http.get(target)
        self.page = response
        return response

    def authorize(self, **params: str) -> httpx2.Response:
        params.setdefault("response_type", "code")
        params.setdefault("client_id", "webapp")
        params.setdefault("redirect_uri", CALLBACK)
        params.setdefault("scope", "openid profile email")
        params.setdefault("state", secrets.token_urlsafe(8))
        return self._follow(self.http.get("/authorize?" + urlencode(params)))

    def form(self, index: int = 0) -> Form:
        assert self.page is not None
        return forms_of(self.page.text)[index]

    def submit(self, values: dict[str, str] | None = None, *, form: Form | None = None) -> httpx2.Response:
        form = form or self.form()
        data = {**form.fields, **(values or {})}
        response = self.http.post(urljoin(str(self.page.url), form.action), data=data)  # type: ignore[union-attr]
        return self._follow(response)


def callback_params(response: httpx2.Response) -> dict[str, str]:
    """The query the browser was sent back to the app's callback with."""
    assert response.status_code == 302, response.text[:500]
    location = response.headers["location"]
    assert location.startswith(CALLBACK) or ".app.test/" in location, location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(
    base: str, code: str, verifier: str | None, *, client_id: str = "webapp", redirect_uri: str = CALLBACK
) -> httpx2.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    return httpx2.post(base + "/oauth/token", data=data, auth=(client_id, f"{client_id}-secret"), timeout=10)


def verify_jwt(base: str, token: str) -> dict[str, Any]:
    """Verify against the published JWKS, fetched over HTTP as a relying party would."""
    jwks = httpx2.get(base + "/.well-known/jwks.json", timeout=10).json()
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    return dict(decoded.claims)


def sign_in(base: str, browser: Browser, email: str = "ann@acme.test", **params: str) -> dict[str, str]:
    """Authorize, fill the login form (unless the SSO session answers at once), return the callback parameters."""
    page = browser.authorize(**params)
    if page.status_code == 302:
        return callback_params(page)
    assert page.status_code == 200, page.text[:500]
    return callback_params(browser.submit({"email": email, "password": PASSWORD}))
