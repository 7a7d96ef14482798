"""The one loopback rule behind http issuers, plain SMTP and http Management API domains."""

from __future__ import annotations

import pytest

from orginvite.loopback import is_loopback_host


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST", "localhost.", "app.localhost", "localhost.localdomain", "127.0.0.1", "127.8.9.10",
     "::1", "[::1]", "[0:0::1]"],
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    [None, "", "localhost.evil.test", "evil-localhost", "127.0.0.1.evil.test", "10.0.0.1", "0.0.0.0", "::",
     "::ffff:8.8.8.8", "[::2]", "example.com", "1.2.3.4", "[]", "localhostx"],
)
def test_other_hosts_are_not_loopback(host: str | None) -> None:
    assert not is_loopback_host(host)
