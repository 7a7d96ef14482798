"""The workspace calls its API as the signed-in member: a real token from the dev tenant, a real bearer check."""

from __future__ import annotations

import httpx2
import pytest
from workspace_support import ACME, Stack

API = "https://api.acme.test/"
JSON = {"accept": "application/json"}  # /invoices is a page; a script asks for its JSON


@pytest.fixture(params=["starlette", "fastapi"])
def stack(request):
    s = Stack(fastapi=request.param == "fastapi", audience=API, scope="openid profile email offline_access",
              api_token_lifetime=30)  # under get_access_token's 60 s: every call refreshes (and rotates)
    yield s
    s.close()


def test_invoices_are_fetched_with_the_members_token_refreshed_and_rotated_at_the_tenant(stack):
    client = stack.client()
    assert client.get(stack.url + "/invoices", headers=JSON).status_code == 401
    stack.sign_in(client)
    page = client.get(stack.url + "/invoices", headers=JSON)
    assert page.status_code == 200, page.text[:300]
    body = page.json()
    assert body["api"] == API and body["status"] == 200
    assert body["answer"]["organization"] == ACME
    assert set(body["answer"]["permissions"]) == {"invoices:read", "invoices:write"}  # the admin role's, via RBAC
    assert stack.tenant.token_calls["refresh_token"] == 1
    again = client.get(stack.url + "/invoices", headers=JSON)
    assert again.status_code == 200 and again.json()["answer"]["organization"] == ACME
    # a second refresh with the rotated refresh token: the tenant revokes the family on any older one
    assert stack.tenant.token_calls["refresh_token"] == 2
    client.close()


def test_the_api_refuses_what_is_not_a_valid_token_for_it(stack):
    client = stack.client()
    assert client.get(stack.url + "/api/invoices").status_code == 401
    for value in ("Bearer nonsense", "Basic abc", "Bearer a.b.c"):
        answer = client.get(stack.url + "/api/invoices", headers={"authorization": value})
        assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
    client.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_the_same_against_the_dev_tenant_with_a_server_side_store(kind, tmp_path):
    from login_support import sign_out
    from redis_support import redis_server

    def run(store: str) -> None:
        s = Stack(audience=API, scope="openid profile email offline_access", api_token_lifetime=30,
                  session_store=store)
        try:
            client = s.client()
            s.sign_in(client)
            cookie = next(c.value for c in client.cookies.jar if c.name == "orginvite_session")
            assert cookie.count(".") == 2 and len(cookie) < 200  # a signed session ID, not the tokens
            for calls in (1, 2):
                page = client.get(s.url + "/invoices", headers=JSON)
                assert page.status_code == 200 and page.json()["answer"]["organization"] == ACME
                assert s.tenant.token_calls["refresh_token"] == calls
            logout = sign_out(client, s.url + "/logout")  # the page's POST form; followed: /v2/logout and home
            assert logout.status_code == 200 and str(logout.url).startswith(s.url)
            with httpx2.Client(cookies={"orginvite_session": cookie}) as replay:  # the record is gone: nobody's session
                assert replay.get(s.url + "/invoices", headers=JSON).status_code == 401
            client.close()
        finally:
            s.close()

    if kind == "sqlite":
        run(f"sqlite:///{tmp_path}/sessions.db")
    else:
        with redis_server() as server:
            run(server.url)


def test_a_hundred_concurrent_requests_of_one_session_cost_the_dev_tenant_one_refresh():
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from orginvite import OrgInviteMiddleware, get_access_token

    async def token(request):
        return PlainTextResponse(await get_access_token(request))

    s = Stack(audience=API, scope="openid profile email offline_access", api_token_lifetime=30)
    try:
        client = s.client()
        s.sign_in(client)  # through the workspace; then the same settings (keys) serve a bare token route
        s._holder.inner = OrgInviteMiddleware(Starlette(routes=[Route("/token", token)]), s.config.login)
        cookie = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar if c.name.startswith("orginvite_session"))

        async def requests() -> list[httpx2.Response]:
            # the sign-in's cookie on every request, also on those sent after the first answer set a new one
            async with httpx2.AsyncClient(timeout=60, headers={"cookie": cookie}) as concurrent:
                return await asyncio.gather(*(concurrent.get(s.url + "/token") for _ in range(100)))

        answers = asyncio.run(requests())
        assert [a.status_code for a in answers] == [200] * 100, {a.text[:100] for a in answers}
        assert len({a.text for a in answers}) == 1
        assert s.tenant.token_calls["refresh_token"] == 1  # counted at the tenant: one refresh, no reuse revocation
        client.close()
    finally:
        s.close()
