"""What both front-ends of the team workspace share: configuration, the Management API calls, form checks, CSRF.

Built on orginvite's public API (``orginvite``, ``orginvite.management``, ``orginvite.emails``) and a few of its
helpers (``orginvite.config.env_value``, ``orginvite.forms``, ``orginvite.management.mailer``,
``orginvite.tenancy.rules``, ``orginvite.text``, ``orginvite.i18n``: the pages are localized with orginvite's
catalogs and locale negotiation, the way an app adds its own messages). The Starlette app
(``example_app.workspace``) and the FastAPI app (``example_app.fastapi_app``) only differ in how they route.

Who may invite is decided from the Management API (the member's roles in the organization right now), not from
the session's roles (the ID token's claim, refreshed only by revalidation): it works on an Auth0 tenant without a
roles Action, and a demoted admin loses the invite form on the next request instead of minutes later. Who may read
invoices is orginvite's permission guard (``requires_permissions``, ``orginvite.fastapi.require_permissions``):
the ``invoices:read`` permission of the session's API access token, the same claim the API itself checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import FileSystemLoader, Undefined
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from orginvite import (
    Catalogs,
    OrgUser,
    Settings,
    current_organization,
    current_organizations,
    switch_organization_url,
    use_locale,
)
from orginvite.config import env_value
from orginvite.emails import EmailRenderer
from orginvite.errors import ConfigurationError
from orginvite.forms import read_urlencoded_form
from orginvite.i18n.locales import negotiate_accept_language, to_bcp47
from orginvite.i18n.rendering import create_environment
from orginvite.i18n.translations import current_locale
from orginvite.management import (
    BadRequestError,
    ConflictError,
    InviteResult,
    ManagementAPIError,
    ManagementClient,
    NotFoundError,
    invite,
    resend_invitation,
    revoke_invitation,
)
from orginvite.management.errors import InvitationEmailError
from orginvite.management.mailer import SmtpInvitationSender, sender_from_env
from orginvite.tenancy.rules import TenancyError, effective_host, host_allowed
from orginvite.text import has_hidden_characters

__all__ = [
    "DEV_TENANT",
    "INVOICES_READ",
    "FormError",
    "InviteForm",
    "LocalizedPages",
    "Member",
    "NotAMember",
    "PendingInvitation",
    "SwitcherEntry",
    "Workspace",
    "WorkspaceConfig",
    "csrf_ok",
    "csrf_token",
    "organization_switcher",
    "own_origin",
    "parse_invite_form",
    "read_form",
    "wants_json",
]

logger = logging.getLogger("example_app")

#: The seeded demo tenant of ``orginvite tenant serve`` (its README-documented credentials). The app side never
#: imports orginvite.devtenant: these are plain configuration values, as they would be for Auth0.
DEV_TENANT = {
    "issuer": "http://127.0.0.1:8765/",
    "client_id": "demo-web-app",
    "client_secret": "demo-web-app-secret-for-local-development-only",
    "management_client_id": "demo-m2m",
    "management_client_secret": "demo-m2m-secret-for-local-development-only",
    "base_url": "http://127.0.0.1:8000",
    "organization": "acme",
    "audience": "https://api.acme.test/",
    "scope": "openid profile email offline_access",
    "smtp_url": "smtp://127.0.0.1:1025?starttls=off",
    "email_from": "Team workspace <no-reply@workspace.test>",
}

#: The workspace's own messages (gettext domain "workspace", in example_app/locales) over orginvite's catalogs:
#: the pages speak every language the invitation emails do. Workflow: example_app/locales/README.md.
CATALOGS = Catalogs([Path(__file__).with_name("locales")], domain="workspace")

#: One environment for every locale (orginvite's): {% trans %} follows the request's locale (see LocalizedPages).
TEMPLATES = create_environment(
    FileSystemLoader(Path(__file__).with_name("templates")),  # every variable escaped, untrusted or not
    catalogs=CATALOGS,
    undefined=Undefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _(message: str, **variables: Any) -> str:
    """``message`` in the request's locale, its ``%(name)s`` placeholders filled: for messages made in Python."""
    text = CATALOGS.translations(current_locale()).gettext(message)
    return text % variables if variables else text


def N_(message: str) -> str:  # gettext's name for "mark for extraction, translate when shown"
    return message


class LocalizedPages:
    """Each request in the language its browser asks for (``Accept-Language``), among the locales of
    :data:`CATALOGS`: the session carries no locale (an ID token has ``locale`` only when the profile has one).
    The pages, their messages and ``Content-Language`` follow it; nothing else changes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("accept-language")
        resolution = negotiate_accept_language(CATALOGS.available, header, CATALOGS.default_locale)
        with use_locale(resolution.locale):
            await self.app(scope, receive, send)


def page_headers(settings: Settings | None = None) -> dict[str, str]:
    """The security headers, and the language the page is in. With ``settings``, ``form-action`` also allows the
    provider's origin: the sign-out form's POST is redirected there (RP-initiated logout), and browsers apply
    ``form-action`` to a form's redirects too."""
    headers = {**SECURITY_HEADERS, "content-language": to_bcp47(current_locale())}
    if settings is not None:
        parts = urlsplit(settings.issuer)
        headers["content-security-policy"] = headers["content-security-policy"].replace(
            "form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}")
    return headers

SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

#: The permission of the app's API (Auth0 RBAC) that the invoices page and the API both ask for.
INVOICES_READ = "invoices:read"


def wants_json(request: Request) -> bool:
    """The client asks for JSON rather than a page (a script, a fetch() call): ``Accept`` names JSON, not HTML."""
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "text/html" not in accept


MAX_FORM_BYTES = 8192
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f<>,;\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
MAX_NAME = 100
LANGUAGE_NAMES = {
    "ar": "العربية", "de": "Deutsch", "en": "English", "es": "Español", "fr": "Français", "ja": "日本語",
    "pt": "Português", "pt-BR": "Português (Brasil)",
}



@dataclass(frozen=True)
class WorkspaceConfig:
    """Everything the workspace needs. :meth:`from_env` reads the login flow's variables, or falls back to the dev
    tenant of ``orginvite tenant serve`` when no issuer is set."""

    login: Settings
    management_domain: str
    management_client_id: str
    management_client_secret: str
    smtp_url: str
    email_from: str
    management_audience: str | None = None
    organization: str | None = None  # organization the "Sign in" button asks for (name or org_ ID)
    admin_role: str = "admin"
    app_name: str = "Team workspace"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkspaceConfig:
        env = dict(os.environ if environ is None else environ)
        dev = env_value(env, "ORGINVITE_ISSUER", "AUTH0_DOMAIN") is None
        if dev:  # nothing configured: the dev tenant on its default port, as `orginvite tenant serve` runs it
            env.setdefault("ORGINVITE_ISSUER", DEV_TENANT["issuer"])
            env.setdefault("ORGINVITE_CLIENT_ID", DEV_TENANT["client_id"])
            env.setdefault("ORGINVITE_CLIENT_SECRET", DEV_TENANT["client_secret"])
            env.setdefault("ORGINVITE_BASE_URL", DEV_TENANT["base_url"])
            env.setdefault("ORGINVITE_MANAGEMENT_CLIENT_ID", DEV_TENANT["management_client_id"])
            env.setdefault("ORGINVITE_MANAGEMENT_CLIENT_SECRET", DEV_TENANT["management_client_secret"])
            env.setdefault("ORGINVITE_SMTP_URL", DEV_TENANT["smtp_url"])
            env.setdefault("ORGINVITE_EMAIL_FROM", DEV_TENANT["email_from"])
            env.setdefault("WORKSPACE_ORGANIZATION", DEV_TENANT["organization"])
            env.setdefault("ORGINVITE_AUDIENCE", DEV_TENANT["audience"])  # the demo tenant's Acme API
            env.setdefault("ORGINVITE_SCOPE", DEV_TENANT["scope"])
            if not env_value(env, "ORGINVITE_SECRET_KEYS"):
                logger.warning("ORGINVITE_SECRET_KEYS not set: using a random key (sessions end on restart)")
                env["ORGINVITE_SECRET_KEYS"] = secrets.token_urlsafe(32)
        if env_value(env, "ORGINVITE_MANAGEMENT_DOMAIN") is None:
            # The login flow asks the Management API too (the header's organization switcher, revalidation), at
            # the issuer: the same machine-to-machine app, also when it is given under its AUTH0_M2M_* names.
            for name, alias in (("ORGINVITE_MANAGEMENT_CLIENT_ID", "AUTH0_M2M_CLIENT_ID"),
                                ("ORGINVITE_MANAGEMENT_CLIENT_SECRET", "AUTH0_M2M_CLIENT_SECRET")):
                value = env_value(env, name, alias)
                if value is not None:
                    env[name] = value
        login = Settings.from_env(env)
        domain = env_value(env, "ORGINVITE_MANAGEMENT_DOMAIN") or login.issuer
        client_id = env_value(env, "ORGINVITE_MANAGEMENT_CLIENT_ID", "AUTH0_M2M_CLIENT_ID")
        client_secret = env_value(env, "ORGINVITE_MANAGEMENT_CLIENT_SECRET", "AUTH0_M2M_CLIENT_SECRET")
        if not client_id:
            raise ConfigurationError(
                "ORGINVITE_MANAGEMENT_CLIENT_ID (or AUTH0_M2M_CLIENT_ID)", "is missing: the machine-to-machine app"
            )
        if not client_secret:
            raise ConfigurationError("ORGINVITE_MANAGEMENT_CLIENT_SECRET (or AUTH0_M2M_CLIENT_SECRET)", "is missing")
        smtp_url = env_value(env, "ORGINVITE_SMTP_URL")
        email_from = env_value(env, "ORGINVITE_EMAIL_FROM")
        if not smtp_url:
            raise ConfigurationError("ORGINVITE_SMTP_URL", "is missing: invitation emails are sent over SMTP")
        if not email_from:
            raise ConfigurationError("ORGINVITE_EMAIL_FROM", "is missing: the From address of invitation emails")
        return cls(
            login=login,
            management_domain=domain,
            management_client_id=client_id,
            management_client_secret=client_secret,
            management_audience=env_value(env, "ORGINVITE_MANAGEMENT_AUDIENCE"),
            smtp_url=smtp_url,
            email_from=email_from,
            organization=env_value(env, "WORKSPACE_ORGANIZATION"),
            admin_role=env_value(env, "WORKSPACE_ADMIN_ROLE") or "admin",
            app_name=env_value(env, "WORKSPACE_APP_NAME") or "Team workspace",
        )

    @property
    def sign_in_path(self) -> str:
        path = self.login.login_path
        return f"{path}?{urlencode({'organization': self.organization})}" if self.organization else path


# -- forms ------------------------------------------------------------------------------------------------------


class FormError(ValueError):
    """A form field is wrong; ``field`` names it and the message says how to fix it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


async def read_form(request: Request) -> dict[str, list[str]] | None:
    """The posted form, field -> values (checkboxes repeat); None when it is not a small urlencoded form."""
    pairs = await read_urlencoded_form(request, max_bytes=MAX_FORM_BYTES, max_fields=50)
    if pairs is None:
        return None
    form: dict[str, list[str]] = {}
    for key, value in pairs:
        form.setdefault(key, []).append(value)
    return form


def _one(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or []
    if len(values) > 1:
        raise FormError(name, _("%(field)s was sent more than once", field=name))
    return values[0] if values else ""


@dataclass(frozen=True)
class InviteForm:
    email: str
    name: str | None
    role_ids: tuple[str, ...]
    language: str


def parse_invite_form(
    form: Mapping[str, Sequence[str]], roles: Mapping[str, str], languages: Sequence[str]
) -> InviteForm:
    """Check the invite form against the organization's roles (``{id: name}``) and the email languages."""
    email = _one(form, "email").strip()
    if not email:
        raise FormError("email", _("Enter the email address of the person to invite."))
    if len(email) > 254 or not _EMAIL.match(email):
        raise FormError("email", _("This is not an email address (expected something like name@example.com)."))
    name = _one(form, "name").strip()
    if len(name) > MAX_NAME:
        raise FormError("name", _("The name is too long (at most %(max)d characters).", max=MAX_NAME))
    if _CONTROL.search(name) or has_hidden_characters(name):  # the bulk CSV's rule: no controls, no bidi overrides
        raise FormError("name", _("The name must be one line of text, without invisible or direction characters."))
    role_ids = tuple(dict.fromkeys(form.get("roles") or []))
    unknown = [role for role in role_ids if role not in roles]
    if unknown:
        raise FormError("roles", _("Pick roles from the list (one of them does not exist)."))
    if not role_ids:
        raise FormError("roles", _("Pick at least one role."))
    language = _one(form, "language").strip()
    if language not in languages:
        raise FormError("language", _("Pick the language of the invitation email from the list."))
    return InviteForm(email=email, name=name or None, role_ids=role_ids, language=language)


# -- CSRF -------------------------------------------------------------------------------------------------------


def _csrf_key(settings: Settings) -> bytes:
    key = settings.secret_keys[0]
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, b"example_app.csrf", hashlib.sha256).digest()


def csrf_token(settings: Settings, user: OrgUser) -> str:
    """A token bound to this session (user, organization, session expiry): stateless, like the session itself."""
    org = user.organization.id if user.organization else ""
    message = f"{user.sub}\x00{org}\x00{user.expires_at}".encode()
    digest = hmac.new(_csrf_key(settings), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def own_origin(settings: Settings, request: Request) -> str:
    """The origin this request was made to: ``base_url``'s, or under multi-tenant routing the organization's own
    host (the middleware has already refused any host the tenancy rules do not serve; forwarded headers count only
    from a trusted proxy, as there)."""
    base = urlsplit(settings.base_url)
    rules = settings.tenancy
    if rules is None:
        return f"{base.scheme}://{base.netloc}"
    client = request.client
    try:
        host = effective_host(request.scope["headers"], client.host if client else None, rules)
    except TenancyError:
        return f"{base.scheme}://{base.netloc}"
    return f"{base.scheme}://{host}" if host_allowed(host, rules) else f"{base.scheme}://{base.netloc}"


def csrf_ok(settings: Settings, request: Request, user: OrgUser, token: str) -> bool:
    """The token matches the session and the request does not visibly come from another site."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null" and origin != own_origin(settings, request):
        return False
    if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return False
    return bool(token) and hmac.compare_digest(token.encode(), csrf_token(settings, user).encode())


# -- the Management API side ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    user_id: str
    name: str
    email: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class PendingInvitation:
    """An invitation as the page shows it: never its ticket or URL (a bearer secret until accepted)."""

    id: str
    email: str
    inviter: str
    roles: tuple[str, ...]
    language: str | None
    expires_at: str


@dataclass
class Workspace:
    """The Management API calls of the workspace; one per app (one HTTP connection pool, one cached token)."""

    config: WorkspaceConfig
    client: ManagementClient | None = None
    sender: SmtpInvitationSender | None = None
    languages: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        c = self.config
        if self.client is None:
            self.client = ManagementClient(
                c.management_domain, c.management_client_id, c.management_client_secret,
                audience=c.management_audience,
                on_invitation_event=c.login.on_invitation_event,  # one sink for both sides' lifecycle events
            )
        renderer = EmailRenderer()
        if self.sender is None:
            self.sender = sender_from_env(
                {"ORGINVITE_SMTP_URL": c.smtp_url, "ORGINVITE_EMAIL_FROM": c.email_from}, renderer=renderer
            )
        if not self.languages:
            self.languages = tuple(to_bcp47(locale) for locale in renderer.available_locales)

    @property
    def api(self) -> ManagementClient:
        assert self.client is not None
        return self.client

    async def aclose(self) -> None:
        await self.api.aclose()

    async def organization(self, org_id: str) -> dict[str, Any]:
        return await self.api.get_organization(org_id)

    async def roles(self) -> dict[str, str]:
        """``{role id: role name}`` of the tenant's roles, in the API's order."""
        return {str(role["id"]): str(role.get("name") or role["id"]) async for role in self.api.iter_roles()}

    async def member_roles(self, org_id: str, user_id: str) -> tuple[str, ...]:
        page = await self.api.list_member_roles(org_id, user_id, per_page=100)
        return tuple(str(role.get("name") or role.get("id")) for role in page.items)

    async def members(self, org_id: str) -> list[Member]:
        members = []
        async for record in self.api.iter_members(org_id):
            user_id = str(record.get("user_id", ""))
            if not user_id:
                continue
            members.append(Member(
                user_id=user_id,
                name=str(record.get("name") or ""),
                email=str(record.get("email") or ""),
                roles=await self.member_roles(org_id, user_id),
            ))
        return sorted(members, key=lambda m: (m.name or m.email).lower())

    async def pending(self, org_id: str, roles: Mapping[str, str]) -> list[PendingInvitation]:
        pending = []
        async for record in self.api.iter_invitations(org_id):
            metadata = record.get("user_metadata") or {}
            pending.append(PendingInvitation(
                id=str(record.get("id", "")),
                email=str((record.get("invitee") or {}).get("email", "")),
                inviter=str((record.get("inviter") or {}).get("name", "")),
                roles=tuple(roles.get(str(r), str(r)) for r in record.get("roles") or []),
                language=metadata.get("lang") if isinstance(metadata, Mapping) else None,
                expires_at=_when(record.get("expires_at")),
            ))
        return pending

    async def is_admin(self, org_id: str, user: OrgUser) -> bool:
        try:
            return self.config.admin_role in await self.member_roles(org_id, user.sub)
        except NotFoundError:  # not (or no longer) a member of the organization
            return False

    async def invite(self, org_id: str, inviter: OrgUser, form: InviteForm) -> InviteResult:
        assert self.sender is not None
        return await invite(
            self.api,
            await self.organization(org_id),
            form.email,
            client_id=self.config.login.client_id,
            inviter_name=inviter.display_name,
            sender=self.sender,
            name=form.name,
            roles=form.role_ids,
            language=form.language,
            application={"name": self.config.app_name},
        )

    async def resend(self, org_id: str, invitation_id: str, actor: OrgUser | None = None) -> InviteResult:
        """Renew the invitation (a fresh one, a new expiry, its email sent); the old link stops working."""
        assert self.sender is not None
        if not _ID.match(invitation_id):
            raise FormError("invitation", _("This is not an invitation ID."))
        return await resend_invitation(
            self.api, await self.organization(org_id), invitation_id, sender=self.sender,
            application={"name": self.config.app_name}, actor=actor.display_name if actor else None,
        )

    async def revoke(self, org_id: str, invitation_id: str, actor: OrgUser | None = None) -> None:
        if not _ID.match(invitation_id):
            raise FormError("invitation", _("This is not an invitation ID."))
        await revoke_invitation(self.api, org_id, invitation_id, actor=actor.display_name if actor else None)


#: What an action may fail with, short of a bug: each has a message for the page (see :func:`describe_failure`).
EXPECTED_FAILURES = (FormError, ValueError, InvitationEmailError, ManagementAPIError)


def _when(value: Any) -> str:
    """``2026-12-08T17:50:14.912Z`` -> ``2026-12-08 17:50 UTC`` (what the API gives, shorter)."""
    text = str(value or "")
    if re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d", text) and text.endswith("Z"):
        return text[:16].replace("T", " ") + " UTC"
    return text


def describe_failure(exc: Exception) -> tuple[int, str]:
    """(status, message) for one of :data:`EXPECTED_FAILURES`; the page escapes the message."""
    if isinstance(exc, FormError):
        return 400, exc.message
    if isinstance(exc, InvitationEmailError):
        return 502, _("The invitation for %(email)s was created, but its email could not be sent. Check the SMTP "
                      "settings, then revoke it and invite again.", email=exc.email)
    if isinstance(exc, ValueError):  # a language or role the invite() call refused before creating anything
        return 400, str(exc)
    if isinstance(exc, NotFoundError):
        return 404, _("That invitation no longer exists (accepted, expired or revoked already).")
    if isinstance(exc, BadRequestError | ConflictError):
        return 400, _("The identity provider refused: %(reason)s", reason=exc.message)
    return 502, _("The identity provider's Management API is unavailable or refused our credentials. Try again.")


class NotAMember(Exception):
    """The session names an organization the user no longer belongs to (removed since signing in)."""


NOTICES = {"invited": N_("Invitation sent."), "revoked": N_("Invitation revoked."),  # translated when shown
           "resent": N_("Invitation renewed: a new link was sent and the old one no longer works.")}


async def dashboard_context(
    workspace: Workspace,
    user: OrgUser,
    org_id: str,
    *,
    form: Mapping[str, Any] | None = None,
    error: FormError | None = None,
    notice: str | None = None,
    permissions: Sequence[str] = (),
) -> dict[str, Any]:
    """The dashboard's data: the organization, its members with roles, the invoices link when ``permissions`` (the
    session's, ``current_permissions(request)``) include :data:`INVOICES_READ`, and for admins the invite form's
    choices and the pending invitations. Raises ManagementAPIError when the API cannot answer, NotAMember when the
    session's user was removed from the organization since signing in."""
    organization = await workspace.organization(org_id)
    members = await workspace.members(org_id)
    if not any(member.user_id == user.sub for member in members):
        raise NotAMember(org_id)
    mine = next(member.roles for member in members if member.user_id == user.sub)
    is_admin = workspace.config.admin_role in mine
    roles = await workspace.roles() if is_admin else {}
    return {
        "organization": organization,
        "members": members,
        "my_roles": mine,
        "is_admin": is_admin,
        "can_read_invoices": INVOICES_READ in permissions,
        "roles": roles,
        "languages": [(tag, LANGUAGE_NAMES.get(tag, tag)) for tag in workspace.languages],
        "pending": await workspace.pending(org_id, roles) if is_admin else [],
        "form": {"email": "", "name": "", "roles": [], "language": "en", **(form or {})},
        "error": error,
        "notice": _(NOTICES[notice]) if notice in NOTICES else None,
        "notice_code": notice if notice in NOTICES else None,
        "csrf_token": csrf_token(workspace.config.login, user),
    }


def echo_form(form: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """What the user typed, to fill the form again after an error (escaped by the template)."""
    first = {name: (form.get(name) or [""])[0][:300] for name in ("email", "name", "language")}
    return {**first, "roles": list(form.get("roles") or [])[:50]}


def organization_id(request: Request) -> str | None:
    org = current_organization(request)
    return org.id if org is not None and org.id else None


@dataclass(frozen=True)
class SwitcherEntry:
    """One organization in the header's switcher; the current one has no link (``url`` is None)."""

    id: str
    label: str
    url: str | None


async def organization_switcher(request: Request, return_to: str = "/") -> list[SwitcherEntry]:
    """The header's organization switcher: the signed-in member's organizations, the current one marked and the
    others linked to ``switch_organization_url`` (a silent ``prompt=none`` switch, landing on ``return_to``).
    Empty unless there are at least two: a member of one organization has nothing to switch to, and neither has
    anyone while the Management API is down (``current_organizations`` then lists only the session's). The
    switcher never fails a page: anything unexpected hides it and is logged."""
    current = organization_id(request)
    if current is None:
        return []
    try:
        organizations = await current_organizations(request)
        if len(organizations) < 2:
            return []
        return [SwitcherEntry(org.id, org.label,
                              None if org.id == current else switch_organization_url(request, org, return_to))
                for org in organizations]
    except Exception:  # the switcher is a convenience: the page renders without it
        logger.exception("organization switcher unavailable")
        return []


def render(name: str, **context: Any) -> str:
    return TEMPLATES.get_template(name).render(**context)
