"""The tenancy suites' worlds: the dev tenant and the app on ``http://myapp.test:PORT``, or the tenant alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tenancy_support import TenantWorld, tenant_config

from orginvite.devtenant.app import DevTenant


@pytest.fixture
def world() -> Iterator[TenantWorld]:
    w = TenantWorld()
    w.configure()
    yield w
    w.close()


@pytest.fixture
def tenant() -> Iterator[str]:
    """The tenancy tenant alone over loopback (its URL), for the name -> ID directory."""
    t = DevTenant(config=tenant_config(8000))
    server = t.serve().start()
    yield server.url
    server.stop()
    t.close()
