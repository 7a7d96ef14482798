"""Random subdomains must not spend the tenant's Management API rate limit through the name -> ID lookup."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from tenancy_support import ACME, GLOBEX, ManagementAPI, TenantWorld, query_of

from orginvite.config import Settings
from orginvite.errors import ConfigurationError, ProviderError
from orginvite.tenancy import routing
from orginvite.tenancy.routing import OrganizationDirectory, UnknownOrganization


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _settings(issuer: str, **kw) -> Settings:
    return Settings(issuer=issuer, client_id="a", client_secret="b", secret_keys=("s" * 32,),
                    base_url="http://myapp.test", management_client_id="m2m", management_client_secret="m2m-secret",
                    **kw)


@pytest.mark.anyio
async def test_unknown_names_draw_on_a_budget_and_cached_names_are_unaffected(tenant):
    clock = Clock()
    directory = OrganizationDirectory.from_settings(_settings(tenant + "/", organization_lookups_per_second=1))
    directory._clock = clock
    assert directory.lookup_burst == 10
    try:
        assert await directory.resolve("acme") == ACME
        refused = 0
        for index in range(40):  # a flood of random subdomains
            try:
                await directory.resolve(f"random{index}")
            except UnknownOrganization:
                pass
            except ProviderError:
                refused += 1
        assert directory.lookups == 10 and refused == 31 and directory.refused == 31
        assert await directory.resolve("acme") == ACME  # cached: still signs in during the flood
        with pytest.raises(ProviderError):
            await directory.resolve("globex")  # a real but uncached one waits for the budget too
        clock.now += 2  # refilled at one per second
        assert await directory.resolve("globex") is not None
        with pytest.raises(UnknownOrganization):
            await directory.resolve("random99")
        with pytest.raises(ProviderError):
            await directory.resolve("random98")
        assert directory.lookups == 12
        clock.now += 3600  # never more than the burst, however long it was quiet
        for index in range(12):
            with contextlib.suppress(UnknownOrganization, ProviderError):
                await directory.resolve(f"later{index}")
        assert directory.lookups == 22
    finally:
        await directory.aclose()


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan"), True, "2"])
def test_the_lookup_rate_must_be_a_positive_number(rate):
    with pytest.raises(ConfigurationError) as info:
        _settings("http://127.0.0.1:9/", organization_lookups_per_second=rate)
    assert info.value.setting == "organization_lookups_per_second"


def test_the_lookup_rate_from_the_environment():
    env = {"ORGINVITE_ISSUER": "http://127.0.0.1:9/", "ORGINVITE_CLIENT_ID": "a", "ORGINVITE_CLIENT_SECRET": "b",
           "ORGINVITE_SECRET_KEYS": "s" * 32, "ORGINVITE_BASE_URL": "http://myapp.test"}
    assert Settings.from_env({**env, "ORGINVITE_ORGANIZATION_LOOKUPS_PER_SECOND": "0.5"}
                             ).organization_lookups_per_second == 0.5
    for bad in ("fast", "0"):
        with pytest.raises(ConfigurationError) as info:
            Settings.from_env({**env, "ORGINVITE_ORGANIZATION_LOOKUPS_PER_SECOND": bad})
        assert info.value.setting == "ORGINVITE_ORGANIZATION_LOOKUPS_PER_SECOND"


def test_a_flood_of_logins_on_random_subdomains_over_http():
    world = TenantWorld(names=False)
    try:
        world.configure(management_client_id="m2m", management_client_secret="m2m-secret",
                        organization_lookups_per_second=0.5)
        assert world.http.get(world.org_url("acme") + "/login").status_code == 302
        statuses = [world.http.get(world.org_url(f"flood{n}") + "/login").status_code for n in range(30)]
        directory = world.middleware.tenants.directory
        assert directory.lookups <= 6  # the acme lookup and the burst of 5; the clock barely moved
        assert statuses.count(404) == directory.lookups - 1 and statuses.count(502) == 30 - statuses.count(404)
        assert world.http.get(world.org_url("acme") + "/login").status_code == 302  # cached: unaffected
    finally:
        world.close()


# -- known organizations keep signing in (issue 13, item 1) ---------------------------------------------------


def _directory(tenant: str, clock: Clock, **kw) -> tuple[OrganizationDirectory, ManagementAPI]:
    api = ManagementAPI()
    return OrganizationDirectory(api.client(tenant), ttl=300, clock=clock, **kw), api


async def _flood(directory: OrganizationDirectory, clock: Clock, start: int, count: int) -> int:
    """``count`` logins on random names, six per (fake) second; how many were refused for the budget."""
    refused = directory.refused
    for index in range(start, start + count):
        clock.now += 1 / 6
        with contextlib.suppress(UnknownOrganization, ProviderError):
            await directory.resolve(f"random{index}")
    return directory.refused - refused


@pytest.mark.anyio
async def test_a_known_organization_past_its_ttl_signs_in_during_a_flood_and_an_outage(tenant):
    clock = Clock()
    directory, api = _directory(tenant, clock, lookups_per_second=1, lookup_burst=10)
    try:
        assert await directory.resolve("acme") == ACME
        assert await _flood(directory, clock, 0, 60) > 0  # the budget for unknown names is spent
        clock.now += 300  # acme's entry expires in the middle of the flood
        await _flood(directory, clock, 60, 30)  # which spends the budget refilled meanwhile
        for round_ in range(10):
            assert await _flood(directory, clock, 100 + 6 * round_, 6) >= 5  # random names refused...
            assert await directory.resolve("acme") == ACME  # ...and acme refreshed from its own budget
        assert api.names.count("acme") == 2 and directory.cached("acme") == ACME

        for failure in (api.down, api.rate_limited):  # connection refused, then 429 past the client's patience
            failure()
            clock.now += 300
            for round_ in range(10):
                await _flood(directory, clock, 1000 + 6 * round_, 6)
                assert await directory.resolve("acme") == ACME  # the last known ID, while the API cannot answer
            assert api.names.count("acme") in (3, 4)  # one attempt, then none for 30 s: logins do not wait on it
            assert directory.cached("acme") is None  # the pass-through path still sees only fresh IDs
            with pytest.raises(ProviderError):
                await directory.resolve("globex")  # never known: nothing to serve
        assert api.names.count("acme") == 4

        api.up()
        clock.now += 31
        assert await directory.resolve("acme") == ACME and directory.cached("acme") == ACME  # refreshed again
        assert api.names.count("acme") == 5

        api.down()
        clock.now += 300 + directory.max_stale  # a stale ID is served for a bounded time only
        with pytest.raises(ProviderError):
            await directory.resolve("acme")
    finally:
        await directory.aclose()


@pytest.mark.anyio
async def test_a_refused_refresh_serves_the_known_id(tenant):
    clock = Clock()
    directory, api = _directory(tenant, clock, lookups_per_second=0.1, lookup_burst=1)
    try:
        assert await directory.resolve("acme") == ACME
        clock.now += 10
        assert await directory.resolve("globex") == GLOBEX
        clock.now += 300  # both expire; the refresh budget holds one lookup
        assert await directory.resolve("acme") == ACME
        assert await directory.resolve("globex") == GLOBEX  # refused, served from the expired entry
        assert directory.refused == 1 and directory.stale == 1
        assert api.names == ["acme", "globex", "acme"]
        with pytest.raises(UnknownOrganization):
            await directory.resolve("random0")
        with pytest.raises(ProviderError):  # unknown names wait for their own budget
            await directory.resolve("random1")
        clock.now += 10
        assert await directory.resolve("globex") == GLOBEX and directory.cached("globex") == GLOBEX
        assert api.names == ["acme", "globex", "acme", "random0", "globex"]
    finally:
        await directory.aclose()


@pytest.mark.anyio
async def test_misses_are_cached_and_a_flood_of_them_cannot_evict_an_organization(tenant, monkeypatch):
    monkeypatch.setattr(routing, "_MAX_ENTRIES", 8)
    clock = Clock()
    directory, api = _directory(tenant, clock, lookups_per_second=1000, lookup_burst=1000)
    try:
        assert await directory.resolve("acme") == ACME
        for index in range(40):
            with pytest.raises(UnknownOrganization):
                await directory.resolve(f"random{index}")
        assert len(api.names) == 41
        with pytest.raises(UnknownOrganization):
            await directory.resolve("random39")  # the miss is cached...
        assert len(api.names) == 41
        with pytest.raises(UnknownOrganization):
            await directory.resolve("random0")  # ...in a bounded map: the oldest misses are asked again
        assert len(api.names) == 42
        assert await directory.resolve("acme") == ACME and len(api.names) == 42  # never evicted by misses
        clock.now += 31
        with pytest.raises(UnknownOrganization):
            await directory.resolve("random39")  # misses expire after 30 s
        assert len(api.names) == 43
    finally:
        await directory.aclose()


@pytest.mark.anyio
async def test_concurrent_lookups_of_one_name_share_one_call(tenant):
    clock = Clock()
    directory, api = _directory(tenant, clock)
    try:
        assert await asyncio.gather(*(directory.resolve("acme") for _ in range(20))) == [ACME] * 20
        misses = await asyncio.gather(*(directory.resolve("nosuch") for _ in range(20)), return_exceptions=True)
        assert all(isinstance(miss, UnknownOrganization) for miss in misses)
        assert api.names == ["acme", "nosuch"]
        api.down()
        failures = await asyncio.gather(*(directory.resolve("globex") for _ in range(20)), return_exceptions=True)
        assert all(isinstance(failure, ProviderError) for failure in failures)
        clock.now += 300
        assert await asyncio.gather(*(directory.resolve("acme") for _ in range(20))) == [ACME] * 20
        assert api.names == ["acme", "nosuch", "globex", "acme"]
    finally:
        await directory.aclose()


def test_a_known_organizations_logins_redirect_through_a_flood_and_an_outage_over_http():
    """The README's promise: past the budget the login page says "try again"; known organizations are unaffected,
    past their TTL and while the Management API fails."""
    world = TenantWorld(names=False)
    try:
        world.configure(management_client_id="m2m", management_client_secret="m2m-secret",
                        organization_lookups_per_second=1, organization_cache_ttl=300)
        directory = world.middleware.tenants.directory
        clock = Clock()
        directory._clock = clock
        api = ManagementAPI()
        directory.client = api.client(world.tenant_url)

        def acme_login() -> None:
            start = world.http.get(world.org_url("acme") + "/login")
            assert start.status_code == 302, start.text[:300]
            assert start.headers["location"].startswith(world.tenant_url + "/authorize?")
            assert query_of(start.headers["location"])["organization"] == ACME

        acme_login()
        statuses: list[int] = []
        for step in range(240):  # random subdomains at six (fake) seconds each, four times the budget
            clock.now += 1 / 6
            statuses.append(world.http.get(world.org_url(f"flood{step}") + "/login").status_code)
            if step == 60:
                clock.now += 300  # acme's entry expires during the flood
            if step == 150:
                api.down()
                clock.now += 300  # and again while the Management API is down
            if step % 6 == 5:
                acme_login()
        assert set(statuses) == {404, 502} and statuses.count(502) > 100  # the flood was refused, acme was not
        assert api.names.count("acme") == 3  # found, refreshed, one failed refresh
    finally:
        world.close()
