"""Is a host this machine? One answer for every place that relaxes a rule on loopback (pure, no I/O, no DNS).

http issuers, plain SMTP and http Management API domains are accepted only when they cannot leave the machine:
``localhost`` and ``*.localhost`` (RFC 6761: always loopback, never resolved through DNS), the legacy
``localhost.localdomain``, and literal loopback addresses (``127.0.0.0/8``, ``::1``, bracketed or not).

The same answer guards servers meant for this machine against DNS rebinding: :func:`host_allowed` decides
whether a request's ``Host`` (read by :func:`request_host`) may be answered. The dev tenant's and the demo's
``HostGuard`` and the email previews share that decision.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["host_allowed", "is_loopback_host", "request_host", "scope_host_allowed"]

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# host[:port] or [ipv6][:port]; anything else (spaces, userinfo, several colons) is malformed.
_HOST_HEADER = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[^\[\]:/@\s]+))(?::(?P<port>[0-9]{1,5}))?")


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    name = host.strip().lower().removeprefix("[").removesuffix("]").removesuffix(".")
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


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
    return name if HOST_NAME.fullmatch(name) else None


def host_allowed(host: str | None, patterns: Iterable[str] = (), *, loopback: bool = True) -> bool:
    """Whether a server meant for this machine answers a request for ``host`` (from :func:`request_host`; None
    is refused): a DNS-rebinding page's requests still name its own host.

    ``patterns`` are exact names/addresses or ``*.suffix``; with ``loopback`` the loopback names are allowed too.
    """
    if host is None:
        return False
    if loopback and is_loopback_host(host):
        return True
    return any(host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])) for pattern in patterns)


def scope_host_allowed(scope: Mapping[str, Any], patterns: Iterable[str] = (), *, loopback: bool = True) -> bool:
    """:func:`host_allowed` for an ASGI scope: exactly one ``Host`` header, naming an allowed host."""
    values = [value for key, value in scope.get("headers", ()) if key.lower() == b"host"]
    header = values[0].decode("latin-1") if len(values) == 1 else None
    return host_allowed(request_host(header), patterns, loopback=loopback)
