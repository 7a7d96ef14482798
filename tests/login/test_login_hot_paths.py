"""The shortcuts the hot paths take give exactly the answers of the slow paths they replace."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import RedirectResponse

from orginvite.i18n import locales, translations
from orginvite.login.context import _QUOTED_URL
from orginvite.login.oidc import new_code_verifier, new_state, s256_challenge
from orginvite.login.transactions import STATE_PATTERN

_URL_CHARS = string.ascii_letters + string.digits + "_.~:/%#?=@[]!$&'()*+,;-" + " \"<>{}|\\^`é\u2603"


@given(st.text(alphabet=_URL_CHARS, max_size=80))
def test_urls_that_skip_quote_are_those_quote_leaves_alone(url: str) -> None:
    quoted = RedirectResponse(url).headers["location"]
    if _QUOTED_URL.fullmatch(url):
        assert quoted == url
    else:
        assert quoted != url or url == ""


_HEADERS = st.one_of(
    st.sampled_from(["en-US,en;q=0.9", "fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "pt-BR", "ja", "*", "",
                     "xx-YY", "de;q=0", "es;q=abc, ar", "zh-Hant-TW;q=0.8,pt;q=0.9"]),
    st.text(max_size=300),
)


@given(_HEADERS)
def test_memoized_accept_language_negotiation_matches_negotiate(header: str) -> None:
    available = translations.AVAILABLE_LOCALES
    expected = locales.negotiate(available=available, accept_language=header)
    assert locales.negotiate_accept_language(available, header) == expected
    assert locales.negotiate_accept_language(available, header) == expected  # and again, from the memo


def test_state_nonce_and_verifier_shapes() -> None:
    states = {new_state() for _ in range(200)}
    assert len(states) == 200 and all(STATE_PATTERN.fullmatch(s) and len(s) == 40 for s in states)
    verifier = new_code_verifier()
    assert 43 <= len(verifier) <= 128 and set(verifier) <= set(string.ascii_letters + string.digits + "-._~")
    rfc7636_appendix_b = ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert s256_challenge(rfc7636_appendix_b[0]) == rfc7636_appendix_b[1]


def _one_line_reference(value: object, limit: int = 255) -> str:
    """one_line as it was written before its fast path (per-character category check)."""
    import re
    import unicodedata

    if value is None:
        return ""
    text = re.sub(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+", " ", str(value))
    # controls and format characters go (bidi overrides, zero-width spaces), but tab (a space) and ZWNJ/ZWJ
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf") or ch in "\t\u200c\u200d")
    text = text.replace("\t", " ")
    return re.sub(r" {2,}", " ", text).strip()[:limit]


@given(st.text(max_size=60) | st.sampled_from(["Amira Haddad", "  Zoë  ", "a\u00a0b", "x\u2028y", "tab\there"]),
       st.integers(min_value=1, max_value=300))
def test_one_line_fast_path_matches_the_reference(value: str, limit: int) -> None:
    from orginvite.emails.model import one_line

    assert one_line(value, limit=limit) == _one_line_reference(value, limit)
