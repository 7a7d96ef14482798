"""JSON from the provider nested past Python's recursion limit is a provider or token error, never a 500.

``json.loads`` raises RecursionError (not ValueError) on ``[[[...]]]`` a few thousand levels deep; a provider, or
whoever sits between it and us, can send that in any document we decode. Real loopback HTTP, MiniOP misbehaving.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from joserfc import jws
from starlette.requests import Request
from starlette.responses import Response

from login_support import MiniOP, example_app_against, sign_in_at_op

DEEP = "[" * 2500 + "]" * 2500  # well past sys.getrecursionlimit() (1000), small enough for a 16 KiB token


class DeepOP(MiniOP):
    """MiniOP with a ``deep`` mode for its documents and a ``deep_token`` switch for the ID token's parts."""

    def __init__(self) -> None:
        super().__init__()
        self.deep_token: str | None = None  # "header" or "payload"

    async def _misbehave(self, mode: str, request: Request) -> Response | None:
        if mode == "deep":
            return Response(DEEP, media_type="application/json")
        if mode == "deep400":
            return Response(DEEP, status_code=400, media_type="application/json")
        return await super()._misbehave(mode, request)

    def mint(self, claims: dict[str, Any], header: dict[str, Any] | None = None, key: Any = None) -> str:
        key = key or self.keys[0]
        if self.deep_token == "payload":  # validly signed: the payload is decoded only after the signature
            return jws.serialize_compact({"alg": "RS256", "kid": key.kid}, DEEP.encode(), key)
        token = super().mint(claims, header, key)
        if self.deep_token == "header":
            head = base64.urlsafe_b64encode(DEEP.encode()).rstrip(b"=").decode()
            return head + token[token.index("."):]
        return token


@pytest.fixture
def world():
    op = DeepOP()
    with example_app_against(op) as (url, browser, _):
        yield op, url, browser


def test_deep_discovery_is_the_provider_unavailable_page(world):
    op, url, browser = world
    op.discovery_mode = "deep"
    response = browser.get(url + "/login")
    assert response.status_code == 502 and 'data-page="provider_unavailable"' in response.text


@pytest.mark.parametrize("mode", ["deep", "deep400"])
def test_deep_token_response_is_an_error_page(world, mode):
    op, url, browser = world
    op.token_mode = mode
    response = sign_in_at_op(browser, url)
    if mode == "deep":
        assert response.status_code == 502 and 'data-page="provider_unavailable"' in response.text
    else:  # a refused code whose error body cannot be read: the code was refused all the same
        assert response.status_code == 403 and 'data-page="forbidden"' in response.text
    assert "orginvite_session" not in browser.cookie_names()


def test_deep_jwks_is_the_provider_unavailable_page(world):
    op, url, browser = world
    op.jwks_mode = "deep"
    response = sign_in_at_op(browser, url)
    assert response.status_code == 502 and 'data-page="provider_unavailable"' in response.text


@pytest.mark.parametrize("part", ["header", "payload"])
def test_deep_id_token_is_refused(world, part):
    op, url, browser = world
    op.deep_token = part
    response = sign_in_at_op(browser, url)
    assert response.status_code == 403 and 'data-page="forbidden"' in response.text
    assert "orginvite_session" not in browser.cookie_names()
