"""Which ``Host`` a loopback-only server answers: the guard against DNS rebinding.

Loopback is not a boundary for a browser: a page on attacker.example that re-resolves its own name to 127.0.0.1
reads the dev tenant's outbox (invitation links) and drives it with the published demo credentials. Its requests
still say ``Host: attacker.example``, so a server meant for this machine answers only names that cannot be an
attacker's: loopback addresses, ``localhost`` (and ``*.localhost``, which browsers resolve to loopback
themselves), plus names the developer lists. ``orginvite demo`` and ``orginvite tenant serve`` both use it.

The decision (:func:`host_allowed`, :func:`request_host`) is pure and lives in :mod:`orginvite.loopback`, where
the email previews share it; :class:`HostGuard` is the ASGI wrapper.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from orginvite.loopback import HOST_NAME, host_allowed, is_loopback_host, request_host, scope_host_allowed

__all__ = [
    "HostGuard",
    "allowed_host_pattern",
    "host_allowed",
    "is_loopback_bind",
    "is_loopback_name",
    "request_host",
]


def is_loopback_name(host: str) -> bool:
    """127.0.0.0/8, ::1, ``localhost`` and ``*.localhost`` (RFC 6761: always loopback, never DNS)."""
    return is_loopback_host(host)


def is_loopback_bind(interface: str) -> bool:
    """Whether ``--host`` listens on loopback only (then only this machine's browser can reach the server)."""
    name = interface.strip().lower().removeprefix("[").removesuffix("]")
    return bool(name) and is_loopback_name(name)


def allowed_host_pattern(value: str) -> str:
    """A checked ``--allowed-host``: a host name, an IP address, or ``*.suffix`` (any subdomain, not the apex).

    Raises ValueError with the reason (no port, no scheme, no bare ``*``)."""
    pattern = value.strip().lower().removesuffix(".")
    wildcard = pattern.startswith("*.")
    name = pattern[2:] if wildcard else pattern
    if not wildcard and name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        if not HOST_NAME.fullmatch(name):
            raise ValueError(
                f"{value!r} is not a host name or '*.suffix' (no scheme, port or path), e.g. '*.myapp.test'"
            ) from None
        return pattern
    if wildcard:
        raise ValueError(f"{value!r}: a wildcard takes a host name, not an IP address")
    return str(address)


class HostGuard:
    """ASGI middleware: requests for any other Host get a plain 400, without a redirect or an echo of the name."""

    def __init__(self, app: Any, patterns: Sequence[str] = (), *, loopback: bool = True) -> None:
        self.app = app
        self.patterns = tuple(patterns)
        self.loopback = loopback

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope_host_allowed(scope, self.patterns, loopback=self.loopback):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = b"host not allowed\n"
        await send({
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        })
        await send({"type": "http.response.body", "body": body})
