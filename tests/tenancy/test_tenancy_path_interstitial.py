"""Path routing (``myapp.test/o/acme``) and the wrong-account interstitial / callback pages: the organization's
path is kept, and a pending link made under one organization's path cannot be continued under another's."""

from __future__ import annotations

import pytest
from tenancy_support import ACME, MiniOP, TenantWorld, query_of

from orginvite.tenancy.rules import TenancyRules
from orginvite.testing import LiveServer


def _path_rules(world: TenantWorld) -> TenancyRules:
    return TenancyRules(path_template="/o/{organization}", apex_host=f"myapp.test:{world.port}")


@pytest.fixture
def paths():
    world = TenantWorld()
    world.configure(tenancy=_path_rules(world))
    yield world
    world.close()


@pytest.fixture
def mini_paths():
    world = TenantWorld()
    op = MiniOP()
    server = LiveServer(op.app).start()
    world.configure(tenancy=_path_rules(world), issuer=server.url + "/", client_id="test-client",
                    client_secret="test-client-secret")
    yield world, op
    server.stop()
    world.close()


def _csrf(page) -> str:
    return page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _interstitial(world: TenantWorld):
    done = world.sign_in(world.http.get(world.apex + "/o/acme/login"), "ann@acme.test")
    assert done.status_code == 303, done.text[:300]
    page = world.http.get(world.apex + f"/o/acme/login?invitation=t2&organization={ACME}&organization_name=acme")
    assert 'data-page="interstitial"' in page.text
    return page


def test_pending_link_of_acme_posted_under_globex_is_refused(paths):
    world = paths
    token = _csrf(_interstitial(world))
    moved = world.http.post(world.apex + "/o/globex/login", data={"csrf_token": token, "action": "continue"})
    assert moved.status_code == 400 and 'data-page="organization_mismatch"' in moved.text
    assert "location" not in moved.headers
    # the refused pending link is gone, and the session under acme's path was not signed out
    again = world.http.post(world.apex + "/o/acme/login", data={"csrf_token": token, "action": "continue"})
    assert again.status_code == 400 and 'data-page="transaction_expired"' in again.text
    assert world.http.get(world.apex + "/o/acme/me").status_code == 200
    # under its own path it continues as before
    token = _csrf(world.http.get(world.apex + f"/o/acme/login?invitation=t3&organization={ACME}"
                                 "&organization_name=acme"))
    go = world.http.post(world.apex + "/o/acme/login", data={"csrf_token": token, "action": "continue"})
    assert go.status_code == 303 and query_of(go.headers["location"])["invitation"] == "t3"


def test_interstitial_cancel_stays_under_the_organizations_path(paths):
    world = paths
    token = _csrf(_interstitial(world))
    cancel = world.http.post(world.apex + "/o/acme/login", data={"csrf_token": token, "action": "cancel"})
    assert cancel.status_code == 303 and cancel.headers["location"] == "/o/acme/"
    assert world.http.get(world.apex + "/o/acme/me").status_code == 200


def test_callback_pages_link_back_under_the_transactions_path(mini_paths):
    world, op = mini_paths
    op.token_mode = "500"
    start = world.http.get(world.apex + "/o/acme/login")
    at_op = world.http.get(start.headers["location"])
    callback = world.http.get(at_op.headers["location"])  # the callback is the apex's /callback
    assert callback.status_code == 502 and 'data-page="provider_unavailable"' in callback.text
    assert 'href="/o/acme/login"' in callback.text and 'href="/o/acme/"' in callback.text
    assert 'href="/login"' not in callback.text
    # a refused token: the "sign in again" and home links keep the path too
    op.token_mode = "ok"
    op.claims = {"nonce": "replayed"}
    start = world.http.get(world.apex + "/o/acme/login")
    at_op = world.http.get(start.headers["location"])
    callback = world.http.get(at_op.headers["location"])
    assert callback.status_code == 403 and 'data-page="forbidden"' in callback.text
    assert 'href="/o/acme/login"' in callback.text and 'href="/o/acme/"' in callback.text
