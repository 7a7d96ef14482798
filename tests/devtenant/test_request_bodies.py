"""Every body the dev tenant reads goes through one capped reader and one strict JSON parser (issue 13, item 7).

A served tenant is wrapped in an ASGI layer that counts the body bytes the tenant pulls from the server: a 64 MiB
body streamed in chunks (no Content-Length, so only the stream can tell) must be refused after the cap, not read
to its end. Deep JSON is a 400, never a RecursionError 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from test_auth_support import ACME, Browser, Clock, tenant_config

from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.management_api import MAX_BODY_BYTES
from orginvite.devtenant.request_body import MAX_JSON_DEPTH, InvalidJson, parse_json
from orginvite.testing import LiveServer

CHUNK = 65_536
TOTAL = 1024 * CHUNK  # 64 MiB offered
INVITATIONS = f"/api/v2/organizations/{ACME}/invitations"


class CountingApp:
    """The tenant, with a count of the request body bytes it pulled through ``receive``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.pulled = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def counted() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                self.pulled += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


@pytest.fixture
def served() -> Iterator[tuple[DevTenant, CountingApp, str]]:
    with DevTenant(config=tenant_config(), clock=Clock()) as tenant:
        counting = CountingApp(tenant.app)
        with LiveServer(counting) as server:
            yield tenant, counting, server.url


def _endless() -> Iterator[bytes]:
    for _ in range(TOTAL // CHUNK):
        yield b"a" * CHUNK


def _token(base: str) -> str:
    response = httpx2.post(
        base + "/oauth/token",
        data={"grant_type": "client_credentials", "audience": base + "/api/v2/"},
        auth=("m2m", "m2m-secret"),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "application/json"])
def test_token_endpoint_stops_reading_a_long_body(served, content_type: str) -> None:
    _, counting, base = served
    response = httpx2.post(base + "/oauth/token", content=_endless(), headers={"content-type": content_type},
                           timeout=60)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": "request body too large"}
    assert counting.pulled < 1_048_576, counting.pulled  # the 16 KiB cap and one server chunk, not 64 MiB


def test_token_endpoint_refuses_a_long_declared_length_unread(served) -> None:
    _, counting, base = served
    body = b"grant_type=client_credentials&x=" + b"a" * 20_000
    response = httpx2.post(base + "/oauth/token", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error_description"] == "request body too large"
    assert counting.pulled == 0


def test_management_api_stops_reading_a_long_body(served) -> None:
    _, counting, base = served
    response = httpx2.post(
        base + INVITATIONS,
        content=_endless(),
        headers={"content-type": "application/json", "authorization": f"Bearer {_token(base)}"},
        timeout=60,
    )
    assert response.status_code == 413 and response.json()["errorCode"] == "payload_too_large"
    assert counting.pulled < MAX_BODY_BYTES + 1_048_576, counting.pulled


def test_hosted_page_stops_reading_a_long_form(served) -> None:
    _, counting, base = served
    browser = Browser(base)
    try:
        page = browser.authorize()
        assert page.url.path == "/u/login"
        counting.pulled = 0
        response = browser.http.post(
            str(page.url), content=_endless(), headers={"content-type": "application/x-www-form-urlencoded"}, timeout=60
        )
        assert response.status_code == 413 and 'data-error="request_too_long"' in response.text
        assert counting.pulled < 1_048_576, counting.pulled
    finally:
        browser.close()


@pytest.mark.parametrize(
    "body", [b"[" * 5000, b'{"a":' * 3000, b'{"grant_type": ' + b"[" * 5000, b'{"a": ' * 100 + b"1" + b"}" * 100]
)
def test_token_endpoint_refuses_deep_json_with_a_400(served, body: bytes) -> None:
    _, _, base = served
    response = httpx2.post(base + "/oauth/token", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


def test_management_api_refuses_deep_json_with_a_400(served) -> None:
    _, _, base = served
    headers = {"content-type": "application/json", "authorization": f"Bearer {_token(base)}"}
    invitation = b'{"inviter": {"name": "Ann"}, "invitee": {"email": "deep@new.test"}, "client_id": "webapp"'
    deep = invitation + b', "user_metadata": ' + b'{"a": ' * 40 + b"1" + b"}" * 41
    for body in (b"[" * 5000, deep):
        response = httpx2.post(base + INVITATIONS, content=body, headers=headers)
        assert response.status_code == 400 and response.json()["errorCode"] == "invalid_body", response.text


def test_parse_json_depth_limit() -> None:
    assert parse_json(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH) is not None
    for body in (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), b"[" * 5000):
        with pytest.raises(InvalidJson) as caught:
            parse_json(body)
        assert caught.value.kind == "too_deep"
    with pytest.raises(InvalidJson) as caught:
        parse_json(b"{nope")
    assert caught.value.kind == "malformed"
