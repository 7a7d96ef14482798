"""orginvite.fastapi.access_token as a FastAPI dependency, in the app behind the middleware."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI
from session_support import token_world

from orginvite.fastapi import AccessToken, access_token


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/invoices")
    async def invoices(token: Annotated[str, Depends(access_token)]) -> dict:
        return {"token": token[:12]}

    @app.get("/api/invoices")
    async def api_invoices(token: str = Depends(AccessToken(on_expired="401"))) -> dict:
        return {"token": token[:12]}

    return app


def test_the_dependency_gives_the_token_401s_without_a_session_and_redirects_or_401s_when_expired():
    with token_world(inner=fastapi_app()) as world:
        anonymous = world.browser.get(world.url + "/invoices")
        assert anonymous.status_code == 401 and anonymous.json()["detail"] == {"error": "not_signed_in"}
        world.sign_in()
        assert world.browser.get(world.url + "/invoices").json()["token"]
        assert world.browser.get(world.url + "/api/invoices").status_code == 200
        # a new session whose access token lives 1 s (under min_ttl: the call refreshes) and a provider that refuses
        world.op.access_ttl = 1
        world.op.refresh_mode = "invalid_grant"
        world.sign_in()
        expired = world.browser.get(world.url + "/invoices")
        assert expired.status_code == 303
        assert expired.headers["location"] == "/login?returnTo=%2Finvoices"
        assert any("orginvite_session=" in h and "Max-Age=0" in h for h in expired.headers.get_list("set-cookie"))
        world.sign_in()
        api = world.browser.get(world.url + "/api/invoices")
        assert api.status_code == 401 and api.json()["detail"]["reason"] == "refresh_refused"
