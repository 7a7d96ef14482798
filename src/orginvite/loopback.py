"""Is a host this machine? One answer for every place that relaxes a rule on loopback (pure, no I/O, no DNS).

http issuers, plain SMTP and http Management API domains are accepted only when they cannot leave the machine:
``localhost`` and ``*.localhost`` (RFC 6761: always loopback, never resolved through DNS), the legacy
``localhost.localdomain``, and literal loopback addresses (``127.0.0.0/8``, ``::1``, bracketed or not).
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback_host"]


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
