"""Gettext catalogs and the active locale (dates, numbers and the Jinja2 environment: :mod:`.rendering`).

Two traps shape this module:

- ``jinja2``'s ``install_gettext_translations`` stores one catalog on the environment, so two concurrent
  renders in different languages clash. Here the environment gets callables that look the catalog up from a
  :class:`~contextvars.ContextVar` at call time; :func:`use_locale` sets it for the duration of a render. One
  environment serves every locale, in threads and asyncio tasks alike.
- ``babel.support.Translations.load`` loads the first catalog it finds, so a message missing from ``pt_BR``
  would not fall back to ``pt``. Here each locale gets an explicit chain (``pt_BR`` -> ``pt`` -> ``en``)
  built with ``add_fallback``, loaded once and cached.

Catalogs live in the repository's top-level ``locales/<locale>/LC_MESSAGES/orginvite.{po,mo}``; the package
reaches them through ``orginvite/catalogs`` (a symlink in a source checkout, real files in an installed wheel).
"""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

from orginvite.errors import OrgInviteError
from orginvite.i18n import locales
from orginvite.i18n.names import fit_names

__all__ = [
    "AVAILABLE_LOCALES",
    "DEFAULT_LOCALE",
    "DOMAIN",
    "LOCALES_DIR",
    "CatalogError",
    "Catalogs",
    "Gettext",
    "UnknownTimezoneError",
    "current_locale",
    "current_timezone",
    "default_catalogs",
    "get_translations",
    "gettext",
    "ngettext",
    "parse_timezone",
    "pgettext",
    "set_default_catalogs",
    "use_locale",
]

DOMAIN = "orginvite"
DEFAULT_LOCALE = "en"

# The locales orginvite ships, in the order pages list them. tests/i18n/test_catalogs.py checks that each has a
# complete, compiled catalog and that no catalog directory is left out of this list.
AVAILABLE_LOCALES: tuple[str, ...] = ("en", "fr", "de", "es", "pt", "pt_BR", "ar", "ja")


class CatalogError(OrgInviteError):
    """A catalog file exists but cannot be read as a compiled gettext catalog."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}")


class UnknownTimezoneError(OrgInviteError, ValueError):
    """A timezone name that the IANA database does not know."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown timezone {name[:64]!r}")


def _find_locales_dir() -> Path:
    # Installed wheel: orginvite/catalogs holds the .mo files as package data. Source checkout: the same path is
    # a symlink to ../../locales; if a checkout lost the symlink (some Windows clones), use the real directory.
    packaged = Path(__file__).resolve().parents[1] / "catalogs"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "locales"
    if checkout.is_dir():
        return checkout
    return packaged


LOCALES_DIR: Path = _find_locales_dir()


# --- catalogs ----------------------------------------------------------------------------------------------------


_SOURCES_MEMO = 8192  # (locale, message) answers remembered for fallback reports; messages are a finite set
_UNSEEN = object()
_RESOLVED_MEMO = 256  # distinct locale spellings remembered per Catalogs (a few in practice; bounded all the same)


class Catalogs:
    """A stack of catalog directories, searched first to last for each locale of a fallback chain.

    Put a host app's directories first to override or add translations; orginvite's own catalogs come last
    (``builtin=True``). Locales are the union of :data:`AVAILABLE_LOCALES` and the ones found in the extra
    directories. Each locale's chain is built once, on first use, and cached (thread-safe).
    """

    def __init__(
        self,
        directories: Iterable[str | Path] = (),
        *,
        domain: str = DOMAIN,
        builtin: bool = True,
        default_locale: str = DEFAULT_LOCALE,
    ) -> None:
        self.layers: tuple[tuple[Path, str], ...] = tuple((Path(d), domain) for d in directories)
        if builtin:
            self.layers += ((LOCALES_DIR, DOMAIN),)
        self.default_locale = default_locale
        found: list[str] = list(AVAILABLE_LOCALES) if builtin else []
        for directory, layer_domain in self.layers:
            for locale in _locales_in(directory, layer_domain):
                spelled = locales.normalize(locale)
                if spelled is not None and spelled not in {locales.normalize(known) for known in found}:
                    found.append(spelled)  # one spelling, gettext's: a host's pt-BR/ is pt_BR
        if default_locale not in found:
            found.insert(0, default_locale)
        self.available: tuple[str, ...] = tuple(found)
        self._cache: dict[str, _Chain] = {}
        self._resolved: dict[str, str] = {}  # locale asked -> locale that serves it (every message asks again)
        self._sources: dict[tuple[str, str], str | None] = {}  # (locale, message) -> locale that translates it
        self._translations: dict[str | None, NullTranslations] = {}  # locale asked -> its translations
        self._own: dict[str | None, frozenset[str]] = {}  # locale asked -> keys its own catalogs translate
        self._lock = threading.Lock()

    def resolve(self, locale: str | None) -> str:
        """The available locale that serves ``locale`` (see :func:`orginvite.i18n.locales.match`), else the default."""
        if locale:
            found = self._resolved.get(locale)
            if found is not None:
                return found
            found = locales.match(locale, self.available)
            if found is not None:
                if len(self._resolved) < _RESOLVED_MEMO:
                    self._resolved[locale] = found
                return found
        return self.default_locale

    def chain(self, locale: str | None) -> tuple[str, ...]:
        """The locales a message is looked up in, in order: ``("pt_BR", "pt", "en")``."""
        return locales.fallback_chain(self.resolve(locale), self.available, self.default_locale)

    def translations(self, locale: str | None) -> NullTranslations:
        """The locale's translations with its whole fallback chain attached (``add_fallback``)."""
        found = self._translations.get(locale)
        if found is None:
            found = self._chain(locale).translations
            if len(self._translations) < _RESOLVED_MEMO:
                self._translations[locale] = found
        return found

    def source_of(self, locale: str | None, message: str, context: str | None = None) -> str | None:
        """Which locale of the chain translates ``message`` (None: no catalog has it, the msgid shows)."""
        key = message if context is None else f"{context}\x04{message}"
        resolved = self.resolve(locale)
        memo = self._sources.get((resolved, key), _UNSEEN)
        if memo is not _UNSEEN:
            return memo
        answer = None
        for layer_locale, catalog in self._chain(resolved).links:
            if key in catalog or (key, 0) in catalog:
                answer = layer_locale
                break
        if len(self._sources) < _SOURCES_MEMO:
            self._sources[(resolved, key)] = answer
        return answer

    def own_keys(self, locale: str | None) -> frozenset[str]:
        """The message keys the locale's own catalogs translate (``context\x04message`` for contexts): a message
        outside it is answered by a fallback locale or not at all (see :meth:`source_of`)."""
        found = self._own.get(locale)
        if found is None:
            resolved = self.resolve(locale)
            keys: set[str] = set()
            for layer_locale, catalog in self._chain(resolved).links:
                if layer_locale == resolved:
                    keys.update(k if isinstance(k, str) else k[0] for k in catalog)
            found = frozenset(keys)
            if len(self._own) < _RESOLVED_MEMO:
                self._own[locale] = found
        return found

    def preload(self) -> Catalogs:
        """Load every locale's chain now, so a broken catalog fails at start-up (:class:`CatalogError`)."""
        for locale in self.available:
            self._chain(locale)
        return self

    def _chain(self, locale: str | None) -> _Chain:
        resolved = self.resolve(locale)
        cached = self._cache.get(resolved)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._cache.get(resolved)
            if cached is None:
                cached = self._cache[resolved] = self._load_chain(resolved)
        return cached

    def _load_chain(self, locale: str) -> _Chain:
        # A fresh Translations object per link: add_fallback mutates the end of a chain, so links are never
        # shared between two locales' chains.
        links: list[tuple[str, Translations]] = []
        for chain_locale in locales.fallback_chain(locale, self.available, self.default_locale):
            for directory, domain in self.layers:
                catalog = _load(directory, chain_locale, domain)
                if catalog is not None:
                    links.append((chain_locale, catalog))
        if not links:
            return _Chain(NullTranslations(), ())
        root = links[0][1]
        for _, catalog in links[1:]:
            root.add_fallback(catalog)
        return _Chain(root, tuple((chain_locale, catalog._catalog) for chain_locale, catalog in links))


@dataclass(frozen=True)
class _Chain:
    translations: NullTranslations
    links: tuple[tuple[str, dict[Any, str]], ...]


def _locales_in(directory: Path, domain: str) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(
        child.name for child in directory.iterdir() if (child / "LC_MESSAGES" / f"{domain}.mo").is_file()
    )


def _load(directory: Path, locale: str, domain: str) -> Translations | None:
    # A host directory may spell a locale pt_BR, pt-BR or pt_br; any of them serves.
    candidates = [locale]
    spelled = locales.normalize(locale)
    for other in (spelled, locales.to_bcp47(spelled) if spelled else None):
        if other and other not in candidates:
            candidates.append(other)
    for name in candidates:
        path = directory / name / "LC_MESSAGES" / f"{domain}.mo"
        if not path.is_file():
            continue
        try:
            with path.open("rb") as fp:
                return Translations(fp=fp, domain=domain)
        except (OSError, ValueError, UnicodeDecodeError) as exc:  # gettext raises OSError on a bad magic number
            raise CatalogError(path, f"not a readable compiled catalog ({exc})") from exc
    return None


_default: Catalogs | None = None
_default_lock = threading.Lock()


def set_default_catalogs(catalogs: Catalogs | None) -> None:
    """Make ``catalogs`` the default stack: every environment created without ``catalogs=`` (login pages, dev
    tenant pages) and :func:`gettext` use it. A host app adds or overrides translations everywhere with
    ``set_default_catalogs(Catalogs(["myapp/locales"]))`` at start-up; None restores orginvite's own."""
    global _default
    with _default_lock:
        _default = catalogs


def default_catalogs() -> Catalogs:
    """orginvite's own catalogs (created on first use, then shared)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Catalogs()
    return _default


def get_translations(locale: str | None) -> NullTranslations:
    """orginvite's translations for ``locale`` (any spelling), with the fallback chain ``pt_BR`` -> ``pt`` -> ``en``."""
    return default_catalogs().translations(locale)


# --- the active locale -------------------------------------------------------------------------------------------


@dataclass
class _State:
    locale: str
    timezone: dt.tzinfo
    fallbacks: list[tuple[str, str | None]] | None = field(default=None)


_state: ContextVar[_State | None] = ContextVar("orginvite_locale", default=None)


def parse_timezone(value: str | dt.tzinfo | None, *, strict: bool = True) -> dt.tzinfo:
    """An IANA name (``"Europe/Paris"``) or tzinfo as a tzinfo; None is UTC.

    Untrusted values (an invitee's ``user_metadata``) should use ``strict=False``: an unknown name is UTC.
    """
    if value is None or value == "":
        return dt.UTC
    if isinstance(value, dt.tzinfo):
        return value
    if isinstance(value, str) and len(value) <= 64 and ".." not in value and not value.startswith("/"):
        try:
            return zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    if strict:
        raise UnknownTimezoneError(str(value))
    return dt.UTC


@contextmanager
def use_locale(
    locale: str,
    *,
    timezone: str | dt.tzinfo | None = None,
    record_fallbacks: bool = False,
) -> Iterator[list[tuple[str, str | None]] | None]:
    """Make ``locale`` (and ``timezone``, default UTC) active for the code inside, in this thread or task only.

    With ``record_fallbacks=True`` it yields a list that collects ``(message, locale_that_answered)`` for every
    message not answered by the active locale itself (previews show it; ``None`` means the msgid showed).
    """
    fallbacks: list[tuple[str, str | None]] | None = [] if record_fallbacks else None
    token = _state.set(_State(locales.normalize(locale) or locale, parse_timezone(timezone), fallbacks))
    try:
        yield fallbacks
    finally:
        _state.reset(token)


def current_locale() -> str:
    """The active locale (see :func:`use_locale`), else the default locale."""
    state = _state.get()
    return state.locale if state is not None else DEFAULT_LOCALE


def current_timezone() -> dt.tzinfo:
    state = _state.get()
    return state.timezone if state is not None else dt.UTC


def _record(catalogs: Catalogs, message: str, context: str | None = None) -> None:
    state = _state.get()
    if state is not None and state.fallbacks is not None:
        _record_in(state, catalogs, message, context)


def _record_in(state: _State, catalogs: Catalogs, message: str, context: str | None) -> None:
    fallbacks = state.fallbacks
    assert fallbacks is not None
    resolved = catalogs.resolve(state.locale)
    answered = catalogs.source_of(resolved, message, context)
    if answered != resolved and (message, answered) not in fallbacks:
        fallbacks.append((message, answered))


class Gettext:
    """gettext callables bound to a catalog stack (None: the default one, looked up at call time, so
    :func:`set_default_catalogs` reaches environments created earlier), reading the active locale at call time.

    Called for every message of every template: the active state is read once per call.
    """

    def __init__(self, catalogs: Catalogs | None) -> None:
        self._catalogs = catalogs

    @property
    def catalogs(self) -> Catalogs:
        return self._catalogs if self._catalogs is not None else default_catalogs()

    def _active(self, message: str, context: str | None = None) -> NullTranslations:
        catalogs = self._catalogs if self._catalogs is not None else default_catalogs()
        state = _state.get()
        if state is None:
            return catalogs.translations(DEFAULT_LOCALE)
        locale = state.locale
        if state.fallbacks is not None:
            key = message if context is None else f"{context}\x04{message}"
            if key not in catalogs.own_keys(locale):  # the usual case: the locale's own catalog answers
                _record_in(state, catalogs, message, context)
        return catalogs.translations(locale)

    def gettext(self, message: str) -> str:
        return self._active(message).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._active(singular).ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return self._active(message, context).pgettext(context, message)

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        return self._active(singular, context).npgettext(context, singular, plural, n)


def gettext(message: str, **variables: Any) -> str:
    """Translate ``message`` into the active locale (Python side); ``%(name)s`` placeholders are filled (names
    fitted into the sentence: :mod:`orginvite.i18n.names`)."""
    text = Gettext(None).gettext(message)
    return _fill(text, variables) if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """Plural-aware :func:`gettext`; ``num`` is available to the message as ``%(num)d``."""
    return _fill(Gettext(None).ngettext(singular, plural, n), {"num": n, **variables})


def pgettext(context: str, message: str, **variables: Any) -> str:
    text = Gettext(None).pgettext(context, message)
    return _fill(text, variables) if variables else text


def _fill(text: str, variables: dict[str, Any]) -> str:
    return fit_names(text, variables, default_catalogs().resolve(current_locale())) % variables
