from __future__ import annotations

from urllib.parse import quote, urljoin, urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from orginvite.links import RETURN_TO_MAX_LENGTH, safe_return_path

DEFAULT = "/dashboard"

OPEN_REDIRECT_PAYLOADS = [
    # absolute URLs and schemes
    "https://evil.example/",
    "http://evil.example",
    "HTTPS://evil.example",
    "hTtP://evil.example/path",
    "ftp://evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "javascript://%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "evil.example",
    "https:evil.example",
    "http:/evil.example",
    # scheme-relative and backslash variants
    "//evil.example",
    "//evil.example/path",
    "///evil.example",
    "////evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "/path\\..\\..\\evil.example",
    "/\\\\evil.example",
    # whitespace and control characters (browsers strip tab/CR/LF inside URLs)
    " //evil.example",
    "\t//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%0d%0aLocation:%20https://evil.example",
    "/\x00/evil.example",
    "\x00javascript:alert(1)",
    " javascript:alert(1)",
    "\x01https://evil.example",
    "/ /evil.example",
    "/home\r\nSet-Cookie: a=b",
    # percent-encoded variants
    "%2F%2Fevil.example",
    "/%2Fevil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%5cevil.example",
    "/%252F/evil.example",
    "/%25252F/evil.example",
    "/%255Cevil.example",
    "%2F%5Cevil.example",
    "/%zz",
    "/%",
    "/%ff",
    "/%2525252525252F",
    # userinfo and authority tricks
    "//user@evil.example",
    "//app.example@evil.example",
    "https://app.example@evil.example/",
    "//evil.example%2F@app.example",
    "//evil.example\\@app.example",
    # dot segments that collapse into "//"
    "/.//evil.example",
    "/..//evil.example",
    "/%2e//evil.example",
    "/a/../..//evil.example",
    # unicode look-alikes (raw and percent-encoded)
    "/\uff0fevil.example",  # fullwidth solidus
    "\uff0f\uff0fevil.example",
    "/\u2215evil.example",  # division slash
    "/\ufe68evil.example",  # small reverse solidus
    "/\u2044evil.example",  # fraction slash
    "/evil\u3002example",  # ideographic full stop
    "/%EF%BC%8Fevil.example",  # fullwidth solidus, encoded
    "/%E2%88%95evil.example",  # division slash, encoded
    "/%EF%BC%BCevil.example",  # fullwidth reverse solidus, encoded
    "/%EF%B9%A8evil.example",  # small reverse solidus, encoded
    "\u3000//evil.example",  # ideographic space
    "/\u200b/evil.example",  # zero-width space
    "/café",
    # not a path at all
    "",
    "?next=/x",
    "#frag",
    "dashboard",
    ".",
    "..",
    "./evil",
    # too long
    "/" + "a" * RETURN_TO_MAX_LENGTH,
]


def assert_same_origin(result: str) -> None:
    assert result.startswith("/")
    assert not result.startswith("//")
    assert not result.startswith("/\\")
    parts = urlsplit(result)
    assert parts.scheme == ""
    assert parts.netloc == ""
    joined = urlsplit(urljoin("https://app.example/", result))
    assert (joined.scheme, joined.netloc) == ("https", "app.example")


def test_there_are_at_least_forty_distinct_payloads() -> None:
    assert len(set(OPEN_REDIRECT_PAYLOADS)) >= 40
    assert len(set(OPEN_REDIRECT_PAYLOADS)) == len(OPEN_REDIRECT_PAYLOADS)


@pytest.mark.parametrize("payload", OPEN_REDIRECT_PAYLOADS)
def test_open_redirect_payloads_fall_back_to_the_default(payload: str) -> None:
    assert safe_return_path(payload, DEFAULT) == DEFAULT


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/dashboard",
        "/settings/members",
        "/reports?tab=2",
        "/reports?tab=2&sort=name#top",
        "/search?q=https://example.com",  # a URL inside the query is data, not a destination
        "/docs/a%20b",
        "/caf%C3%A9",  # encoded non-ASCII is a legitimate path
        "/@alice",
        "/javascript:alert(1)",  # a path segment, not a scheme
        "/a//b",
        "/~user/files",
        "/%2541",  # "%41" once decoded: harmless
    ],
)
def test_safe_paths_are_kept_with_query_and_fragment(path: str) -> None:
    assert safe_return_path(path, DEFAULT) == path
    assert_same_origin(path)


def test_none_and_non_strings_give_the_default() -> None:
    assert safe_return_path(None) == "/"
    assert safe_return_path(None, DEFAULT) == DEFAULT
    assert safe_return_path(b"/x", DEFAULT) == DEFAULT  # type: ignore[arg-type]
    assert safe_return_path(["/x"], DEFAULT) == DEFAULT  # type: ignore[arg-type]


def test_length_cap_boundary() -> None:
    at_cap = "/" + "a" * (RETURN_TO_MAX_LENGTH - 1)
    assert safe_return_path(at_cap, DEFAULT) == at_cap
    assert safe_return_path(at_cap + "a", DEFAULT) == DEFAULT


@pytest.mark.parametrize("default", ["//evil.example", "https://evil.example", "", "dashboard", "/\\x"])
def test_an_unsafe_default_is_a_configuration_error(default: str) -> None:
    with pytest.raises(ValueError):
        safe_return_path("/ok", default)


@settings(max_examples=1000)
@given(value=st.one_of(st.none(), st.text(max_size=200), st.text(alphabet="/\\%:@.?#abc2F5Ce \t\n", max_size=30)))
@example("/%2F/evil.example")
@example("/\uff0fevil.example")
def test_result_is_always_the_default_or_same_origin(value: str | None) -> None:
    result = safe_return_path(value, DEFAULT)
    assert result in (DEFAULT, value)
    assert_same_origin(result)


_segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_~", min_size=1, max_size=12)


@given(segments=st.lists(_segment, min_size=0, max_size=6), query=st.none() | _segment)
def test_ordinary_paths_are_always_kept(segments: list[str], query: str | None) -> None:
    path = "/" + "/".join(segments) + (f"?q={query}" if query else "")
    assert safe_return_path(path, DEFAULT) == path


@given(host=st.from_regex(r"\A[a-z]{1,10}\.[a-z]{2,5}\Z"), prefix=st.sampled_from(["//", "/\\", "\\\\", "https://"]))
def test_any_host_smuggling_prefix_is_refused_even_once_or_twice_encoded(host: str, prefix: str) -> None:
    for candidate in (prefix + host, quote(prefix, safe="") + host, quote(quote(prefix, safe=""), safe="") + host):
        assert safe_return_path(candidate, DEFAULT) == DEFAULT
