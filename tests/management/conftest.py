"""Fixtures of the Management client tests: a fake Auth0 (mgmt_fake) on loopback with a shared fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mgmt_fake import FakeAuth0, FakeClock

from orginvite.testing import LiveServer


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_auth0(fake_clock: FakeClock) -> Iterator[tuple[FakeAuth0, str]]:
    fake = FakeAuth0(fake_clock)
    with LiveServer(fake.app) as server:
        yield fake, server.url
