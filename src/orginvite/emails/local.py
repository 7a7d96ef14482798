"""Is a request from this machine? The dev-only apps (previews, the dev tenant's outbox) answer only such requests."""

from __future__ import annotations

import ipaddress

from starlette.types import Scope

__all__ = ["is_local_client"]

_PROXY_HEADERS = frozenset({b"x-forwarded-for", b"forwarded", b"x-real-ip"})


def is_local_client(scope: Scope) -> bool:
    """True for a loopback peer that did not come through a proxy (whatever the proxy's own address)."""
    client = scope.get("client")
    if not client:
        return False
    try:
        if not ipaddress.ip_address(client[0]).is_loopback:
            return False
    except ValueError:
        return False
    names = {name.lower() for name, _ in scope.get("headers", [])}
    return not names & _PROXY_HEADERS
