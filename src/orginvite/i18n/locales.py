"""Locale negotiation: which of the shipped locales an invitee should see, and why.

Pure: no I/O beyond Babel's bundled CLDR tables, nothing about ASGI. The inputs are untrusted (headers, query
strings, ``user_metadata`` an inviter typed), so every function here accepts any string and never raises on it:
an invalid tag is skipped and the next source is tried.

Tags are compared the BCP 47 way whatever their spelling: ``pt-BR``, ``pt_BR`` and ``PT-br`` are one locale.
Results use the gettext/Babel spelling of the shipped locale (``pt_BR``); :func:`to_bcp47` gives the HTML and
``Content-Language`` spelling (``pt-BR``).

Lookup for one requested tag (first hit wins):

1. the tag itself;
2. the tag truncated, RFC 4647 "lookup" style: ``zh-Hant-TW`` -> ``zh-Hant`` -> ``zh`` (a truncation never
   crosses a script boundary: ``zh-Hant`` does not fall to ``zh``, which means Simplified Chinese);
3. any shipped variant of the same language and script: ``pt`` or ``pt-PT`` find a shipped ``pt_BR``, ``zh-TW``
   finds ``zh_Hant``. Babel's negotiate_locale does not do this (``negotiate_locale(['pt'], ['pt_BR'])`` is None).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from orginvite.errors import ConfigurationError

__all__ = [
    "SOURCES",
    "Attempt",
    "LanguageRange",
    "LocaleResolution",
    "Tag",
    "direction",
    "fallback_chain",
    "match",
    "negotiate",
    "negotiate_accept_language",
    "normalize",
    "parse_accept_language",
    "parse_tag",
    "to_bcp47",
]

# The sources, in the order negotiate() consults them.
SOURCES: tuple[str, ...] = (
    "explicit",
    "invitation",
    "user_metadata",
    "ui_locales",
    "accept_language",
    "organization",
    "default",
)

# Caps on untrusted input: a header or a ui_locales value longer than this is truncated, not parsed in full.
MAX_INPUT_LENGTH = 4096
MAX_RANGES = 32

# Right-to-left by script, and languages whose default script is right-to-left.
_RTL_SCRIPTS = frozenset({"Arab", "Hebr", "Thaa", "Syrc", "Nkoo", "Adlm", "Rohg", "Mand", "Samr", "Yezi"})
_RTL_LANGUAGES = frozenset({"ar", "he", "iw", "fa", "ur", "yi", "ps", "ckb", "dv", "sd", "ug", "arc", "ku_Arab"})

_TAG_RE = re.compile(
    r"""
    ^(?P<language>[A-Za-z]{2,3}|[A-Za-z]{5,8})
    (?:-(?P<script>[A-Za-z]{4}))?
    (?:-(?P<region>[A-Za-z]{2}|[0-9]{3}))?
    (?:-(?P<rest>[A-Za-z0-9]{1,8}(?:-[A-Za-z0-9]{1,8})*))?$
    """,
    re.VERBOSE,
)


class Tag(NamedTuple):
    """A parsed language tag: language lower case, script title case, region upper case."""

    language: str
    script: str | None = None
    region: str | None = None

    @property
    def key(self) -> str:
        """The gettext/Babel spelling: ``pt_BR``, ``zh_Hant_TW``."""
        return "_".join(part for part in (self.language, self.script, self.region) if part)


class LanguageRange(NamedTuple):
    """One entry of an ``Accept-Language`` header: a BCP 47 tag (``-`` separated) or ``*``, and its weight."""

    tag: str
    q: float


@dataclass(frozen=True)
class Attempt:
    """One source negotiate() looked at: what it offered and what (if anything) it matched."""

    source: str
    requested: str
    matched: str | None


@dataclass(frozen=True)
class LocaleResolution:
    """The outcome of :func:`negotiate`.

    ``locale`` is always one of the available locales. ``chain`` is the message-level fallback chain that
    translations use (``("pt_BR", "pt", "en")``): the locale, its shipped parents, then the default.
    ``trace`` records every source consulted, so previews and logs can show why this locale won.
    """

    locale: str
    source: str
    chain: tuple[str, ...]
    requested: str | None = None
    trace: tuple[Attempt, ...] = field(default=())

    @property
    def direction(self) -> str:
        return direction(self.locale)

    @property
    def bcp47(self) -> str:
        return to_bcp47(self.locale)


def parse_tag(value: object) -> Tag | None:
    """Parse a language tag in any common spelling, or return None when it is not one.

    Accepts ``-`` or ``_`` separators, any case, and a POSIX suffix (``en_US.UTF-8``, ``de_DE@euro``).
    Private-use, grandfathered and wildcard tags are not locales and give None.
    """
    if not isinstance(value, str):
        return None
    if len(value) <= 128:
        return _parse_tag_memo(value)  # every translated message and direction check asks: memoized, bounded
    return _parse_tag(value)


def _parse_tag(value: str) -> Tag | None:
    text = value.strip()
    if not text or len(text) > 64:
        return None
    text = re.split(r"[.@]", text, maxsplit=1)[0].replace("_", "-")
    found = _TAG_RE.match(text)
    if found is None:
        return None
    language = found["language"].lower()
    if language in {"und", "root"} or language.startswith("x"):
        return None
    if language == "iw":
        language = "he"  # the deprecated code some old systems still send
    script = found["script"].title() if found["script"] else None
    region = found["region"].upper() if found["region"] else None
    return Tag(language, script, region)


_parse_tag_memo = lru_cache(maxsize=1024)(_parse_tag)


def normalize(value: object) -> str | None:
    """The gettext spelling of a tag (``pt-br`` -> ``pt_BR``), or None when it is not a valid tag."""
    tag = parse_tag(value)
    return tag.key if tag else None


def to_bcp47(locale: str) -> str:
    """The BCP 47 spelling for ``lang`` attributes and ``Content-Language``: ``pt_BR`` -> ``pt-BR``."""
    tag = parse_tag(locale)
    if tag is None:
        return locale.replace("_", "-")
    return "-".join(part for part in tag if part)


def direction(locale: str) -> str:
    """``"rtl"`` or ``"ltr"``: the writing direction of a locale (by script when it names one)."""
    tag = parse_tag(locale)
    if tag is None:
        return "ltr"
    if tag.script is not None:
        return "rtl" if tag.script in _RTL_SCRIPTS else "ltr"
    return "rtl" if tag.language in _RTL_LANGUAGES else "ltr"


def parse_accept_language(header: object) -> list[LanguageRange]:
    """Parse an ``Accept-Language`` value into ranges, highest weight first (ties keep header order).

    Invalid entries and weights are skipped, ``q=0`` ("not acceptable") entries are dropped, ``*`` is kept as
    the range ``"*"``. Never raises: anything that is not a string gives an empty list.
    """
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    if not isinstance(header, str):
        return []
    ranges: list[tuple[float, int, str]] = []
    for position, item in enumerate(header[:MAX_INPUT_LENGTH].split(",")):
        if len(ranges) >= MAX_RANGES:
            break
        parts = [part.strip() for part in item.split(";")]
        raw = parts[0]
        if not raw:
            continue
        q = 1.0
        valid = True
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() != "q":
                continue  # unknown parameters are ignored, as RFC 9110 allows
            q_value = _parse_q(value.strip())
            if q_value is None:
                valid = False
                break
            q = q_value
        if not valid or q <= 0:
            continue
        if raw == "*":
            ranges.append((q, position, "*"))
            continue
        tag = parse_tag(raw)
        if tag is None or "." in raw or "@" in raw:
            continue
        ranges.append((q, position, to_bcp47(tag.key)))
    ranges.sort(key=lambda entry: (-entry[0], entry[1]))
    return [LanguageRange(tag, q) for q, _, tag in ranges]


def _parse_q(value: str) -> float | None:
    # RFC 9110 qvalue: 0, 0.x, 0.xx, 0.xxx, 1, 1.0, 1.00, 1.000. Be a little lenient (".5"), never beyond 0..1.
    if not re.fullmatch(r"[01]?(?:\.[0-9]{0,3})?", value) or value in {"", "."}:
        return None
    q = float(value)
    return q if 0.0 <= q <= 1.0 else None


@lru_cache(maxsize=4096)
def _maximize(tag: Tag) -> Tag:
    """Fill in the likely script and region from CLDR (``pt`` -> ``pt_Latn_BR``, ``zh_TW`` -> ``zh_Hant_TW``)."""
    from babel.core import get_global

    likely = get_global("likely_subtags")
    for probe in (
        tag.key,
        f"{tag.language}_{tag.region}" if tag.region else None,
        f"{tag.language}_{tag.script}" if tag.script else None,
        tag.language,
        f"und_{tag.script}" if tag.script else None,
    ):
        if probe and probe in likely:
            guess = parse_tag(likely[probe])
            if guess is None:
                break
            return Tag(tag.language, tag.script or guess.script, tag.region or guess.region)
    return tag


@lru_cache(maxsize=256)
def _index(available: tuple[str, ...]) -> dict[str, str]:
    """Map each available locale's normalized key to its spelling in ``available``."""
    index: dict[str, str] = {}
    for locale in available:
        key = normalize(locale)
        if key is not None and key not in index:
            index[key] = locale
    return index


def match(requested: object, available: Sequence[str]) -> str | None:
    """The available locale that best serves one requested tag, or None (see the module docstring)."""
    if isinstance(requested, str) and len(requested) <= 64:
        return _match_memo(requested, tuple(available))  # pure, and asked for every source of every negotiation
    return _match(requested, tuple(available))


def _match(requested: object, available: tuple[str, ...]) -> str | None:
    if isinstance(requested, str) and requested.strip() == "*":
        return None
    tag = parse_tag(requested)
    if tag is None:
        return None
    index = _index(tuple(available))
    if not index:
        return None
    # 1 + 2: the tag, then its truncations, never dropping a script the bare language would not imply.
    for candidate in _truncations(tag):
        if candidate.key in index:
            return index[candidate.key]
    # 3: any shipped variant with the same language and (likely) script; prefer the same region, then the
    # language's likely region (pt -> pt_BR), then the first in the caller's order.
    wanted = _maximize(tag)
    variants: list[tuple[int, int, str]] = []
    for position, (key, spelling) in enumerate(index.items()):
        other = parse_tag(key)
        if other is None or other.language != tag.language:
            continue
        other_max = _maximize(other)
        if other_max.script != wanted.script:
            continue
        if other_max.region == wanted.region:
            rank = 0
        elif other_max.region == _maximize(Tag(tag.language, wanted.script)).region:
            rank = 1
        else:
            rank = 2
        variants.append((rank, position, spelling))
    if variants:
        return min(variants)[2]
    return None


_match_memo = lru_cache(maxsize=1024)(_match)


def _truncations(tag: Tag) -> Iterable[Tag]:
    """The tag, then shorter forms that keep its script (zh_TW and zh_Hant never fall to zh, i.e. Simplified)."""
    yield tag
    script = _maximize(tag).script
    shorter: list[Tag] = []
    if tag.script and tag.region:
        shorter.append(Tag(tag.language, tag.script))
    if tag.script or tag.region:
        shorter.append(Tag(tag.language))
    for candidate in shorter:
        if _maximize(candidate).script == script:
            yield candidate


def fallback_chain(locale: str, available: Sequence[str], default: str = "en") -> tuple[str, ...]:
    """The message-level fallback chain of a locale: itself, its shipped parents, then the default.

    ``fallback_chain("pt_BR", [...]) == ("pt_BR", "pt", "en")``; only locales in ``available`` (plus
    ``default``) appear, each once. Memoized (every negotiation ends here; the inputs are a handful of locales).
    """
    if isinstance(locale, str) and len(locale) <= 64 and isinstance(default, str):
        return _fallback_chain_memo(locale, tuple(available), default)
    return _fallback_chain(locale, tuple(available), default)


def _fallback_chain(locale: str, available: tuple[str, ...], default: str) -> tuple[str, ...]:
    index = _index(available)
    chain: list[str] = []
    tag = parse_tag(locale)
    if tag is not None:
        for candidate in _truncations(tag):
            spelling = index.get(candidate.key)
            if spelling is not None and spelling not in chain:
                chain.append(spelling)
    if not chain:
        chain.append(locale)
    default_spelling = index.get(normalize(default) or default, default)
    if default_spelling not in chain:
        chain.append(default_spelling)
    return tuple(chain)


_fallback_chain_memo = lru_cache(maxsize=512)(_fallback_chain)


def _split_ui_locales(value: object) -> list[str]:
    if isinstance(value, str):
        return value[:MAX_INPUT_LENGTH].split()[:MAX_RANGES]
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [item for item in list(value)[:MAX_RANGES] if isinstance(item, str)]
    return []


def negotiate(
    *,
    available: Sequence[str],
    explicit: str | None = None,
    invitation_locale: str | None = None,
    user_metadata: Mapping[str, Any] | None = None,
    metadata_key: str = "lang",
    ui_locales: str | Sequence[str] | None = None,
    accept_language: str | bytes | None = None,
    organization_default: str | Mapping[str, Any] | None = None,
    default: str = "en",
) -> LocaleResolution:
    """Pick the locale an invitee sees, from the most to the least specific source.

    Order: ``explicit``, ``invitation_locale``, ``user_metadata[metadata_key]``, ``ui_locales`` (space-separated,
    in preference order), ``accept_language`` (by q-value), ``organization_default`` (a tag, or the
    organization's ``metadata`` mapping, read at ``metadata_key``), then ``default``. Each source is matched
    against ``available`` (see :func:`match`); the first source that matches wins. Untrusted values never
    raise: an invalid or unmatched value is recorded in the trace and skipped.

    Raises :class:`~orginvite.errors.ConfigurationError` only when ``available`` holds no valid locale.
    """
    available = tuple(available)
    if not _index(available):
        raise ConfigurationError("available", "no valid locale to negotiate between")
    trace: list[Attempt] = []

    def resolved(source: str, requested: str, locale: str) -> LocaleResolution:
        return LocaleResolution(
            locale=locale,
            source=source,
            chain=fallback_chain(locale, available, default),
            requested=requested,
            trace=tuple(trace),
        )

    def offers() -> Iterable[tuple[str, object]]:
        yield "explicit", explicit
        yield "invitation", invitation_locale
        if isinstance(user_metadata, Mapping):
            yield "user_metadata", user_metadata.get(metadata_key)
        for item in _split_ui_locales(ui_locales):
            yield "ui_locales", item
        for language_range in parse_accept_language(accept_language):
            yield "accept_language", language_range.tag
        if isinstance(organization_default, Mapping):
            yield "organization", organization_default.get(metadata_key)
        else:
            yield "organization", organization_default

    for source, value in offers():
        if value is None:
            continue
        requested = value if isinstance(value, str) else repr(value)[:64]
        found = match(value, available)
        trace.append(Attempt(source, requested[:64], found))
        if found is not None:
            return resolved(source, requested[:64], found)

    found = match(default, available)
    if found is None:
        found = next(iter(_index(available).values()))
    trace.append(Attempt("default", default, found))
    return resolved("default", default, found)


#: Longest Accept-Language header memoized; browsers send a few dozen characters, longer ones are computed each time.
_MEMO_HEADER_LENGTH = 256


@lru_cache(maxsize=512)
def _negotiate_accept_language(available: tuple[str, ...], accept_language: str, default: str) -> LocaleResolution:
    return negotiate(available=available, accept_language=accept_language, default=default)


def negotiate_accept_language(
    available: Sequence[str], accept_language: str | None, default: str = "en"
) -> LocaleResolution:
    """:func:`negotiate` from the Accept-Language header alone, memoized: it runs on every login and error page,
    costs tens of microseconds, and a site sees only a handful of distinct headers. Same result as ``negotiate``.
    """
    if accept_language is None or len(accept_language) > _MEMO_HEADER_LENGTH:
        return negotiate(available=available, accept_language=accept_language, default=default)
    return _negotiate_accept_language(tuple(available), accept_language, default)
