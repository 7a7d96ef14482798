"""Which ``Host`` a loopback-only server answers: the guard against DNS rebinding.

Loopback is not a boundary for a browser: a page on attacker.example that re-resolves its own name to 127.0.0.1
reads the dev tenant's outbox (invitation links) and drives it with the published demo credentials. Its requests
still say ``Host: attacker.example``, so a server meant for this machine answers only names that cannot be an
attacker's: loopback addresses, ``localhost`` (and ``*.localhost``, which browsers resolve to loopback
themselves), plus names the developer lists. ``orginvite demo`` and ``orginvite tenant serve`` both use it.

The decision (:func:`host_allowed`) is pure; :class:`HostGuard` is the ASGI wrapper.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Any

from orginvite.loopback import is_loopback_host

__all__ = [
    "HostGuard",
    "allowed_host_pattern",
    "host_allowed",
    "is_loopback_bind",
    "is_loopback_name",
    "request_host",
]

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# host[:port] or [ipv6][:port]; anything else (spaces, userinfo, several colons) is malformed.
_HOST_HEADER = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[^\[\]:/@\s]+))(?::(?P<port>[0-9]{1,5}))?")


def request_host(header: str | None) -> str | None:
    """The host part of a ``Host`` header, lower case, without port, brackets or trailing dot; None if malformed."""
    if not header:
        return None
    match = _HOST_HEADER.fullmatch(header.strip().lower())
    if match is None:
        return None
    if match["v6"] is not None:
        try:
            return str(ipaddress.IPv6Address(match["v6"]))
        except ValueError:
            return None
    name = match["name"].removesuffix(".")
    return name if _NAME.fullmatch(name) else None


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
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"{value!r} is not a host name or '*.suffix' (no scheme, port or path), e.g. '*.myapp.test'"
            ) from None
        return pattern
    if wildcard:
        raise ValueError(f"{value!r}: a wildcard takes a host name, not an IP address")
    return str(address)


def host_allowed(host: str | None, patterns: Iterable[str] = (), *, loopback: bool = True) -> bool:
    """Whether a server answers a request for ``host`` (from :func:`request_host`; None is refused).

    ``patterns`` are exact names/addresses or ``*.suffix``; with ``loopback`` the loopback names are allowed too.
    """
    if host is None:
        return False
    if loopback and is_loopback_name(host):
        return True
    return any(host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])) for pattern in patterns)


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
        values = [value for key, value in scope.get("headers", ()) if key.lower() == b"host"]
        header = values[0].decode("latin-1") if len(values) == 1 else None
        if host_allowed(request_host(header), self.patterns, loopback=self.loopback):
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
