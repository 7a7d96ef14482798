"""The pages an invitee sees when the login flow cannot simply redirect: Jinja templates the host app can override.

Raw exceptions, JSON 400s and plain 500s leave an invitee stuck; every outcome here is a page that says
what happened and what to do next, in the invitee's language. Templates live in
``orginvite/login/templates/pages``; a host app passes ``templates_dir`` and any file of the same name there wins
(``base.html`` included), through a ``ChoiceLoader``. Rendering goes through
:func:`orginvite.i18n.rendering.create_environment`, so ``{% trans %}`` follows the locale set for each render
(a ContextVar, safe under concurrency) and everything is autoescaped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from orginvite.errors import CallbackError, ConfigurationError
from orginvite.i18n import locales, rendering, translations

__all__ = ["CALLBACK_ERROR_KINDS", "PAGES_DIR", "PAGE_NAMES", "Pages", "classify_callback_error", "wants_json"]

PAGES_DIR = Path(__file__).parent / "templates" / "pages"
logger = logging.getLogger("orginvite.pages")
CALLBACK_ERROR_KINDS = (
    "invitation_invalid",
    "wrong_account",
    "not_a_member",
    "organization_required",
    "organization_invalid",
    "access_denied",
    "other",
)

PAGE_NAMES = (
    "base.html",
    "invalid_link.html",
    "interstitial.html",
    "transaction_expired.html",
    "provider_unavailable.html",
    "forbidden.html",
    "unknown_host.html",
    "organization_mismatch.html",
    "unknown_organization.html",
    "logout_confirm.html",
    "guard_denied.html",
    "membership_ended.html",
    *(f"callback_{kind}.html" for kind in CALLBACK_ERROR_KINDS),
)

_SECURITY_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
_CSP_TEMPLATE = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self' {form_action}; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class Pages:
    """Renders the login flow's pages; create once (templates are compiled and cached)."""

    def __init__(self, templates_dir: str | Path | Sequence[str | Path] | None = None) -> None:
        dirs: list[str | Path] = []
        if isinstance(templates_dir, str | Path):
            dirs.append(templates_dir)
        elif templates_dir is not None:
            dirs.extend(templates_dir)
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(d) for d in dirs]
        builtin = jinja2.FileSystemLoader(PAGES_DIR)
        self.env = rendering.create_environment(jinja2.ChoiceLoader([*loaders, builtin]))
        self._builtin = rendering.create_environment(builtin) if dirs else self.env
        self.available = translations.AVAILABLE_LOCALES
        # Compile every page now: a broken override stops the app at start-up, naming the file, not at a 500 later.
        for name in PAGE_NAMES:
            try:
                self.env.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                raise ConfigurationError("templates_dir", f"{exc.filename or name} line {exc.lineno}: {exc}") from None
            except jinja2.TemplateError as exc:
                raise ConfigurationError("templates_dir", f"{name}: {exc}") from None

    def locale_for(self, accept_language: str | None) -> str:
        return locales.negotiate(available=self.available, accept_language=accept_language).locale

    def render(self, name: str, locale: str, **context: Any) -> str:
        """Render ``name``; if a host override fails at render time, log it and show the built-in page instead."""
        with translations.use_locale(locale):
            try:
                return self.env.get_template(name).render(**context)
            except jinja2.TemplateError:
                if self._builtin is self.env:
                    raise
                logger.exception("page template %s failed; showing the built-in page", name)
                return self._builtin.get_template(name).render(**context)

    @staticmethod
    def headers(locale: str, form_action: str = "") -> dict[str, str]:
        """Headers every page carries: never cached, never a Referer (the URL may hold a ticket), never framed.

        ``form_action`` lists the origins a form may end up on: browsers apply CSP ``form-action`` to the redirects
        after a submission too, so the interstitial's POST (answered with a redirect to ``/authorize``) needs the
        provider's origin there.
        """
        headers = {**_SECURITY_HEADERS, "content-language": locales.to_bcp47(locale)}
        if form_action:
            headers["content-security-policy"] = _CSP_TEMPLATE.format(form_action=form_action)
        return headers


def wants_json(accept: str | None) -> bool:
    """Whether the client prefers ``application/json`` over HTML (an API client, a fetch() call)."""
    if not accept:
        return False
    best_json = best_html = 0.0
    for part in accept[:1024].split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media == "application/json" or media.endswith("+json"):
            best_json = max(best_json, q)
        elif media in ("text/html", "application/xhtml+xml", "*/*", "text/*"):
            best_html = max(best_html, q if media.startswith("text/html") or "xhtml" in media else q * 0.99)
    return best_json > 0 and best_json >= best_html


def json_body(data: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(data), ensure_ascii=True, separators=(",", ":")).encode()


# The error_description texts Auth0 sends back to the callback for invitations, matched on lowercase text.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("wrong_account", ("not allowed to accept", "another account", "different account")),
    ("organization_required", ("organization is required", "parameter organization is required")),
    ("organization_invalid", ("must be an organization id", "organization not found", "invalid organization",
                              "organization does not exist", "no organization found", "not a valid organization",
                              "organization is not allowed")),
    ("invitation_invalid", ("invitation not found", "already used", "invitation expired", "invitation has expired",
                            "invalid invitation", "invitation is invalid", "invitation was not found")),
    ("not_a_member", ("is not part of", "not a member", "not enabled for", "connection is not enabled")),
)


def classify_callback_error(error: str, description: str, *, invitation: bool) -> CallbackError:
    """Turn ``error=``/``error_description=`` into a :class:`CallbackError` whose ``kind`` picks the page.

    Auth0 reports these cases with only two error codes, so the description decides; it is untrusted text used for
    matching and logs only, never shown.
    """
    text = description.lower()
    for kind, needles in _RULES:
        if any(needle in text for needle in needles):
            return CallbackError(kind, error, description)
    if invitation and "invitation" in text and error in ("invalid_request", "access_denied"):
        return CallbackError("invitation_invalid", error, description)
    if error == "access_denied":
        return CallbackError("access_denied", error, description)
    return CallbackError("other", error, description)
