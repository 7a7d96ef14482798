"""The tenancy suites' world: the dev tenant and the app on ``http://myapp.test:PORT`` (tenancy_support)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tenancy_support import TenantWorld


@pytest.fixture
def world() -> Iterator[TenantWorld]:
    w = TenantWorld()
    w.configure()
    yield w
    w.close()
