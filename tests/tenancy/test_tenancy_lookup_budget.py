"""Random subdomains must not spend the tenant's Management API rate limit through the name -> ID lookup."""

from __future__ import annotations

import contextlib

import pytest
from tenancy_support import ACME, TenantWorld

from orginvite.config import Settings
from orginvite.errors import ConfigurationError, ProviderError
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
