"""A per-client fixed-window rate limiter for the dev tenant's Management API.

Auth0 limits Management API calls per tenant and client and reports the state on every response with
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (a UNIX time in seconds). Apps that
handle 429s need something to test against: this limiter is deterministic (a clock is injected, so tests advance
time instead of sleeping) and a limit of 0 means unlimited (the default for a dev tenant). Pure: no I/O.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["UNLIMITED_REPORTED_LIMIT", "RateDecision", "RateLimiter"]

# What the headers report when no limit is configured: a number clients will never exhaust, so that code which
# throttles itself on X-RateLimit-Remaining keeps working against an unlimited tenant.
UNLIMITED_REPORTED_LIMIT = 1_000_000


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # UNIX seconds at which the window restarts
    retry_after: int  # seconds until then, at least 1

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class RateLimiter:
    """``limit()`` is read on every call so that a changed setting takes effect at once."""

    def __init__(self, limit: Callable[[], int], clock: Callable[[], float], window: float = 60.0) -> None:
        self._limit = limit
        self._clock = clock
        self._window = window
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window start, requests counted)
        self._lock = threading.Lock()

    def hit(self, key: str) -> RateDecision:
        """Counts one request for ``key`` unless the window is full."""
        now = self._clock()
        configured = max(0, int(self._limit() or 0))
        limit = configured or UNLIMITED_REPORTED_LIMIT
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= self._window or now < start:
                start, count = now, 0
            allowed = configured == 0 or count < limit
            if allowed:
                count += 1
            self._windows[key] = (start, count)
            if len(self._windows) > 10_000:
                self._sweep(now)
        end = start + self._window
        return RateDecision(
            allowed=allowed,
            limit=limit,
            remaining=max(0, limit - count),
            reset=math.ceil(end),
            retry_after=max(1, math.ceil(end - now)),
        )

    def _sweep(self, now: float) -> None:
        for key in [k for k, (start, _) in self._windows.items() if now - start >= self._window]:
            del self._windows[key]
