"""The hosted pages: login, signup, the organization prompt and picker, and the tenant's error pages.

Paths follow Auth0's Universal Login (``/u/login?state=...``); ``state`` there is the pending request's opaque id,
not the client's state. Every form carries a per-request random CSRF token that must match the pending request,
and the pending request is bound to the browser that started it (a hash of the ``did`` cookie, SameSite=Lax), so
neither a forged cross-site POST nor a pending id copied into another browser can sign anyone in.

Everything shown is escaped (Jinja autoescape); organization branding is used only when it is well formed: a
logo must be an http(s) URL and colours must be hex colours, so an organization's settings cannot inject CSS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from orginvite.devtenant.authorization import (
    BROWSER_COOKIE,
    SESSION_COOKIE,
    SESSION_TTL,
    Outcome,
    error_redirect,
    finish_sign_in,
    load_pending,
    read_session,
    same_browser,
    save_pending,
    start_session,
)
from orginvite.devtenant.authorize_rules import add_query
from orginvite.devtenant.request_body import BodyTooLarge, read_capped
from orginvite.devtenant.store import ConflictError

__all__ = ["authorization_response", "continue_flow", "error_page", "hosted_routes", "page_locale", "render_page"]

Tenant = Any

PASSWORD_MIN_LENGTH = 8
MAX_LOGIN_FAILURES = 10  # attempts counted; then the form refuses that email from that address for the window
LOGIN_FAILURE_WINDOW = 900.0
_FAILURES_KIND = "login_failures"
_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']{1,255}\.[^@\s<>\"'.]{1,63}$")
_HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_SAFE_ORIGIN = re.compile(r"^[A-Za-z0-9.\-\[\]:]+$")
_FORM_LIMIT = 4096  # longest single form field accepted
_BODY_LIMIT = 16384

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src http: https: data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _security_headers(form_target: str | None) -> dict[str, str]:
    """The page headers; a form's CSP ``form-action`` also allows the client's callback origin, because Chromium
    applies form-action to the redirect that follows the POST."""
    csp = _CSP
    if form_target:
        parts = urlsplit(form_target)
        if parts.scheme in ("http", "https") and parts.netloc and _SAFE_ORIGIN.match(parts.netloc):
            csp += f" {parts.scheme}://{parts.netloc}"
    return {**SECURITY_HEADERS, "Content-Security-Policy": csp}


# -- the authorization response -------------------------------------------------------------------------------------

_FORM_POST_SCRIPT = "document.forms[0].submit()"
_FORM_POST_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_FORM_POST_SCRIPT.encode()).digest()).decode()


def authorization_response(outcome: Outcome) -> Response:
    """The answer to the client's redirect URI in the requested mode.

    ``query`` and ``fragment`` are 302s; ``form_post`` (OAuth 2.0 Form Post Response Mode) is a page whose only
    script (allowed by its hash) posts a hidden form to the redirect URI, with a button when scripts are off.
    """
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    if outcome.mode == "fragment":
        return RedirectResponse(f"{outcome.redirect_uri}#{urlencode(outcome.params)}", status_code=302, headers=headers)
    if outcome.mode != "form_post":
        return RedirectResponse(add_query(outcome.redirect_uri, outcome.params), status_code=302, headers=headers)
    e = html.escape
    fields = "".join(
        f'<input type="hidden" name="{e(name)}" value="{e(value)}">' for name, value in outcome.params.items()
    )
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Submit this form</title></head><body>'
        f'<form method="post" action="{e(outcome.redirect_uri)}">{fields}'
        '<noscript><button type="submit">Continue</button></noscript></form>'
        f"<script>{_FORM_POST_SCRIPT}</script></body></html>"
    )
    page_headers = _security_headers(outcome.redirect_uri)
    page_headers["Content-Security-Policy"] += f"; script-src 'sha256-{_FORM_POST_SCRIPT_HASH}'"
    return HTMLResponse(body, headers={**page_headers, **headers})


# -- rendering ----------------------------------------------------------------------------------------------------


def _translations_module() -> Any | None:
    try:
        from orginvite.i18n import translations
    except ImportError:
        return None
    return translations


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    loader = jinja2.PackageLoader("orginvite.devtenant", "templates")
    translations = _translations_module()
    if translations is not None:
        from orginvite.i18n.rendering import create_environment

        return create_environment(loader)
    env = jinja2.Environment(
        loader=loader, autoescape=True, extensions=["jinja2.ext.i18n"], undefined=jinja2.StrictUndefined
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env


def available_locales() -> tuple[str, ...]:
    translations = _translations_module()
    return tuple(getattr(translations, "AVAILABLE_LOCALES", ("en",))) if translations else ("en",)


def page_locale(
    tenant: Tenant, request: Request, ui_locales: str | None = None, organization: Mapping[str, Any] | None = None
) -> tuple[str, str, str]:
    """(gettext locale, BCP 47 tag for ``lang``, text direction): ui_locales, then Accept-Language."""
    from orginvite.i18n.locales import negotiate

    resolution = negotiate(
        available=available_locales(),
        ui_locales=ui_locales,
        accept_language=request.headers.get("accept-language"),
        organization_default=(organization or {}).get("metadata") if organization else None,
        default=str(tenant.settings.get("default_locale") or "en"),
    )
    return resolution.locale, resolution.bcp47, resolution.direction


def _locale_context(locale: str) -> AbstractContextManager[Any]:
    translations = _translations_module()
    if translations is not None and hasattr(translations, "use_locale"):
        return translations.use_locale(locale)  # type: ignore[no-any-return]
    return nullcontext()


def branding(organization: Mapping[str, Any] | None) -> dict[str, str | None]:
    """The organization's branding, keeping only values that are safe to put into a page."""
    raw = (organization or {}).get("branding") or {}
    colors = raw.get("colors") or {} if isinstance(raw, Mapping) else {}
    logo = raw.get("logo_url") if isinstance(raw, Mapping) else None
    primary = colors.get("primary") if isinstance(colors, Mapping) else None
    background = colors.get("page_background") if isinstance(colors, Mapping) else None
    return {
        "logo_url": logo if isinstance(logo, str) and re.match(r"^https?://[^\s\"'<>]+$", logo) else None,
        "primary": primary if isinstance(primary, str) and _HEX_COLOUR.match(primary) else "#635dff",
        "page_background": (background if isinstance(background, str) and _HEX_COLOUR.match(background) else "#f4f4f5"),
    }


def render_page(
    tenant: Tenant,
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    ui_locales: str | None = None,
    organization: Mapping[str, Any] | None = None,
    form_target: str | None = None,
    **context: Any,
) -> HTMLResponse:
    locale, lang, direction = page_locale(tenant, request, ui_locales, organization)
    with _locale_context(locale):
        html = (
            _environment()
            .get_template(template)
            .render(
                lang=lang,
                dir=direction,
                tenant_name=str(tenant.settings.get("friendly_name") or "Dev tenant"),
                organization=organization,
                brand=branding(organization),
                **context,
            )
        )
    return HTMLResponse(html, status_code=status_code, headers=_security_headers(form_target))


def error_page(tenant: Tenant, request: Request, kind: str, status_code: int = 400, **context: Any) -> HTMLResponse:
    """A tenant error page (for what must not be redirected: unknown client, bad redirect URI, ...)."""
    return render_page(tenant, request, "error.html", status_code=status_code, kind=kind, **context)


# -- cookies ------------------------------------------------------------------------------------------------------


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


# -- the flow -----------------------------------------------------------------------------------------------------


def _page_url(path: str, pending_id: str) -> str:
    return f"{path}?state={quote(pending_id, safe='')}"


def _finish(
    tenant: Tenant,
    request: Request,
    pending: dict[str, Any],
    user: Mapping[str, Any],
    session_cookie: str | None,
    session: Mapping[str, Any],
) -> Response:
    pending_id = pending.pop("_id", None)
    # Single use: of two concurrent submissions of one pending request, only the first gets a code.
    if pending_id and tenant.store.take_transient("authorize", pending_id) is None:
        return error_page(tenant, request, "expired", 400, ui_locales=pending.get("ui_locales"))
    response = authorization_response(finish_sign_in(tenant, pending, user, session))
    if session_cookie is not None:
        set_cookie(request, response, SESSION_COOKIE, session_cookie, int(SESSION_TTL))
    return response


def _needs_picker(pending: Mapping[str, Any]) -> bool:
    return not pending.get("organization_id") and pending.get("organization_prompt") == "post_login_prompt"


def _after_authentication(
    tenant: Tenant,
    request: Request,
    pending_id: str,
    pending: dict[str, Any],
    user: Mapping[str, Any],
    session_cookie: str | None,
    session: Mapping[str, Any],
) -> Response:
    if _needs_picker(pending):
        pending["authenticated"] = {
            "user_id": user["user_id"],
            "auth_time": session["auth_time"],
            "sid": session["sid"],
        }
        save_pending(tenant, pending, pending_id)
        response = RedirectResponse(_page_url("/u/organization-picker", pending_id), status_code=302)
        if session_cookie is not None:
            set_cookie(request, response, SESSION_COOKIE, session_cookie, int(SESSION_TTL))
        return response
    pending["_id"] = pending_id
    return _finish(tenant, request, pending, user, session_cookie, session)


def continue_flow(tenant: Tenant, request: Request, pending_id: str, pending: dict[str, Any]) -> Response:
    """Where a ready pending request goes next: the organization prompt, SSO, or the login/signup form."""
    prompt = pending.get("prompt") or ""
    ask_organization = not pending.get("organization_id") and pending.get("organization_prompt") == "pre_login_prompt"
    session = read_session(tenant, request.cookies.get(SESSION_COOKIE))
    max_age = pending.get("max_age")
    if session is not None and max_age is not None and tenant.now() - float(session["auth_time"]) > max_age:
        session = None  # too old for this request: authenticate again
    user = tenant.store.get_user(session["user_id"]) if session is not None else None
    # prompt=none: no page may be shown, so anything that needs one is answered at once (OIDC Core 3.1.2.6).
    if prompt == "none" and (user is None or ask_organization or _needs_picker(pending)):
        tenant.store.delete_transient("authorize", pending_id)
        error = (
            ("login_required", "Login required")
            if user is None
            else ("interaction_required", "Organization selection required")
        )
        return authorization_response(error_redirect(pending, *error))
    if ask_organization:
        return RedirectResponse(_page_url("/u/login/organization", pending_id), status_code=302)
    if user is not None and session is not None and prompt != "login":
        return _after_authentication(tenant, request, pending_id, pending, user, None, session)
    screen = "signup" if pending.get("screen") == "signup" else "login"
    return RedirectResponse(_page_url(f"/u/{screen}", pending_id), status_code=302)


# -- handlers -----------------------------------------------------------------------------------------------------


class _Context:
    """The pending request a hosted page works on, after its browser binding (and CSRF on POST) was checked."""

    def __init__(
        self, pending_id: str, pending: dict[str, Any], organization: dict[str, Any] | None, form: Mapping[str, str]
    ) -> None:
        self.pending_id = pending_id
        self.pending = pending
        self.organization = organization
        self.form = form


async def _form(request: Request) -> dict[str, str] | None:
    """A urlencoded form body, parsed strictly (no python-multipart needed): None when it is anything else,
    :class:`BodyTooLarge` (raised before reading past the cap) when it is too long."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = await read_capped(request, _BODY_LIMIT)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    values: dict[str, str] = {}
    for key, value in pairs:
        if key in values or len(value) > _FORM_LIMIT:
            return None  # a repeated or oversized field is not something our pages send
        values[key] = value
    return values


async def _load(tenant: Tenant, request: Request) -> _Context | Response:
    pending_id = request.query_params.get("state", "")
    pending = load_pending(tenant, pending_id)
    if pending is None:
        return error_page(tenant, request, "expired", 400)
    if not same_browser(pending, request.cookies.get(BROWSER_COOKIE)):
        return error_page(tenant, request, "other_browser", 403)
    org_id = pending.get("organization_id")
    organization = tenant.store.get_organization(org_id) if org_id else None
    form: dict[str, str] = {}
    if request.method == "POST":
        try:
            parsed = await _form(request)
        except BodyTooLarge:
            return error_page(tenant, request, "request_too_long", 413, ui_locales=pending.get("ui_locales"))
        token = (parsed or {}).get("csrf", "")
        if parsed is None or not token or not hmac.compare_digest(token.encode(), str(pending["csrf"]).encode()):
            return error_page(tenant, request, "csrf", 403, ui_locales=pending.get("ui_locales"))
        form = parsed
    return _Context(pending_id, pending, organization, form)


def _form_page(
    tenant: Tenant, request: Request, ctx: _Context, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    context.setdefault("error", None)
    return render_page(
        tenant,
        request,
        template,
        status_code=status_code,
        ui_locales=ctx.pending.get("ui_locales"),
        organization=ctx.organization,
        form_target=ctx.pending.get("redirect_uri"),
        state=ctx.pending_id,
        csrf=ctx.pending["csrf"],
        invitation=bool(ctx.pending.get("invitation_id")),
        **context,
    )


def _signed_in(tenant: Tenant, request: Request, ctx: _Context, user: Mapping[str, Any]) -> Response:
    cookie, session = start_session(tenant, user["user_id"], tenant.now())
    return _after_authentication(tenant, request, ctx.pending_id, ctx.pending, user, cookie, session)


def hosted_routes(tenant: Tenant) -> list[BaseRoute]:
    """The Universal Login pages, at Auth0's paths."""

    async def login(request: Request) -> Response:
        ctx = await _load(tenant, request)
        if isinstance(ctx, Response):
            return ctx
        if request.method == "GET":
            email = ctx.pending.get("invitee_email") or ctx.pending.get("login_hint") or ""
            return _form_page(tenant, request, ctx, "login.html", email=email)
        email = ctx.form.get("email", "").strip()
        throttle = _failures_key(email, request)
        # Counted atomically before the password is checked: an attempt in flight already uses up one of the
        # allowed failures, so concurrent guesses cannot all pass a count read before any of them failed.
        if not tenant.store.count_attempt(_FAILURES_KIND, throttle, MAX_LOGIN_FAILURES, LOGIN_FAILURE_WINDOW):
            return _form_page(tenant, request, ctx, "login.html", 429, email=email, error="too_many_attempts")
        # The password KDF is deliberately slow (scrypt): check in a worker thread, not on the event loop.
        password = ctx.form.get("password", "")
        user = await run_in_threadpool(tenant.store.verify_password, email, password) if email else None
        if user is None:
            return _form_page(tenant, request, ctx, "login.html", 400, email=email, error="wrong_credentials")
        tenant.store.delete_transient(_FAILURES_KIND, throttle)
        return _signed_in(tenant, request, ctx, user)

    async def signup(request: Request) -> Response:
        ctx = await _load(tenant, request)
        if isinstance(ctx, Response):
            return ctx
        fixed_email = ctx.pending.get("invitee_email")
        if request.method == "GET":
            email = fixed_email or ctx.pending.get("login_hint") or ""
            name = ctx.pending.get("invitee_name") or ""  # the name the inviter typed, for the invitee to keep or edit
            page = {"email": email, "email_fixed": bool(fixed_email), "name": name}
            return _form_page(tenant, request, ctx, "signup.html", **page)
        # The invitee's email is fixed whatever the form says (Auth0 ignores an edited field).
        email = fixed_email or ctx.form.get("email", "").strip()
        name = ctx.form.get("name", "").strip()[:300]
        password = ctx.form.get("password", "")
        page = {"email": email, "email_fixed": bool(fixed_email), "name": name}
        if not _EMAIL.match(email):
            return _form_page(tenant, request, ctx, "signup.html", 400, error="invalid_email", **page)
        if len(password) < PASSWORD_MIN_LENGTH:
            return _form_page(tenant, request, ctx, "signup.html", 400, error="weak_password", **page)
        try:
            user = await run_in_threadpool(  # scrypt off the event loop, as the Management API's POST /users
                tenant.store.create_user,
                email,
                password,
                name=name or None,
                connection=_signup_connection(tenant, ctx.organization),
                email_verified=bool(fixed_email),  # the invitee proved the address by following the emailed link
            )
        except ConflictError:
            return _form_page(tenant, request, ctx, "signup.html", 400, error="email_taken", **page)
        return _signed_in(tenant, request, ctx, user)

    async def organization_prompt(request: Request) -> Response:
        ctx = await _load(tenant, request)
        if isinstance(ctx, Response):
            return ctx
        if request.method == "GET":
            return _form_page(tenant, request, ctx, "organization_prompt.html", organization_name="")
        name = ctx.form.get("organization", "").strip().lower()
        organization = tenant.store.get_organization_by_name(name) if 0 < len(name) <= 50 else None
        if organization is None:
            return _form_page(
                tenant,
                request,
                ctx,
                "organization_prompt.html",
                400,
                organization_name=name,
                error="organization_not_found",
            )
        ctx.pending["organization_id"] = organization["id"]
        save_pending(tenant, ctx.pending, ctx.pending_id)
        return continue_flow(tenant, request, ctx.pending_id, ctx.pending)

    async def organization_picker(request: Request) -> Response:
        ctx = await _load(tenant, request)
        if isinstance(ctx, Response):
            return ctx
        authenticated = ctx.pending.get("authenticated")
        user = tenant.store.get_user(authenticated["user_id"]) if authenticated else None
        if authenticated is None or user is None:
            return error_page(tenant, request, "expired", 400)
        organizations, _ = tenant.store.list_user_organizations(user["user_id"], 0, 100)
        if not organizations:
            tenant.store.delete_transient("authorize", ctx.pending_id)
            outcome = error_redirect(
                ctx.pending, "access_denied", f"user {user['user_id']} is not part of any organization"
            )
            return authorization_response(outcome)
        if request.method == "GET":
            return _form_page(tenant, request, ctx, "organization_picker.html", organizations=organizations)
        chosen = ctx.form.get("organization", "")
        if chosen not in {o["id"] for o in organizations}:
            return _form_page(
                tenant,
                request,
                ctx,
                "organization_picker.html",
                400,
                organizations=organizations,
                error="organization_not_found",
            )
        ctx.pending["organization_id"] = chosen
        ctx.pending["_id"] = ctx.pending_id
        return _finish(tenant, request, ctx.pending, user, None, authenticated)

    methods = ["GET", "POST"]
    return [
        Route("/u/login", login, methods=methods),
        Route("/u/signup", signup, methods=methods),
        Route("/u/login/organization", organization_prompt, methods=methods),
        Route("/u/organization-picker", organization_picker, methods=methods),
    ]


def _failures_key(email: str, request: Request) -> str:
    """Failed logins are counted per (email, client address), as Auth0's brute-force protection does."""
    address = request.client.host if request.client else ""
    return hashlib.sha256(f"{email.lower()}|{address}".encode()).hexdigest()


def _signup_connection(tenant: Tenant, organization: Mapping[str, Any] | None) -> str:
    """The database connection a signup lands in: the organization's enabled one, else the tenant's first."""
    if organization is not None:
        for enabled in tenant.store.list_enabled_connections(organization["id"]):
            name = (enabled.get("connection") or {}).get("name")
            if name:
                return str(name)
    connections = tenant.store.list_connections()
    return str(connections[0]["name"]) if connections else "Username-Password-Authentication"
