"""Email (and page) previews: what a translator or a developer needs to see every email in every locale.

A mountable ASGI app in the spirit of Rails' ActionMailer previews: an index by locale, a detail page with a
locale switcher and an "auto" mode that shows the locale resolution trace, the HTML in a sandboxed iframe at
mobile and desktop widths, the text part, the HTML source, the headers, an ``.eml`` download, a right-to-left
badge, the messages that fell back to another locale, sample data from query parameters, and a JSON form for
snapshot tests. The login flow's pages are previewed the same way.

It is a development tool: off unless turned on (``enabled=True`` or ``ORGINVITE_PREVIEWS=1``), and it refuses
non-local clients (and any proxied request) unless ``allow_remote=True``. Local-only, it also answers only
requests addressed to a loopback name (``localhost``, ``127.0.0.1``...) or one of ``allowed_hosts``: a
DNS-rebinding page (its own name re-resolved to 127.0.0.1) is a local client, but its ``Host`` is its own.

    app = Starlette(routes=[Mount("/_previews", app=EmailPreviews(enabled=True))])
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import jinja2.meta
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from orginvite.emails.local import is_local_client
from orginvite.emails.message import build_message
from orginvite.emails.model import Invitation, sample_invitation
from orginvite.emails.renderer import EmailRenderer, RenderedEmail, RenderError
from orginvite.errors import OrgInviteError
from orginvite.i18n import locales
from orginvite.i18n.rendering import DateOutOfRangeError, in_timezone
from orginvite.i18n.translations import UnknownTimezoneError, parse_timezone
from orginvite.loopback import scope_host_allowed

__all__ = ["EmailPreviews", "Preview", "PreviewError", "PreviewParams", "preview_json", "render_preview"]

PREVIEW_TEMPLATES = Path(__file__).resolve().parent / "templates" / "preview"
SAMPLE_SENDER = ("Acme Cloud", "no-reply@example.com")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_MAX_PARAM = 300
# Sample values for the login pages' template variables (unknown ones get "sample-<name>").
_PAGE_SAMPLES: dict[str, Any] = {
    "home_url": "/",
    "login_url": "/login",
    "retry_url": "/login",
    "action_url": "/login/continue",
    "csrf_token": "preview-token",
    "user_label": "zoe.martin@example.com",
    "code": "missing_organization",
    "field": "organization",
    "message": "The invitation link has no organization.",
    "reason": "access_denied",
}


class PreviewError(OrgInviteError, ValueError):
    """A preview parameter is malformed (answered with 400 and the parameter's name)."""

    def __init__(self, parameter: str, problem: str) -> None:
        self.parameter = parameter
        super().__init__(f"{parameter}: {problem}")


_SAMPLE_TTL = dt.timedelta(days=7)  # the sample invitation's lifetime


def _check_showable(parameter: str, moment: dt.datetime, zone: dt.tzinfo) -> None:
    try:
        in_timezone(moment, zone)
    except DateOutOfRangeError as exc:
        raise PreviewError(parameter, f"{moment.isoformat()} is out of range in {zone}") from exc


@dataclass(frozen=True)
class PreviewParams:
    """What to preview: the email, how to pick the locale, and sample data overrides (all optional)."""

    email: str = "invitation"
    locale: str = "auto"  # a tag, or "auto" to negotiate from lang / ui_locales / accept_language
    lang: str | None = None  # user_metadata["lang"]
    ui_locales: str | None = None
    accept_language: str | None = None
    inviter: str | None = None
    organization: str | None = None
    application: str | None = None
    roles: tuple[str, ...] | None = None
    invitee: str | None = None
    expires_at: str | None = None
    timezone: str | None = None
    now: dt.datetime | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str], **fixed: Any) -> PreviewParams:
        """Parse query parameters (or CLI options): every value length-capped and checked, never trusted."""
        values: dict[str, Any] = {}
        for key in ("locale", "lang", "ui_locales", "accept_language", "inviter", "organization", "application",
                    "invitee", "expires_at", "timezone", "roles", "now"):
            raw = query.get(key)
            if raw is None or raw == "":
                continue
            if len(raw) > _MAX_PARAM:
                raise PreviewError(key, f"longer than {_MAX_PARAM} characters")
            values[key] = raw
        if "roles" in values:
            values["roles"] = tuple(role.strip() for role in values["roles"].split(",") if role.strip())
        zone: dt.tzinfo = dt.UTC  # the sample invitee has no timezone of their own
        if "timezone" in values:
            try:
                zone = parse_timezone(values["timezone"])
            except UnknownTimezoneError as exc:
                raise PreviewError("timezone", "not an IANA timezone name") from exc
        if "expires_at" in values:
            try:
                expires_at = dt.datetime.fromisoformat(values["expires_at"])
            except ValueError as exc:
                raise PreviewError("expires_at", "not an ISO 8601 date-time") from exc
            _check_showable("expires_at", expires_at, zone)
        if "now" in values:
            try:
                now = dt.datetime.fromisoformat(values["now"])
            except ValueError as exc:
                raise PreviewError("now", "not an ISO 8601 date-time") from exc
            values["now"] = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
            if "expires_at" not in values:  # the sample expires 7 days after now
                try:
                    _check_showable("now", values["now"] + _SAMPLE_TTL, zone)
                except OverflowError as exc:
                    raise PreviewError("now", "too close to the year 9999 (the sample expires 7 days later)") from exc
        values.update(fixed)
        return cls(**values)

    def query(self, **changes: Any) -> str:
        """The query string that reproduces these parameters (with ``changes``), for links between views."""
        data = {
            "locale": self.locale,
            "lang": self.lang,
            "ui_locales": self.ui_locales,
            "accept_language": self.accept_language,
            "inviter": self.inviter,
            "organization": self.organization,
            "application": self.application,
            "roles": ",".join(self.roles) if self.roles is not None else None,
            "invitee": self.invitee,
            "expires_at": self.expires_at,
            "timezone": self.timezone,
            "now": self.now.isoformat() if self.now else None,
        }
        data.update(changes)
        return urlencode({key: value for key, value in data.items() if value is not None and value != ""})


@dataclass(frozen=True)
class Preview:
    params: PreviewParams
    invitation: Invitation
    rendered: RenderedEmail
    message: EmailMessage

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(name, str(value)) for name, value in self.message.items()]


def _sample(params: PreviewParams, now: dt.datetime) -> Invitation:
    base = sample_invitation()
    changes: dict[str, Any] = {
        "expires_at": params.expires_at or (now + _SAMPLE_TTL).isoformat().replace("+00:00", "Z"),
        "user_metadata": {"lang": params.lang} if params.lang else {},
    }
    if params.inviter is not None:
        changes["inviter_name"] = params.inviter
    if params.organization is not None:
        changes["organization"] = {**base.organization, "display_name": params.organization}
    if params.application is not None:
        changes["application"] = {**base.application, "name": params.application}
    if params.roles is not None:
        changes["roles"] = tuple({"id": f"rol_sample{i}", "name": name, "description": ""}
                                 for i, name in enumerate(params.roles))
    if params.invitee is not None:
        changes["invitee_email"] = params.invitee
    return sample_invitation(**changes)


def render_preview(
    renderer: EmailRenderer,
    params: PreviewParams,
    *,
    sender: tuple[str, str] = SAMPLE_SENDER,
    clock: Callable[[], dt.datetime] | None = None,
) -> Preview:
    """Render ``params.email`` with sample data; the message gets a fixed Date and Message-ID (snapshot-stable)."""
    if not _NAME.match(params.email):
        raise PreviewError("email", "not an email template name")
    now = params.now or (clock or (lambda: dt.datetime.now(dt.UTC)))()
    invitation = _sample(params, now)
    explicit = None if params.locale == "auto" else params.locale
    rendered = renderer.render(
        invitation,
        locale=explicit,
        ui_locales=params.ui_locales,
        accept_language=params.accept_language,
        timezone=params.timezone,
        email=params.email,
        now=now,
    )
    message = build_message(
        rendered,
        sender=sender,
        to=("Zoé Martin", invitation.invitee_email) if params.invitee is None else invitation.invitee_email,
        date=now,
        message_id=f"<preview.{params.email}.{rendered.locale}@{sender[1].rpartition('@')[2]}>",
    )
    return Preview(params, invitation, rendered, message)


def preview_json(preview: Preview) -> dict[str, Any]:
    """The JSON form (for snapshot tests and the CLI's ``--format json``)."""
    rendered = preview.rendered
    resolution = rendered.resolution
    return {
        "email": preview.params.email,
        "locale": rendered.locale,
        "content_language": rendered.content_language,
        "direction": rendered.direction,
        "subject": rendered.subject,
        "text": rendered.text,
        "html": rendered.html,
        "resolution": {
            "locale": resolution.locale,
            "source": resolution.source,
            "requested": resolution.requested,
            "chain": list(resolution.chain),
            "trace": [
                {"source": a.source, "requested": a.requested, "matched": a.matched} for a in resolution.trace
            ],
        },
        "fallbacks": [{"message": message, "locale": locale} for message, locale in rendered.fallbacks],
        "headers": preview.headers,
    }


_SECURITY_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-robots-tag": "noindex",
}
# The preview UI: no scripts at all; it may frame its own raw endpoints only.
_UI_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; form-action 'self'; base-uri 'none'"
# Rendered emails and pages: a sandboxed document (no scripts, unique origin) that loads nothing remote.
_RAW_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; base-uri 'none'"


class EmailPreviews:
    """The preview ASGI app. ``emails`` names the email templates to list; ``pages`` (an ``orginvite.pages.Pages``
    or None) adds the login flow's pages. ``allowed_hosts`` (exact names or ``*.suffix``) are answered besides
    the loopback names, e.g. ``["*.myapp.test"]`` for an app served on names mapped to 127.0.0.1."""

    def __init__(
        self,
        renderer: EmailRenderer | None = None,
        *,
        enabled: bool | None = None,
        allow_remote: bool = False,
        allowed_hosts: Sequence[str] = (),
        emails: Sequence[str] = ("invitation",),
        pages: Any | None = None,
        include_pages: bool = True,
        sender: tuple[str, str] = SAMPLE_SENDER,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if enabled is None:
            enabled = os.environ.get("ORGINVITE_PREVIEWS", "").strip().lower() in {"1", "true", "yes", "on"}
        self.enabled = enabled
        self.allow_remote = allow_remote
        self.allowed_hosts = tuple(host.strip().lower().removesuffix(".") for host in allowed_hosts)
        self.renderer = renderer or EmailRenderer()
        self.emails = tuple(emails)
        for name in self.emails:
            if not _NAME.match(name):
                raise ValueError(f"not an email template name: {name!r}")
        if pages is None and include_pages:
            from orginvite.login.pages import Pages  # the login side's pages; optional for the email previews

            pages = Pages()
        self.pages = pages
        self.sender = sender
        self.clock = clock
        self.ui = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(PREVIEW_TEMPLATES)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.app = Starlette(
            routes=[
                Route("/", self.index),
                Route("/emails/{email}", self.email_detail),
                Route("/emails/{email}/html", self.email_html),
                Route("/emails/{email}/text", self.email_text),
                Route("/emails/{email}/eml", self.email_eml),
                Route("/emails/{email}/json", self.email_json),
                Route("/pages/{page}", self.page_detail),
                Route("/pages/{page}/html", self.page_html),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if not self.enabled:
                response: Response = PlainTextResponse(
                    "Email previews are off. Turn them on with EmailPreviews(enabled=True) or ORGINVITE_PREVIEWS=1.",
                    status_code=404,
                    headers=_SECURITY_HEADERS,
                )
                await response(scope, receive, send)
                return
            if not self.allow_remote and not is_local_client(scope):
                response = PlainTextResponse(
                    "Email previews only answer local clients (set allow_remote=True to change that).",
                    status_code=403,
                    headers=_SECURITY_HEADERS,
                )
                await response(scope, receive, send)
                return
            if not self.allow_remote and not scope_host_allowed(scope, self.allowed_hosts):
                response = PlainTextResponse(  # no echo of the name, no redirect
                    "Email previews only answer requests for this machine's names (localhost, 127.0.0.1); "
                    "list others in EmailPreviews(allowed_hosts=...).",
                    status_code=400,
                    headers=_SECURITY_HEADERS,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    # --- helpers ---------------------------------------------------------------------------------------------------

    def _page(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        base = str(request.scope.get("root_path", "")).rstrip("/")
        html = self.ui.get_template(template).render(base=base, **context)
        return HTMLResponse(html, status_code=status, headers={**_SECURITY_HEADERS, "content-security-policy": _UI_CSP})

    def _problem(self, request: Request, status: int, title: str, detail: str) -> HTMLResponse:
        return self._page(request, "problem.html", status, title=title, detail=detail)

    def _preview(self, request: Request) -> Preview | Response:
        email = request.path_params["email"]
        if email not in self.emails:
            return self._problem(request, 404, "No such email", f"Known emails: {', '.join(self.emails)}.")
        query = dict(request.query_params)
        if "accept_language" not in query and query.get("locale", "auto") == "auto":
            query["accept_language"] = request.headers.get("accept-language", "")[:_MAX_PARAM]
        try:
            params = PreviewParams.from_query(query, email=email)
            return render_preview(self.renderer, params, sender=self.sender, clock=self.clock)
        except PreviewError as exc:
            return self._problem(request, 400, "Bad preview parameter", str(exc))
        except RenderError as exc:
            return self._problem(request, 422, "The email does not render", str(exc))

    # --- emails ----------------------------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        pages = sorted(self._page_names()) if self.pages is not None else []
        return self._page(
            request,
            "index.html",
            emails=self.emails,
            locales=[(locale, locales.direction(locale)) for locale in self.renderer.available_locales],
            pages=pages,
        )

    async def email_detail(self, request: Request) -> Response:
        preview = self._preview(request)
        if isinstance(preview, Response):
            return preview
        params = preview.params
        width = "mobile" if request.query_params.get("width") == "mobile" else "desktop"
        return self._page(
            request,
            "email.html",
            preview=preview,
            rendered=preview.rendered,
            params=params,
            width=width,
            locales=self.renderer.available_locales,
            query=params.query(),
            switch=lambda **changes: params.query(**changes),
        )

    async def email_html(self, request: Request) -> Response:
        preview = self._preview(request)
        if isinstance(preview, Response):
            return preview
        return HTMLResponse(
            preview.rendered.html,
            headers={**_SECURITY_HEADERS, "content-security-policy": _RAW_CSP,
                     "content-language": preview.rendered.content_language},
        )

    async def email_text(self, request: Request) -> Response:
        preview = self._preview(request)
        if isinstance(preview, Response):
            return preview
        return PlainTextResponse(preview.rendered.text, headers=_SECURITY_HEADERS)

    async def email_eml(self, request: Request) -> Response:
        preview = self._preview(request)
        if isinstance(preview, Response):
            return preview
        filename = f"{preview.params.email}-{preview.rendered.locale}.eml"
        return Response(
            preview.message.as_bytes(),
            media_type="message/rfc822",
            headers={**_SECURITY_HEADERS, "content-disposition": f'attachment; filename="{filename}"'},
        )

    async def email_json(self, request: Request) -> Response:
        preview = self._preview(request)
        if isinstance(preview, Response):
            return preview
        return JSONResponse(preview_json(preview), headers=_SECURITY_HEADERS)

    # --- the login flow's pages ------------------------------------------------------------------------------------

    def _page_names(self) -> list[str]:
        names = self.pages.env.list_templates(filter_func=lambda name: name.endswith(".html"))
        return [name[:-5] for name in names if name != "base.html" and "/" not in name]

    def _page_render(self, request: Request) -> tuple[str, str, str] | Response:
        if self.pages is None:
            return self._problem(request, 404, "No page previews", "Page previews are not configured.")
        name = request.path_params["page"]
        if name not in self._page_names():
            return self._problem(request, 404, "No such page", f"Known pages: {', '.join(sorted(self._page_names()))}.")
        requested = request.query_params.get("locale", "")[:_MAX_PARAM]
        locale = locales.match(requested, self.renderer.available_locales) or self.renderer.default_locale
        template = f"{name}.html"
        source = self.pages.env.loader.get_source(self.pages.env, template)[0]
        variables = jinja2.meta.find_undeclared_variables(self.pages.env.parse(source))
        context = {key: _PAGE_SAMPLES.get(key, f"sample-{key}") for key in variables}
        try:
            html = self.pages.render(template, locale, **context)
        except jinja2.TemplateError as exc:
            return self._problem(request, 422, "The page does not render", f"{template}: {exc}")
        return name, locale, html

    async def page_detail(self, request: Request) -> Response:
        result = self._page_render(request)
        if isinstance(result, Response):
            return result
        name, locale, _ = result
        width = "mobile" if request.query_params.get("width") == "mobile" else "desktop"
        return self._page(
            request,
            "page.html",
            name=name,
            locale=locale,
            direction=locales.direction(locale),
            locales=self.renderer.available_locales,
            width=width,
        )

    async def page_html(self, request: Request) -> Response:
        result = self._page_render(request)
        if isinstance(result, Response):
            return result
        _, locale, html = result
        return HTMLResponse(
            html,
            headers={**_SECURITY_HEADERS, "content-security-policy": _RAW_CSP,
                     "content-language": locales.to_bcp47(locale)},
        )


def json_dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False)
