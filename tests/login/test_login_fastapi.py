"""The README's FastAPI example, as written there (module level), over loopback HTTP."""

from __future__ import annotations

import pytest

fastapi = pytest.importorskip("fastapi")

from fastapi import Depends, FastAPI, HTTPException, Request  # noqa: E402

from login_support import Browser, MiniOP, settings_kwargs  # noqa: E402
from loopback_support import Holder  # noqa: E402
from orginvite.config import Settings  # noqa: E402
from orginvite.login.middleware import OrgInviteMiddleware  # noqa: E402
from orginvite.sessions.user import OrgUser  # noqa: E402
from orginvite.testing import LiveServer  # noqa: E402

ORG = "org_" + "Q" * 16


def member(request: Request) -> OrgUser:
    if not request.user.is_authenticated:
        raise HTTPException(401, "sign in at /login")
    return request.user


def build(settings: Settings) -> FastAPI:
    app = FastAPI()
    app.add_middleware(OrgInviteMiddleware, settings=settings)

    @app.get("/me")
    def me(user: OrgUser = Depends(member)) -> dict:  # noqa: B008 - FastAPI's idiom
        org = user.organization
        return {"sub": user.sub, "organization": org.id if org else None, "roles": list(user.roles)}

    return app


def test_fastapi_example():
    op = MiniOP()
    op.claims = {"https://orginvite.dev/roles": ["admin"]}
    holder = Holder()
    with LiveServer(op.app) as op_server, LiveServer(holder) as server:
        holder.inner = build(Settings(**settings_kwargs(op_server.url + "/", server.url)))
        browser = Browser()
        assert browser.get(server.url + "/me").status_code == 401
        start = browser.get(server.url + f"/login?organization={ORG}")
        at_op = browser.get(start.headers["location"])
        assert browser.get(at_op.headers["location"]).status_code == 303
        assert browser.get(server.url + "/me").json() == {"sub": "auth0|alice", "organization": ORG,
                                                          "roles": ["admin"]}
        browser.close()
