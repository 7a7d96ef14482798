"""Render an invitation email (subject, text, HTML) in the invitee's locale.

One :class:`EmailRenderer` holds one Jinja2 environment for every locale (the active locale is a ContextVar,
see :mod:`orginvite.i18n.translations`), so create it once and share it. Templates are looked up in the host app's
directories first, then in orginvite's; an ``.html`` template has its ``<style>`` CSS inlined into its source
when it is first loaded (css-inline, remote stylesheets off), so inlining costs once per template, not once per
email.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import css_inline
import jinja2
from markupsafe import Markup, escape

from orginvite.emails.model import Invitation, one_line, safe_color, safe_https_url
from orginvite.errors import OrgInviteError
from orginvite.i18n import locales
from orginvite.i18n.rendering import DateOutOfRangeError, create_environment, format_datetime_tz, format_list
from orginvite.i18n.translations import Catalogs, current_locale, default_catalogs, parse_timezone, use_locale

__all__ = ["TEMPLATES_DIR", "EmailRenderer", "RenderError", "RenderedEmail", "inline_css"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

_EXPIRY_SLACK_SECONDS = 3600
_JINJA_SYNTAX = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_SUPPORT_URL = re.compile(r"^https?://[^\s\"'<>\\`]+$")
_BLANK_RUNS = re.compile(r"\n{3,}")
_EMAIL_ADDRESS = re.compile(r"^[^@\s\"'<>(),;:\\\[\]]{1,64}@[A-Za-z0-9.-]{1,253}$")


class RenderError(OrgInviteError):
    """A template is missing, broken or uses a variable the context lacks (names the template)."""

    def __init__(self, template: str, problem: str) -> None:
        self.template = template
        super().__init__(f"{template}: {problem}")


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered email: what to send, and the locale decision behind it.

    ``fallbacks`` lists ``(message, locale_that_answered)`` for messages the resolved locale's own catalog lacked
    (``None``: no catalog had it and the English source showed).
    """

    subject: str
    text: str
    html: str
    locale: str
    resolution: locales.LocaleResolution
    fallbacks: tuple[tuple[str, str | None], ...] = ()

    @property
    def direction(self) -> str:
        return locales.direction(self.locale)

    @property
    def content_language(self) -> str:
        return locales.to_bcp47(self.locale)


def inline_css(html: str, *, inliner: css_inline.CSSInliner | None = None) -> str:
    """Inline a template's ``<style>`` rules into ``style`` attributes, leaving the Jinja syntax untouched.

    Jinja tags are swapped for inert tokens before css-inline parses the HTML and restored after, so the result
    is still a template. ``<style data-css-inline="keep">`` blocks (dark mode, media queries) stay as they are.
    """
    saved: list[str] = []

    def park(found: re.Match[str]) -> str:
        saved.append(found.group(0))
        return f"oijinja{len(saved) - 1:05d}x"

    parked = _JINJA_SYNTAX.sub(park, html)
    inliner = inliner or css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False)
    inlined = inliner.inline(parked)
    restored = re.sub(r"oijinja(\d{5})x", lambda found: saved[int(found.group(1))], inlined)
    if len(re.findall(r"oijinja\d{5}x", inlined)) != len(saved):
        raise RenderError("<inline>", "CSS inlining moved or dropped template tags; keep Jinja tags out of tables")
    return restored


class _InliningLoader(jinja2.BaseLoader):
    """Wraps a loader: ``.html`` sources come back with their CSS inlined (once: Jinja caches the template)."""

    def __init__(self, inner: jinja2.BaseLoader, on_inline: Callable[[str], None] | None = None) -> None:
        self.inner = inner
        self.on_inline = on_inline
        self._inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False)

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str | None, Any]:
        source, filename, uptodate = self.inner.get_source(environment, template)
        if template.endswith((".html", ".htm")):
            source = inline_css(source, inliner=self._inliner)
            if self.on_inline is not None:
                self.on_inline(template)
        return source, filename, uptodate

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


def _bdi(value: object) -> Markup:
    """Isolate a name's direction (an Arabic name in an English sentence and vice versa)."""
    return Markup("<bdi>%s</bdi>") % escape(str(value))


_RTL_CHARACTERS = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff\U00010800-\U00010fff\U0001e800-\U0001efff]")


def _isolate(value: object) -> str:
    """The plain-text ``<bdi>``: Unicode isolates (FSI ... PDI) around a name, when direction can go wrong.

    Only in right-to-left emails or around right-to-left names: elsewhere the text stays byte-for-byte plain.
    """
    text = str(value)
    if text and (locales.direction(current_locale()) == "rtl" or _RTL_CHARACTERS.search(text)):
        return f"\u2068{text}\u2069"
    return text


class EmailRenderer:
    """Renders the invitation email; one instance (one environment) for the whole process.

    ``template_dirs`` come first: a host app overrides ``invitation/body.html`` (or any email) by putting a file
    with that name in one of them. ``catalogs`` lets it add or override translations (see
    :class:`orginvite.i18n.translations.Catalogs`). ``remote_images=False`` (the default) leaves the organization's
    logo out, so the email loads nothing remote; with True, an ``https`` logo URL is shown.
    """

    def __init__(
        self,
        template_dirs: Iterable[str | Path] = (),
        *,
        catalogs: Catalogs | None = None,
        default_locale: str | None = None,
        metadata_key: str = "lang",
        timezone_key: str = "timezone",
        remote_images: bool = False,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.catalogs = (catalogs or default_catalogs()).preload()  # a broken catalog fails here, not mid-send
        self.default_locale = default_locale or self.catalogs.default_locale
        self.metadata_key = metadata_key
        self.timezone_key = timezone_key
        self.remote_images = remote_images
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.inlined: list[str] = []  # templates whose CSS was inlined, in order (once each)
        self._inline_lock = threading.Lock()
        loader = jinja2.ChoiceLoader(
            [*(jinja2.FileSystemLoader(str(d)) for d in template_dirs), jinja2.FileSystemLoader(str(TEMPLATES_DIR))]
        )
        self.environment = create_environment(
            _InliningLoader(loader, on_inline=self._record_inline), catalogs=self.catalogs
        )
        self.environment.globals["bdi"] = _bdi
        self.environment.globals["isolate"] = _isolate

    def _record_inline(self, template: str) -> None:
        with self._inline_lock:
            self.inlined.append(template)

    @property
    def available_locales(self) -> tuple[str, ...]:
        return self.catalogs.available

    def resolve_locale(
        self,
        invitation: Invitation,
        *,
        locale: str | None = None,
        ui_locales: str | Sequence[str] | None = None,
        accept_language: str | None = None,
    ) -> locales.LocaleResolution:
        """The invitee's locale: explicit, the invitation's, ``user_metadata``, ``ui_locales``, ``Accept-Language``,
        the organization's ``metadata``, then the default (see :func:`orginvite.i18n.locales.negotiate`)."""
        return locales.negotiate(
            available=self.catalogs.available,
            explicit=locale,
            invitation_locale=invitation.locale,
            user_metadata=invitation.user_metadata,
            metadata_key=self.metadata_key,
            ui_locales=ui_locales,
            accept_language=accept_language,
            organization_default=invitation.organization.get("metadata") or None,
            default=self.default_locale,
        )

    def render(
        self,
        invitation: Invitation,
        *,
        locale: str | None = None,
        ui_locales: str | Sequence[str] | None = None,
        accept_language: str | None = None,
        timezone: str | dt.tzinfo | None = None,
        email: str = "invitation",
        extra_context: Mapping[str, Any] | None = None,
        now: dt.datetime | None = None,
    ) -> RenderedEmail:
        """Render ``email`` (templates ``<email>/subject.txt``, ``body.txt``, ``body.html``) for ``invitation``.

        ``timezone`` (else ``invitation.timezone``, else ``user_metadata[timezone_key]``, else UTC) dates the
        expiry; ``now`` (default: the renderer's clock) counts the days left. ``extra_context`` adds variables
        for a host app's own templates. Raises :class:`RenderError` for a missing template or an undefined
        variable.
        """
        resolution = self.resolve_locale(
            invitation, locale=locale, ui_locales=ui_locales, accept_language=accept_language
        )
        zone = self._timezone(invitation, timezone)
        with use_locale(resolution.locale, timezone=zone, record_fallbacks=True) as fallbacks:
            context = self.context(invitation, resolution.locale, zone, now=now)
            if extra_context:
                context.update(extra_context)
            subject = one_line(self._render(f"{email}/subject.txt", context), limit=998)
            text = _tidy_text(self._render(f"{email}/body.txt", context))
            html = self._render(f"{email}/body.html", {**context, "subject": subject})
        return RenderedEmail(
            subject=subject,
            text=text,
            html=html,
            locale=resolution.locale,
            resolution=resolution,
            fallbacks=tuple(fallbacks or ()),
        )

    def _render(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self.environment.get_template(name).render(context)
        except jinja2.TemplateNotFound as exc:
            raise RenderError(name, "template not found") from exc
        except jinja2.UndefinedError as exc:
            raise RenderError(name, f"undefined variable ({exc.message})") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(name, f"syntax error line {exc.lineno}: {exc.message}") from exc
        except (TypeError, ValueError, KeyError) as exc:  # a translation with a bad placeholder, bad data
            raise RenderError(name, f"{type(exc).__name__}: {exc}") from exc

    def _timezone(self, invitation: Invitation, explicit: str | dt.tzinfo | None) -> dt.tzinfo:
        if explicit is not None:
            return parse_timezone(explicit)
        untrusted = invitation.timezone or invitation.user_metadata.get(self.timezone_key)
        return parse_timezone(untrusted if isinstance(untrusted, str) else None, strict=False)

    def context(
        self, invitation: Invitation, locale: str, zone: dt.tzinfo, *, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        """The template context: Auth0's User Invitation names, plus locale, direction and formatted values."""
        organization = invitation.organization
        branding = organization.get("branding") or {}
        colors = branding.get("colors") or {}
        roles = [
            {
                "id": str(role.get("id", "")),
                "name": one_line(role.get("name", "")),
                "description": one_line(role.get("description", ""), limit=1000),
            }
            for role in invitation.roles
        ]
        application = dict(invitation.application)
        application.setdefault("metadata", {})
        application["name"] = one_line(application.get("name") or "")
        application.setdefault("client_id", None)
        expires_at_text, expires_in_days = self._expiry(invitation.expires_at, locale, zone, now or self.clock())
        primary = safe_color(colors.get("primary"), "#0059d6")
        support_email = invitation.support_email
        if not (isinstance(support_email, str) and _EMAIL_ADDRESS.match(support_email)):
            support_email = None
        support_url = invitation.support_url
        if not (isinstance(support_url, str) and _SUPPORT_URL.match(support_url)):
            support_url = None
        logo_url = safe_https_url(branding.get("logo_url")) if self.remote_images else None
        return {
            # Auth0's names
            "url": invitation.url,
            "inviter": {"name": one_line(invitation.inviter_name)},
            "invitee": {"email": one_line(invitation.invitee_email, limit=320)},
            "organization": {
                "id": organization.get("id"),
                "name": organization.get("name"),
                "display_name": one_line(organization.get("display_name") or ""),
                "metadata": organization.get("metadata") or {},
                "branding": {
                    "logo_url": branding.get("logo_url"),
                    "colors": {"primary": colors.get("primary"), "page_background": colors.get("page_background")},
                },
            },
            "roles": roles,
            "user_metadata": invitation.user_metadata,
            "app_metadata": invitation.app_metadata,
            "application": application,
            "friendly_name": one_line(invitation.friendly_name),
            "support_email": support_email,
            "support_url": support_url,
            "expires_at": invitation.expires_at,
            # ours
            "locale": locale,
            "lang": locales.to_bcp47(locale),
            "dir": locales.direction(locale),
            "organization_name": invitation.organization_display_name,
            "application_name": application["name"] or one_line(invitation.friendly_name),
            "role_count": len(roles),
            "role_list": format_list([role["name"] for role in roles], locale=locale) if roles else "",
            "expires_at_text": expires_at_text,
            "expires_in_days": expires_in_days,
            "primary_color": primary,
            "button_text_color": _readable_text_on(primary),
            "page_background": safe_color(colors.get("page_background"), "#f4f4f5"),
            "logo_url": logo_url,
        }

    def _expiry(
        self, expires_at: str | None, locale: str, zone: dt.tzinfo, now: dt.datetime
    ) -> tuple[str, int | None]:
        if not expires_at:
            return "", None
        try:
            moment = dt.datetime.fromisoformat(str(expires_at).strip())
        except ValueError as exc:
            problem = f"expires_at is not an ISO 8601 date-time: {str(expires_at)[:40]!r}"
            raise RenderError("invitation", problem) from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        try:
            text = format_datetime_tz(moment, locale=locale, tzinfo=zone)
        except DateOutOfRangeError as exc:
            raise RenderError("invitation", f"expires_at {str(expires_at)[:40]!r}: {exc}") from exc
        # Whole days left, rounded down (Babel's format_timedelta would call 6 days 20 hours "1 week"), with an
        # hour's slack: an email rendered seconds (or a queue's minutes) after a 7-day invitation was created
        # still says 7 days, not 6.
        seconds = (moment - now).total_seconds()
        days = math.floor((seconds + _EXPIRY_SLACK_SECONDS) / 86400) if seconds > 0 else 0
        return text, days if days >= 1 else None


def _readable_text_on(color: str) -> str:
    value = color.lstrip("#")
    if len(value) == 3:
        value = "".join(ch * 2 for ch in value)
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    luminance = 0.299 * red + 0.587 * green + 0.114 * blue
    return "#18181b" if luminance > 160 else "#ffffff"


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip() + "\n"
