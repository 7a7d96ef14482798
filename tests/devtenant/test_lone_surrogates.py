"""Lone UTF-16 surrogates are refused at every JSON boundary of the dev tenant (issue 13, item 5).

``"\\ud800"`` is valid JSON, but the string it decodes to cannot be encoded as UTF-8: an invitation whose inviter
name held one was stored although its create answered 500, and from then on listing the organization's
invitations answered 500 too. Now such a body is a 400 ``invalid_body`` and nothing is stored. Bodies are sent as
ASCII JSON (the escapes as a client's encoder writes them) and as raw UTF-8-style surrogate bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.config import DEMO_ACME_ORG_ID, DEMO_M2M_CLIENT_ID, DEMO_M2M_CLIENT_SECRET, DEMO_WEB_CLIENT_ID

INVITATIONS = f"/organizations/{DEMO_ACME_ORG_ID}/invitations"


@pytest.fixture
def live() -> Iterator[tuple[DevTenant, str]]:
    with DevTenant() as tenant, tenant.serve() as server:
        yield tenant, server.url


@pytest.fixture
def api(live: tuple[DevTenant, str]) -> Iterator[httpx2.Client]:
    _, base = live
    token = httpx2.post(base + "/oauth/token", data={
        "grant_type": "client_credentials", "client_id": DEMO_M2M_CLIENT_ID, "client_secret": DEMO_M2M_CLIENT_SECRET,
        "audience": base + "/api/v2/"}).json()["access_token"]  # fmt: skip
    with httpx2.Client(base_url=base + "/api/v2", headers={"authorization": f"Bearer {token}"}) as client:
        yield client


def _post(api: httpx2.Client, path: str, body: Any) -> httpx2.Response:
    return api.post(path, content=json.dumps(body).encode("ascii"), headers={"content-type": "application/json"})


def _refused(response: httpx2.Response, location: str | None = None) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["statusCode"] == 400 and body["error"] == "Bad Request" and body["errorCode"] == "invalid_body"
    assert "unpaired UTF-16 surrogate" in body["message"]
    if location is not None:
        assert body["message"].endswith(f"on property {location}."), body["message"]


def _invitation(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"inviter": {"name": "Ann"}, "invitee": {"email": "zoe@new.test"},
                            "client_id": DEMO_WEB_CLIENT_ID, "send_invitation_email": False}  # fmt: skip
    body.update(overrides)
    return body


def test_an_invitation_with_a_lone_surrogate_is_refused_and_the_list_still_works(api: httpx2.Client) -> None:
    before = api.get(INVITATIONS)
    assert before.status_code == 200
    _refused(_post(api, INVITATIONS, _invitation(inviter={"name": "Ann \ud83d"})), "inviter.name")
    _refused(_post(api, INVITATIONS, _invitation(user_metadata={"note": ["ok", "\udc00"]})), "user_metadata.note[1]")
    _refused(_post(api, INVITATIONS, _invitation(app_metadata={"k\ud800": 1})), "app_metadata")
    after = api.get(INVITATIONS)
    assert after.status_code == 200 and after.json() == before.json()  # nothing stored
    assert _post(api, INVITATIONS, _invitation(inviter={"name": "Ann \U0001f600"})).status_code == 200  # paired: fine


def test_raw_surrogate_bytes_are_refused_too(api: httpx2.Client) -> None:
    body = b'{"inviter": {"name": "Ann \xed\xa0\x80"}, "invitee": {"email": "zoe@new.test"}, "client_id": "%s"}'
    response = api.post(INVITATIONS, content=body % DEMO_WEB_CLIENT_ID.encode(),
                        headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 400 and response.json()["errorCode"] == "invalid_body", response.text


def test_a_user_with_a_lone_surrogate_is_not_created(api: httpx2.Client, live: tuple[DevTenant, str]) -> None:
    tenant, _ = live
    body = {"email": "zoe@new.test", "password": "long enough pw", "connection": "Username-Password-Authentication"}
    _refused(_post(api, "/users", {**body, "name": "Zo\ud83d"}), "name")
    _refused(_post(api, "/users", {**body, "user_metadata": {"lang": "\udfff"}}), "user_metadata.lang")
    assert tenant.store.get_user_by_email("zoe@new.test") is None
    assert _post(api, "/users", body).status_code == 201


def test_other_management_bodies_refuse_them(api: httpx2.Client) -> None:
    _refused(_post(api, "/organizations", {"name": "zoe", "display_name": "Zo\ud83d"}), "display_name")
    _refused(_post(api, "/roles", {"name": "r\ud83d"}), "name")
    _refused(_post(api, f"/organizations/{DEMO_ACME_ORG_ID}/members", {"members": ["auth0|\ud83d"]}), "members[0]")


def test_token_endpoint_refuses_them_in_json(live: tuple[DevTenant, str]) -> None:
    _, base = live
    body = {"grant_type": "client_credentials", "client_id": "m\ud83d", "client_secret": "x"}
    response = httpx2.post(base + "/oauth/token", content=json.dumps(body).encode(),
                          headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert "unpaired UTF-16 surrogate" in response.json()["error_description"]
