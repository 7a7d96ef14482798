"""The small parts of multi-tenant login: the host-organization claim rule, host-bound sessions and transactions,
and the name -> ID directory's cache (against the dev tenant's real Management API over loopback)."""

from __future__ import annotations

import pytest
from tenancy_support import ACME, GLOBEX

from orginvite.config import Settings
from orginvite.errors import InvalidCookieError, OrganizationClaimError, ProviderError
from orginvite.login.claims import check_host_organization
from orginvite.login.transactions import Transaction
from orginvite.sessions.cookie import SessionCookie
from orginvite.sessions.user import Organization, OrgUser
from orginvite.tenancy.routing import OrganizationDirectory, UnknownOrganization

# -- claims -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "name", "org_id"),
    [
        ({"org_id": ACME, "org_name": "acme"}, "acme", None),
        ({"org_id": ACME, "org_name": "acme"}, "acme", ACME),
        ({"org_id": ACME}, "acme", ACME),  # names off at the provider: the looked-up ID decides
        ({"org_id": ACME, "org_name": "acme"}, "ACME", None),
    ],
)
def test_host_organization_claims_that_pass(claims, name, org_id):
    check_host_organization(claims, name, org_id)


@pytest.mark.parametrize(
    ("claims", "name", "org_id"),
    [
        ({"org_id": GLOBEX, "org_name": "globex"}, "acme", None),
        ({"org_id": GLOBEX, "org_name": "acme"}, "acme", ACME),  # the name matches, the ID does not
        ({"org_id": ACME, "org_name": "globex"}, "acme", ACME),  # the ID matches, the name does not
        ({"org_id": ACME}, "acme", None),  # nothing ties the token to the host
        ({}, "acme", ACME),
        ({"org_id": ["org_acme000000000001"], "org_name": {"x": 1}}, "acme", None),  # odd shapes fail, never crash
    ],
)
def test_host_organization_claims_that_fail(claims, name, org_id):
    with pytest.raises(OrganizationClaimError):
        check_host_organization(claims, name, org_id)


def test_an_empty_host_organization_is_a_programming_error():
    with pytest.raises(ValueError):
        check_host_organization({"org_name": ""}, "", None)


# -- sessions and transactions ------------------------------------------------------------------------------


def _settings(**kw):
    return Settings(issuer="http://127.0.0.1:9/", client_id="a", client_secret="b", secret_keys=("s" * 32,),
                    base_url="http://myapp.test", **kw)


def test_a_bound_session_reads_only_where_it_was_bound():
    cookies = SessionCookie(_settings())
    user = OrgUser("auth0|1", organization=Organization(ACME, "acme"), expires_at=4e9)
    value = cookies.issue(user, ("acme.myapp.test", "acme"))
    assert cookies.read(value, ("acme.myapp.test", "acme"))[0] == user
    for elsewhere in (("globex.myapp.test", "globex"), ("acme.myapp.test", "globex"), ("myapp.test", None),
                      ("acme.myapp.test:8443", "acme")):
        with pytest.raises(InvalidCookieError) as info:
            cookies.read(value, elsewhere)
        assert info.value.reason == "foreign"
    unbound = cookies.issue(user)
    assert cookies.read(unbound)[0] == user  # tenancy off: unchanged
    with pytest.raises(InvalidCookieError):
        cookies.read(unbound, ("acme.myapp.test", "acme"))  # made before tenancy was on: not valid on a host


def test_transactions_from_before_tenancy_still_load_and_new_fields_are_checked():
    base = dict(state="s" * 20, nonce="n", code_verifier="v", organization=None, invitation=False, return_to="/",
                created_at=1.0, redirect_uri="http://myapp.test/callback")
    assert Transaction.from_payload(base).host is None
    full = Transaction.from_payload({**base, "host": "acme.myapp.test", "host_organization": "acme",
                                     "host_organization_id": ACME})
    assert (full.host, full.host_organization, full.host_organization_id) == ("acme.myapp.test", "acme", ACME)
    for bad in ({"host": 3}, {"host_organization": ""}, {"host_organization_id": ["x"]}):
        with pytest.raises(InvalidCookieError):
            Transaction.from_payload({**base, **bad})


# -- the directory --------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.anyio
async def test_the_directory_caches_hits_and_misses_with_their_ttls(tenant):
    settings = _settings(management_client_id="m2m", management_client_secret="m2m-secret")
    settings = Settings(**{**settings.__dict__, "issuer": tenant + "/"})
    clock = Clock()
    directory = OrganizationDirectory.from_settings(settings)
    directory._clock = clock
    directory.ttl = 300
    try:
        assert directory.cached("acme") is None
        assert await directory.resolve("acme") == ACME
        assert await directory.resolve("acme") == ACME and directory.cached("acme") == ACME
        assert directory.lookups == 1
        with pytest.raises(UnknownOrganization):
            await directory.resolve("nosuch")
        with pytest.raises(UnknownOrganization):
            await directory.resolve("nosuch")
        assert directory.lookups == 2
        clock.now += 31  # misses are asked again soon (the organization may just have been created)
        with pytest.raises(UnknownOrganization):
            await directory.resolve("nosuch")
        assert directory.lookups == 3 and directory.cached("acme") == ACME
        clock.now += 300  # hits expire after the TTL
        assert directory.cached("acme") is None
        assert await directory.resolve("acme") == ACME and directory.lookups == 4
    finally:
        await directory.aclose()


@pytest.mark.anyio
async def test_the_directory_reports_an_unreachable_api_as_a_provider_error():
    settings = _settings(management_client_id="m2m", management_client_secret="x")
    directory = OrganizationDirectory.from_settings(Settings(**{**settings.__dict__, "issuer": "http://127.0.0.1:9/"}))
    try:
        with pytest.raises(ProviderError):
            await directory.resolve("acme")
        assert directory.cached("acme") is None  # a failure is not cached as "unknown"
    finally:
        await directory.aclose()


# -- websockets (uvicorn here has no websocket library, so the ASGI contract is checked directly) -------------


@pytest.mark.anyio
async def test_a_websocket_to_a_host_we_do_not_serve_is_closed_before_the_app_sees_it():
    from orginvite.login.middleware import OrgInviteMiddleware
    from orginvite.tenancy.rules import TenancyRules

    seen = []

    async def app(scope, receive, send):
        seen.append(scope)

    middleware = OrgInviteMiddleware(app, _settings(tenancy=TenancyRules(host_template="{organization}.myapp.test")))
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "websocket.connect"}

    base = {"type": "websocket", "path": "/ws", "root_path": "", "query_string": b"", "client": ("127.0.0.1", 1)}
    await middleware({**base, "headers": [(b"host", b"evil.test")]}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}] and seen == []
    await middleware({**base, "headers": [(b"host", b"acme.myapp.test")]}, receive, send)
    assert seen and seen[0]["orginvite.organization"] == Organization(None, "acme")
    assert not seen[0]["user"].is_authenticated
