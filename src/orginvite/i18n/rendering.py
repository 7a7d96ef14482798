"""Dates, numbers and lists in the active locale and timezone, and the Jinja2 environment that renders with them.

Every ``format_*`` passes an explicit Babel locale (without one Babel uses the server's locale) and converts to
the render's timezone first; one environment serves every locale, its gettext callables reading the locale of the
current render from :mod:`orginvite.i18n.translations` (a ContextVar, safe under concurrency).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import jinja2
import jinja2.ext
from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import lists as babel_lists
from babel import numbers as babel_numbers

from orginvite.errors import OrgInviteError
from orginvite.i18n import locales
from orginvite.i18n.template_gettext import newstyle_callables
from orginvite.i18n.translations import (
    DEFAULT_LOCALE,
    Catalogs,
    Gettext,
    current_locale,
    current_timezone,
    parse_timezone,
)

__all__ = [
    "DateOutOfRangeError",
    "babel_locale",
    "create_environment",
    "format_date",
    "format_datetime",
    "format_datetime_tz",
    "format_list",
    "format_number",
    "format_time",
    "in_timezone",
]


class DateOutOfRangeError(OrgInviteError, ValueError):
    """A moment whose local date in the zone asked for falls outside years 1 to 9999 (``9999-12-31T23:59Z`` in
    Pacific/Kiritimati): Python's datetime cannot hold it, so it cannot be shown."""

    def __init__(self, value: dt.datetime, zone: dt.tzinfo) -> None:
        self.value = value
        self.zone = zone
        super().__init__(f"{value.isoformat()} cannot be shown in {zone}: its local date is out of range")


# --- Babel formatting, always with an explicit locale ------------------------------------------------------------


def babel_locale(locale: str | None = None) -> Locale:
    """A Babel Locale for ``locale`` (default: the active one); falls back to the language, then English.

    Passing it explicitly to every ``format_*`` call is the point: without it Babel uses the server's locale.
    Memoized per spelling (every formatted date asks; Babel Locales are not changed after parsing).
    """
    locale = locale or current_locale()
    return _babel_locale(locale) if len(locale) <= 64 else _babel_locale.__wrapped__(locale)


@lru_cache(maxsize=256)
def _babel_locale(locale: str) -> Locale:
    tag = locales.parse_tag(locale)
    candidates = [tag.key, tag.language] if tag else []
    for candidate in [*candidates, DEFAULT_LOCALE]:
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse(DEFAULT_LOCALE)  # pragma: no cover - English is always present


def _as_datetime(value: dt.datetime | dt.date | str) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.strip())
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # Auth0 and our store hold UTC; naive values are UTC
    return value


def in_timezone(value: dt.datetime | dt.date | str, zone: dt.tzinfo) -> dt.datetime:
    """``value`` as local time in ``zone``; :class:`DateOutOfRangeError` instead of OverflowError at the ends."""
    moment = _as_datetime(value)
    try:
        return moment.astimezone(zone)
    except OverflowError as exc:
        raise DateOutOfRangeError(moment, zone) from exc


def format_datetime(
    value: dt.datetime | str,
    format: str = "medium",
    *,
    locale: str | None = None,
    tzinfo: str | dt.tzinfo | None = None,
) -> str:
    """A date and time in the active (or given) locale and timezone, with the zone named (``long`` by default)."""
    zone = parse_timezone(tzinfo) if tzinfo is not None else current_timezone()
    return babel_dates.format_datetime(in_timezone(value, zone), format, tzinfo=zone, locale=babel_locale(locale))


def format_datetime_tz(
    value: dt.datetime | str,
    *,
    locale: str | None = None,
    tzinfo: str | dt.tzinfo | None = None,
) -> str:
    """Long date, short time and the zone's name, in the locale's own order: what an expiry line needs.

    ``"December 1, 2026, 10:30 AM Central European Standard Time"``, ``"2026年12月1日 10:30 中央ヨーロッパ標準時"``.
    (Babel's ``long`` format shows seconds and, in many locales, only ``+0100`` as the zone.)
    """
    zone = parse_timezone(tzinfo) if tzinfo is not None else current_timezone()
    where = babel_locale(locale)
    local = in_timezone(value, zone)
    date_text = babel_dates.format_date(local, "long", locale=where)
    time_text = babel_dates.format_time(local, "short", tzinfo=zone, locale=where)
    zone_name = babel_dates.get_timezone_name(local, "long", locale=where)
    pattern = str(where.datetime_formats.get("long", "{1}, {0}")).replace("'", "")
    return pattern.format(f"{time_text} {zone_name}", date_text)


def format_date(
    value: dt.date | dt.datetime | str,
    format: str = "long",
    *,
    locale: str | None = None,
    tzinfo: str | dt.tzinfo | None = None,
) -> str:
    zone = parse_timezone(tzinfo) if tzinfo is not None else current_timezone()
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        moment = value
    else:
        moment = in_timezone(value, zone).date()
    return babel_dates.format_date(moment, format, locale=babel_locale(locale))


def format_time(
    value: dt.datetime | str,
    format: str = "short",
    *,
    locale: str | None = None,
    tzinfo: str | dt.tzinfo | None = None,
) -> str:
    zone = parse_timezone(tzinfo) if tzinfo is not None else current_timezone()
    return babel_dates.format_time(in_timezone(value, zone), format, tzinfo=zone, locale=babel_locale(locale))


def format_list(items: Sequence[Any], style: str = "standard", *, locale: str | None = None) -> str:
    """``["admin", "billing"]`` -> ``"admin and billing"`` / ``"admin et billing"`` / ``"admin و billing"``."""
    return babel_lists.format_list([str(item) for item in items], style=style, locale=babel_locale(locale))


def format_number(value: float | int, *, locale: str | None = None) -> str:
    return babel_numbers.format_decimal(value, locale=babel_locale(locale))


# --- the Jinja2 environment --------------------------------------------------------------------------------------


def create_environment(
    loader: jinja2.BaseLoader,
    *,
    catalogs: Catalogs | None = None,
    undefined: type[jinja2.Undefined] = jinja2.StrictUndefined,
    extensions: Sequence[str | type[jinja2.ext.Extension]] = (),
    **options: Any,
) -> jinja2.Environment:
    """One environment for every locale: ``{% trans %}``, ``_()``, ``gettext``, ``ngettext`` follow :func:`use_locale`.

    Create it once per loader and keep it (templates are compiled and cached on it). ``.html`` templates (and
    any other name) are autoescaped; ``.txt`` templates (subjects, text parts) are not, since "Tom &amp; Jerry"
    in a subject is a bug. Undefined variables raise (``StrictUndefined``). Filters:
    ``format_datetime``, ``format_date``, ``format_time``, ``format_list``, ``format_number`` (all in the active
    locale and timezone); globals: ``current_locale()``, ``text_direction()``, ``html_lang()``.
    """
    env = jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "svg"),
            disabled_extensions=("txt",),
            default_for_string=True,
            default=True,
        ),
        undefined=undefined,
        extensions=["jinja2.ext.i18n", *extensions],
        auto_reload=False,
        **options,
    )
    callables = Gettext(catalogs)
    # {% trans %} passes its variables to these (newstyle): they translate, fit the names in, then fill them in
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    env.globals.update(newstyle_callables(callables, lambda: callables.catalogs.resolve(current_locale())))
    env.filters.update(
        format_datetime=format_datetime,
        format_datetime_tz=format_datetime_tz,
        format_date=format_date,
        format_time=format_time,
        format_list=format_list,
        format_number=format_number,
    )
    env.globals.update(
        current_locale=lambda: callables.catalogs.resolve(current_locale()),
        text_direction=lambda: locales.direction(callables.catalogs.resolve(current_locale())),
        html_lang=lambda: locales.to_bcp47(callables.catalogs.resolve(current_locale())),
    )
    # {% trans %} blocks are whitespace-normalized at run time exactly as babel.cfg's "trimmed = true" extracts them.
    env.policies["ext.i18n.trimmed"] = True
    env.orginvite_gettext = callables  # type: ignore[attr-defined]
    return env
