"""Invitation preflight (Settings(invitation_preflight=True)) against the dev tenant over loopback: dead links
answered before the provider (counted at the tenant), hints for a live one, the lookup budget under a flood of
fake tickets, a Management API that is down, and the wrong-account interstitial naming the invited address."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from test_login_devtenant import ACME, PASSWORD, tenant_config

from devtenant_support import follow_on_tenant, m2m_token, submit_form
from login_support import KEY_A, Browser, import_example_app, query_of
from loopback_support import Holder
from orginvite.config import Settings
from orginvite.devtenant.app import DevTenant
from orginvite.events import InvitationEvent
from orginvite.login.preflight import preflight_for
from orginvite.testing import LiveServer


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class CountingTenant:
    """The dev tenant's ASGI app, counting the requests it is sent by path (what "at the tenant" means)."""

    def __init__(self, app: Any) -> None:
        self.app, self.paths = app, Counter[str]()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths[scope["path"]] += 1
        await self.app(scope, receive, send)

    @property
    def authorize(self) -> int:
        return self.paths["/authorize"]

    @property
    def management(self) -> int:
        return sum(n for path, n in self.paths.items() if path.startswith("/api/v2/"))


class World:
    def __init__(self, m2m: str = "m2m-users", secret: str = "m2m-users-secret") -> None:
        self.clock = Clock()
        self.app_holder, self.tenant_holder = Holder(), Holder()
        self.app_server = LiveServer(self.app_holder).start()
        self.tenant_server = LiveServer(self.tenant_holder).start()
        self.url, self.tenant_url = self.app_server.url, self.tenant_server.url
        config = tenant_config(self.url)
        config["clients"].append({
            "client_id": "m2m-users", "client_secret": "m2m-users-secret", "name": "Backend with users",
            "app_type": "non_interactive", "grant_types": ["client_credentials"],
            "scopes": ["create:organization_invitations", "read:organization_invitations",
                       "delete:organization_invitations", "read:users", "read:organizations"]})
        self.tenant = DevTenant(config=config, clock=self.clock)
        self.counter = CountingTenant(self.tenant.app)
        self.tenant_holder.inner = self.counter
        self.events: list[InvitationEvent] = []

        async def record(event: InvitationEvent) -> None:
            self.events.append(event)

        self.settings = Settings(issuer=self.tenant_url + "/", client_id="web", client_secret="web-secret",
                                 secret_keys=(KEY_A,), base_url=self.url, management_client_id=m2m,
                                 management_client_secret=secret, invitation_preflight=True,
                                 on_invitation_event=record)
        self.middleware = import_example_app().create_app(self.settings)
        self.app_holder.inner = self.middleware
        self.browser = Browser(headers={"accept-language": "en-US,en;q=0.9"})

    @property
    def preflight(self) -> Any:
        return preflight_for(self.middleware.context)

    def close(self) -> None:
        self.browser.close()
        self.app_server.stop()
        self.tenant_server.stop()
        self.tenant.close()

    def invite(self, email: str, **body: Any) -> dict[str, Any]:
        token = m2m_token(self.tenant_url, "m2m-users", "m2m-users-secret")
        response = httpx2.post(self.tenant_url + f"/api/v2/organizations/{ACME}/invitations", headers={
            "authorization": f"Bearer {token}"}, json={"inviter": {"name": "Ann"}, "invitee": {"email": email},
                                                       "client_id": "web", **body})
        assert response.status_code == 200, response.text
        return response.json()

    def revoke(self, invitation: dict[str, Any]) -> None:
        token = m2m_token(self.tenant_url, "m2m-users", "m2m-users-secret")
        response = httpx2.delete(self.tenant_url + f"/api/v2/organizations/{ACME}/invitations/{invitation['id']}",
                                headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 204, response.text

    def login(self, ticket: str) -> httpx2.Response:
        return self.browser.get(self.url + f"/login?invitation={ticket}&organization={ACME}")

    def sign_up(self, start: httpx2.Response, name: str = "Zoé") -> httpx2.Response:
        page = follow_on_tenant(self.browser.client, start, self.tenant_url)
        assert page.url.path == "/u/signup", page.text[:300]
        at_app = submit_form(self.browser.client, page, {"name": name, "password": "s3cret-pass-123"},
                             self.tenant_url)
        return self.browser.get(at_app.headers["location"])


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    yield w
    w.close()


def assert_dead_page(response: httpx2.Response, *, names_acme: bool = True) -> None:
    assert response.status_code == 400 and 'data-page="callback_invitation_invalid"' in response.text
    assert ("<bdi>Acme Inc.</bdi>" in response.text) is names_acme


def test_dead_revoked_expired_and_unknown_tickets_never_reach_authorize(world: World) -> None:
    used = world.invite("used@example.test")
    world.sign_up(world.login(used["ticket_id"]))  # accepted: the ticket is used up
    world.browser.client.cookies.clear()
    revoked = world.invite("revoked@example.test")
    world.revoke(revoked)
    expiring = world.invite("late@example.test", ttl_sec=1)
    world.clock.offset += 2  # the tenant's clock: a second past its lifetime
    before = world.counter.authorize
    for ticket in (used["ticket_id"], revoked["ticket_id"], expiring["ticket_id"], "no-such-ticket-at-all"):
        assert_dead_page(world.login(ticket))
    assert world.counter.authorize == before  # no provider round trip for any of them
    failed = [e for e in world.events if e.type == "invitation.failed"]
    assert len(failed) == 4 and {e.reason for e in failed} == {"invitation_invalid"}


def test_a_live_ticket_gets_login_hint_the_invitation_language_and_signup(world: World) -> None:
    invitation = world.invite("zoe@example.test", user_metadata={"lang": "fr"})
    start = world.login(invitation["ticket_id"])
    assert start.status_code == 302
    query = query_of(start.headers["location"])
    assert query["login_hint"] == "zoe@example.test"
    assert query["ui_locales"] == "fr"  # the inviter's choice, ahead of the browser's English
    assert query["screen_hint"] == "signup"  # the tenant has no user with that address
    assert query["invitation"] == invitation["ticket_id"] and query["organization"] == ACME
    done = world.sign_up(start)
    assert done.status_code == 303 and done.headers["location"] == "/"
    deadline = time.monotonic() + 10
    while not any(e.type == "invitation.accepted" for e in world.events) and time.monotonic() < deadline:
        time.sleep(0.02)
    [accepted] = [e for e in world.events if e.type == "invitation.accepted"]
    assert accepted.invitation_id == invitation["id"] and accepted.email == "zoe@example.test"


def test_an_existing_user_gets_no_signup_hint(world: World) -> None:
    invitation = world.invite("carl@else.test")
    query = query_of(world.login(invitation["ticket_id"]).headers["location"])
    assert query["login_hint"] == "carl@else.test" and "screen_hint" not in query


def test_without_read_users_the_signup_hint_is_left_out() -> None:
    w = World(m2m="m2m", secret="m2m-secret")  # read and create invitations only
    try:
        invitation = w.invite("zoe@example.test", user_metadata={"lang": "de"})
        query = query_of(w.login(invitation["ticket_id"]).headers["location"])
        assert query["login_hint"] == "zoe@example.test" and query["ui_locales"] == "de"
        assert "screen_hint" not in query
        assert_dead_page(w.login("no-such-ticket"), names_acme=False)  # no read:organizations: no name
    finally:
        w.close()


def test_a_flood_of_fake_tickets_costs_at_most_the_budget_and_blocks_nobody(world: World) -> None:
    preflight = world.preflight
    preflight._clock = lambda: 1000.0  # the budget refills with time: frozen, the bound is exact
    invitation = world.invite("zoe@example.test")
    before = world.counter.management
    answers = Counter(world.login(f"fake-{n:03d}").status_code for n in range(40))
    spent = world.counter.management - before
    # one listing for the organization seen first (new organizations' budget), then its own refresh budget, and
    # one read of its display name for the page
    assert spent <= 1 + preflight.refresh_burst + 1
    assert answers[400] <= 1 + preflight.refresh_burst and answers[302] == 40 - answers[400]
    assert preflight.refused >= 40 - answers[400]
    live = world.login(invitation["ticket_id"])  # cached: the real invitee still gets the hints, for free
    assert live.status_code == 302 and query_of(live.headers["location"])["login_hint"] == "zoe@example.test"


def test_a_management_api_that_fails_changes_nothing_for_the_invitee() -> None:
    w = World(m2m="m2m", secret="not-the-secret")  # every Management API call is refused (401)
    try:
        invitation = w.invite("zoe@example.test")
        start = w.login(invitation["ticket_id"])
        assert start.status_code == 302
        query = query_of(start.headers["location"])
        assert query["invitation"] == invitation["ticket_id"] and "login_hint" not in query
        assert w.login("no-such-ticket").status_code == 302  # unknown, not dead: the provider decides
    finally:
        w.close()


def sign_in_as_ann(world: World) -> None:
    start = world.browser.get(world.url + "/login?organization=" + ACME)
    page = follow_on_tenant(world.browser.client, start, world.tenant_url)
    at_app = submit_form(world.browser.client, page, {"email": "ann@acme.test", "password": PASSWORD},
                         world.tenant_url)
    assert world.browser.get(at_app.headers["location"]).status_code == 303


def test_the_interstitial_names_the_invited_address_and_the_invitee_goes_straight_on(world: World) -> None:
    sign_in_as_ann(world)
    other = world.invite("zoe@example.test")
    page = world.login(other["ticket_id"])
    assert page.status_code == 200 and 'data-page="interstitial"' in page.text
    assert "<bdi>zoe@example.test</bdi>" in page.text and "<bdi>ann@acme.test</bdi>" in page.text
    mine = world.invite("Ann@Acme.test")
    straight = world.login(mine["ticket_id"])
    assert straight.status_code == 302 and straight.headers["location"].startswith(world.tenant_url + "/authorize")
    assert query_of(straight.headers["location"])["invitation"] == mine["ticket_id"]
