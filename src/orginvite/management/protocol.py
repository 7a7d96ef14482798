"""The Management API's wire rules, without I/O: issuer URLs, path segments, paging parameters, rate-limit
headers and JSON bodies. Kept apart from :mod:`orginvite.management.client` so that each rule is tested with plain
calls and the client reads as the API it serves.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

from orginvite.errors import ConfigurationError
from orginvite.loopback import is_loopback_host
from orginvite.management.errors import InvalidResponseError

__all__ = ["ids", "loads_json", "normalize_issuer", "paging", "parse_reset", "parse_retry_after", "records", "segment"]

Record = dict[str, Any]


def normalize_issuer(domain_or_base_url: str, *, allow_http: bool = False) -> str:
    """``tenant.eu.auth0.com`` or ``https://tenant.eu.auth0.com`` -> ``https://tenant.eu.auth0.com/``.

    Plain ``http://`` is accepted for loopback hosts only (the dev tenant), unless ``allow_http``: the client secret
    travels in the token request. A trailing ``api/v2`` is dropped, so the API's own URL works too.
    """
    value = (domain_or_base_url or "").strip()
    if not value:
        raise ConfigurationError("domain", "an Auth0 domain or base URL is required")
    if "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"}:
        raise ConfigurationError("domain", f"unsupported URL scheme {parts.scheme!r}")
    if not parts.hostname:
        raise ConfigurationError("domain", f"no host in {domain_or_base_url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError("domain", "the domain must not carry a query, fragment or credentials")
    if parts.scheme == "http" and not allow_http and not is_loopback_host(parts.hostname):
        raise ConfigurationError("domain", "plain http:// is only allowed for loopback hosts (the dev tenant)")
    path = parts.path.rstrip("/")
    if path.endswith("/api/v2"):
        path = path[: -len("/api/v2")]
    return f"{parts.scheme}://{parts.netloc}{path}/"


def segment(value: str, what: str) -> str:
    """One URL path segment; an empty id would silently address the collection instead."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string")
    return quote(value, safe="")


def ids(values: Iterable[str], what: str) -> list[str]:
    items = list(values) if not isinstance(values, str) else [values]
    if not items:
        raise ValueError(f"at least one {what} is required")
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"every {what} must be a non-empty string")
    return items


def paging(page: int, per_page: int) -> dict[str, Any]:
    if not isinstance(page, int) or page < 0:
        raise ValueError("page must be an integer >= 0")
    if not isinstance(per_page, int) or not 1 <= per_page <= 100:
        raise ValueError("per_page must be an integer from 1 to 100")
    return {"page": page, "per_page": per_page, "include_totals": "true"}


def parse_retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def parse_reset(value: str | None, now: float) -> float | None:
    """``X-RateLimit-Reset`` is a Unix time in seconds; the wait is the distance from now."""
    if not value:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(reset):
        return None
    return max(0.0, reset - now)


def loads_json(content: bytes) -> Any:
    """JSON from an answer; ``ValueError`` for anything else (json raises RecursionError for deep nesting)."""
    try:
        return json.loads(content.decode("utf-8"))
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def records(items: list[Any], path: str) -> list[Record]:
    if not all(isinstance(item, dict) for item in items):
        raise InvalidResponseError("expected a list of JSON objects", method="GET", path="/api/v2/" + path)
    return items
