"""Locale negotiation: source order, BCP 47 spellings, fallback to shipped variants, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orginvite.errors import ConfigurationError, OrgInviteError
from orginvite.i18n.locales import (
    SOURCES,
    LanguageRange,
    direction,
    fallback_chain,
    match,
    negotiate,
    normalize,
    parse_accept_language,
    to_bcp47,
)

AVAILABLE = ("en", "fr", "de", "es", "pt", "pt_BR", "ar", "ja", "zh_Hant", "zh_Hans")


# --- spelling ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("pt-BR", "pt_BR"),
        ("pt_br", "pt_BR"),
        ("PT-br", "pt_BR"),
        ("zh-hant-tw", "zh_Hant_TW"),
        ("es-419", "es_419"),
        ("en_US.UTF-8", "en_US"),
        ("de_DE@euro", "de_DE"),
        ("  fr ", "fr"),
        ("iw", "he"),
        ("*", None),
        ("", None),
        ("x-private", None),
        ("en--US", None),
        ("e", None),
        ("en-US-", None),
        ("1234", None),
        (None, None),
        (42, None),
    ],
)
def test_normalize_accepts_every_common_spelling(raw, expected):
    assert normalize(raw) == expected


def test_to_bcp47_uses_hyphens_and_canonical_case():
    assert to_bcp47("pt_BR") == "pt-BR"
    assert to_bcp47("zh_hant_tw") == "zh-Hant-TW"
    assert to_bcp47("en") == "en"


@pytest.mark.parametrize("locale", ["ar", "ar_EG", "he", "fa_IR", "ur", "az_Arab", "ar-SA"])
def test_right_to_left_locales(locale):
    assert direction(locale) == "rtl"


@pytest.mark.parametrize("locale", ["en", "ja", "pt_BR", "zh_Hant", "az_Latn", "bogus tag", "ar_Latn"])
def test_left_to_right_locales(locale):
    assert direction(locale) == "ltr"


# --- Accept-Language ---------------------------------------------------------------------------------------------


def test_accept_language_orders_by_weight_and_keeps_header_order_for_ties():
    ranges = parse_accept_language("de;q=0.7, fr-CH, en;q=0.8, fr;q=0.9, it")
    assert ranges == [
        LanguageRange("fr-CH", 1.0),
        LanguageRange("it", 1.0),
        LanguageRange("fr", 0.9),
        LanguageRange("en", 0.8),
        LanguageRange("de", 0.7),
    ]


def test_accept_language_skips_invalid_tags_weights_and_zero_weights():
    ranges = parse_accept_language("xx-invalid-tag-way-too-long-subtag, ja;q=0, de;q=2, es;q=abc, fr;q=0.5, *;q=0.1")
    assert ranges == [LanguageRange("fr", 0.5), LanguageRange("*", 0.1)]


def test_accept_language_accepts_bytes_and_odd_whitespace():
    ranges = parse_accept_language(b" pt-br ;  q=0.8 ,en-gb")
    assert ranges == [LanguageRange("en-GB", 1.0), LanguageRange("pt-BR", 0.8)]


@pytest.mark.parametrize("header", [None, 12, "", ",,,", ";q=1", "*"])
def test_accept_language_without_usable_ranges(header):
    assert [r for r in parse_accept_language(header) if r.tag != "*"] == []


# --- lookup ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "available", "expected"),
    [
        ("pt", ("en", "pt_BR"), "pt_BR"),  # Babel's negotiate_locale finds nothing here
        ("pt-PT", ("en", "pt_BR"), "pt_BR"),
        ("pt-PT", ("en", "pt", "pt_BR"), "pt"),
        ("pt-br", ("en", "pt", "pt_BR"), "pt_BR"),
        ("fr-CA", AVAILABLE, "fr"),
        ("zh-Hant-TW", AVAILABLE, "zh_Hant"),
        ("zh-TW", AVAILABLE, "zh_Hant"),
        ("zh-HK", AVAILABLE, "zh_Hant"),
        ("zh", AVAILABLE, "zh_Hans"),
        ("zh-CN", AVAILABLE, "zh_Hans"),
        ("zh-TW", ("en", "zh"), None),  # zh is Simplified: not a stand-in for Traditional
        ("zh-Hant", ("en", "zh"), None),
        ("sr-Latn", ("en", "sr"), None),  # sr is Cyrillic
        ("es-419", AVAILABLE, "es"),
        ("ar-EG", AVAILABLE, "ar"),
        ("ko", AVAILABLE, None),
        ("*", AVAILABLE, None),
    ],
)
def test_match(requested, available, expected):
    assert match(requested, available) == expected


def test_match_answers_in_the_callers_spelling():
    assert match("pt-BR", ("en", "pt-BR")) == "pt-BR"


def test_fallback_chain_goes_through_shipped_parents_then_default():
    assert fallback_chain("pt_BR", AVAILABLE) == ("pt_BR", "pt", "en")
    assert fallback_chain("pt_BR", ("en", "pt_BR")) == ("pt_BR", "en")
    assert fallback_chain("en", AVAILABLE) == ("en",)
    assert fallback_chain("zh_Hant", ("en", "zh", "zh_Hant")) == ("zh_Hant", "en")
    assert fallback_chain("fr", AVAILABLE, default="de") == ("fr", "de")


# --- negotiate: source order -------------------------------------------------------------------------------------

ALL_SOURCES = dict(
    explicit="de",
    invitation_locale="es",
    user_metadata={"lang": "fr"},
    ui_locales="ja ar",
    accept_language="pt-BR, en;q=0.5",
    organization_default="zh-Hant",
    default="en",
)
ORDER = [
    ("explicit", "explicit", "de"),
    ("invitation_locale", "invitation", "es"),
    ("user_metadata", "user_metadata", "fr"),
    ("ui_locales", "ui_locales", "ja"),
    ("accept_language", "accept_language", "pt_BR"),
    ("organization_default", "organization", "zh_Hant"),
]


@pytest.mark.parametrize("position", range(len(ORDER)))
def test_each_source_wins_over_the_ones_after_it(position):
    kwargs = dict(ALL_SOURCES)
    for name, _, _ in ORDER[:position]:
        kwargs.pop(name)
    result = negotiate(available=AVAILABLE, **kwargs)
    _, source, locale = ORDER[position]
    assert (result.source, result.locale) == (source, locale)


def test_default_when_nothing_else_matches():
    result = negotiate(available=AVAILABLE, user_metadata={"lang": "tlh"}, accept_language="ko, *")
    assert (result.locale, result.source) == ("en", "default")
    assert [(a.source, a.requested, a.matched) for a in result.trace] == [
        ("user_metadata", "tlh", None),
        ("accept_language", "ko", None),
        ("accept_language", "*", None),
        ("default", "en", "en"),
    ]


def test_unmatched_sources_fall_through_and_are_traced():
    result = negotiate(
        available=AVAILABLE,
        explicit="not a tag!",
        user_metadata={"lang": "ko"},
        ui_locales="  sv   pt-PT ",
        accept_language="fr",
    )
    assert (result.locale, result.source, result.requested) == ("pt", "ui_locales", "pt-PT")
    assert [a.source for a in result.trace] == ["explicit", "user_metadata", "ui_locales", "ui_locales"]
    assert result.chain == ("pt", "en")


def test_result_says_how_pt_reaches_a_shipped_pt_BR():
    result = negotiate(available=("en", "pt_BR"), accept_language="pt;q=0.9, en;q=0.1")
    assert (result.locale, result.source, result.requested) == ("pt_BR", "accept_language", "pt")
    assert result.chain == ("pt_BR", "en")
    assert result.bcp47 == "pt-BR"
    assert result.direction == "ltr"


def test_metadata_key_is_configurable_and_non_string_values_are_skipped():
    metadata = {"language": "ja", "lang": "fr"}
    assert negotiate(available=AVAILABLE, user_metadata=metadata, metadata_key="language").locale == "ja"
    result = negotiate(available=AVAILABLE, user_metadata={"lang": ["fr"]}, accept_language="de")
    assert (result.locale, result.source) == ("de", "accept_language")


def test_organization_metadata_mapping_is_read_at_the_metadata_key():
    result = negotiate(available=AVAILABLE, organization_default={"lang": "ar", "plan": "pro"})
    assert (result.locale, result.source, result.direction) == ("ar", "organization", "rtl")


def test_ui_locales_as_a_sequence():
    assert negotiate(available=AVAILABLE, ui_locales=["ko", "ja"]).locale == "ja"


def test_default_not_available_falls_back_to_first_available():
    result = negotiate(available=("fr", "de"), default="en")
    assert (result.locale, result.source) == ("fr", "default")


def test_no_available_locale_is_a_configuration_error():
    with pytest.raises(ConfigurationError) as info:
        negotiate(available=("", "!!"))
    assert isinstance(info.value, OrgInviteError)
    assert info.value.setting == "available"


# --- property-based ----------------------------------------------------------------------------------------------

tag_like = st.from_regex(r"[A-Za-z]{1,9}([-_][A-Za-z0-9]{1,9}){0,4}", fullmatch=True)
header_text = st.one_of(
    st.text(max_size=300),
    st.lists(
        st.tuples(st.one_of(tag_like, st.just("*"), st.text(max_size=10)), st.one_of(st.none(), st.text(max_size=6))),
        max_size=12,
    ).map(lambda items: ", ".join(t if q is None else f"{t};q={q}" for t, q in items)),
)


@settings(max_examples=300)
@given(header=header_text)
def test_parse_accept_language_never_raises_and_ranges_are_well_formed(header):
    ranges = parse_accept_language(header)
    weights = [r.q for r in ranges]
    assert weights == sorted(weights, reverse=True)
    for language_range in ranges:
        assert 0 < language_range.q <= 1
        assert language_range.tag == "*" or normalize(language_range.tag) is not None


@settings(max_examples=300)
@given(
    explicit=st.one_of(st.none(), tag_like, st.text(max_size=20)),
    metadata=st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=20), st.integers()))),
    ui_locales=st.one_of(st.none(), st.text(max_size=60)),
    accept_language=st.one_of(st.none(), header_text),
    organization=st.one_of(st.none(), tag_like),
)
def test_negotiate_always_returns_an_available_locale(explicit, metadata, ui_locales, accept_language, organization):
    result = negotiate(
        available=AVAILABLE,
        explicit=explicit,
        user_metadata=metadata,
        ui_locales=ui_locales,
        accept_language=accept_language,
        organization_default=organization,
    )
    assert result.locale in AVAILABLE
    assert result.chain[0] == result.locale and result.chain[-1] == "en"
    assert set(result.chain) <= set(AVAILABLE)
    assert result.source in SOURCES
    assert result.trace[-1].matched == result.locale


@settings(max_examples=200)
@given(tag=tag_like)
def test_a_match_keeps_the_language(tag):
    found = match(tag, AVAILABLE)
    if found is not None:
        assert normalize(found).split("_")[0] == normalize(tag).split("_")[0]


@settings(max_examples=200)
@given(locale=st.sampled_from(AVAILABLE), upper=st.booleans(), hyphen=st.booleans())
def test_every_spelling_of_an_available_locale_matches_itself(locale, upper, hyphen):
    spelled = locale.upper() if upper else locale.lower()
    if hyphen:
        spelled = spelled.replace("_", "-")
    assert match(spelled, AVAILABLE) == locale
