"""read_urlencoded_form: the capped form reader behind the interstitial and the example workspace's forms."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from orginvite.forms import read_urlencoded_form


def read(body: bytes, content_type: str = "application/x-www-form-urlencoded", chunk: int = 7, **caps: int):
    chunks = [body[i:i + chunk] for i in range(0, len(body), chunk)] or [b""]

    async def receive():
        part = chunks.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(chunks)}

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", content_type.encode())]}
    limits = {"max_bytes": 100, "max_fields": 3} | caps
    return asyncio.run(read_urlencoded_form(Request(scope, receive), **limits))


def test_pairs_in_order_with_blanks_repeats_and_utf8():
    body = b"a=1&b=&a=2&n=%C3%A9t%C3%A9"
    assert read(body, max_fields=4) == [("a", "1"), ("b", ""), ("a", "2"), ("n", "été")]
    assert read(b"a=1", "Application/X-WWW-Form-Urlencoded; charset=utf-8") == [("a", "1")]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"a=1", "multipart/form-data; boundary=x"),
        (b"a=1", "application/json"),
        (b"a=1", ""),
        (b"a=" + b"x" * 200, "application/x-www-form-urlencoded"),  # over max_bytes, read in chunks
        (b"a=1&b=2&c=3&d=4", "application/x-www-form-urlencoded"),  # over max_fields
    ],
)
def test_anything_else_is_none(body, content_type):
    assert read(body, content_type) is None


def test_raw_non_utf8_bytes_are_none_but_escapes_decode_leniently():
    assert read(b"a=\xff") is None
    assert read(b"a=%FF") == [("a", "\ufffd")]  # parse_qsl's errors="replace": callers validate values
