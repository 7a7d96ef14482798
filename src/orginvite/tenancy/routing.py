"""Multi-tenant routing in the login flow: the I/O side of :mod:`orginvite.tenancy.rules` (issue 5).

:class:`TenantRouter` is what the middleware asks, once per request and only when tenancy is configured: which
host and organization the request is for (or a :class:`~orginvite.tenancy.TenancyError`, answered with a 400),
and the URLs built for that host. Every URL is ``base_url``'s scheme and path on the request's effective host,
and that host has passed :func:`~orginvite.tenancy.route` first, so no URL is ever built from a host we do not
serve. The scheme comes from configuration, never from ``X-Forwarded-Proto``.

:class:`OrganizationDirectory` turns an organization's name into its ID through the Management API
(``GET /api/v2/organizations/name/{name}``), cached with a TTL, so that ``/authorize`` can be sent the ID when
the provider does not accept names. Lookups happen on the login route only; other requests read the cache and
never wait on the network.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2

from orginvite.config import Settings
from orginvite.errors import OrgInviteError, ProviderError
from orginvite.management.client import ManagementClient
from orginvite.management.errors import ManagementAPIError, NotFoundError
from orginvite.sessions.user import Organization
from orginvite.tenancy.rules import Route, TenancyRules, effective_host, route

__all__ = ["LookupBudget", "OrganizationDirectory", "TenantRouter", "UnknownOrganization"]

logger = logging.getLogger("orginvite.tenancy")

_NEGATIVE_TTL = 30.0  # an unknown name is asked again soon: it may just have been created
_MAX_ENTRIES = 10_000  # random subdomains must not grow the cache without bound
_MAX_STALE = 24 * 3600.0  # how long past its TTL a known organization's ID is served while refreshes fail
_RETRY_AFTER_FAILURE = 30.0  # a known name whose refresh failed is not asked again sooner (logins do not wait)
_MAX_HOSTS = 1_000  # routes remembered per Host header value


class UnknownOrganization(OrgInviteError, LookupError):
    """No organization has this name (the Management API answered 404)."""


class LookupBudget:
    """A token bucket of ``burst`` lookups refilled at ``rate`` per second; the caller passes the time.

    Shared by the organization directory and the invitation preflight: both pace Management API lookups that a
    stranger's request could otherwise multiply."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at: float | None = None

    def take(self, now: float) -> bool:
        if self._at is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


@dataclass
class _Known:
    """A name the Management API answered with an ID: fresh until ``fresh_until``, then refreshed when asked."""

    org_id: str
    fresh_until: float
    retry_at: float = 0.0  # after a failed refresh: no new attempt before this time (the stale ID is served)


class OrganizationDirectory:
    """Organization name -> ID through the Management API, cached ``ttl`` seconds (unknown names 30 s).

    Anybody can open ``/login`` on ``<random>.myapp.com``, and every new name is a Management API call: without a
    limit, an anonymous client spends the tenant's whole Management API rate limit (shared with invitations and
    every other API use of the app). Lookups of names not known as organizations therefore draw on a budget of
    ``lookup_burst`` calls refilled at ``lookups_per_second``; when it is empty the lookup fails as the provider
    being unavailable (the page says "try again").

    Known organizations never depend on that budget: their refreshes, once the TTL has passed, draw on a budget of
    their own (same size), and while a refresh is refused or fails (Management API down or rate limited) the last
    ID is served for up to ``max_stale`` seconds past its TTL, with no new attempt for 30 s after a failure. Known
    and unknown names are kept in separate bounded maps, so a flood of random names cannot evict an organization,
    and concurrent lookups of one name share one call.
    """

    def __init__(
        self,
        client: ManagementClient,
        *,
        ttl: float = 300,
        lookups_per_second: float = 2.0,
        lookup_burst: int = 20,
        max_stale: float = _MAX_STALE,
        max_entries: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if lookups_per_second <= 0 or lookup_burst < 1:
            raise ValueError("lookups_per_second must be positive and lookup_burst at least 1")
        self.client = client
        self.ttl = ttl
        self.lookups_per_second = lookups_per_second
        self.lookup_burst = lookup_burst
        self.max_stale = max_stale
        self.max_entries = _MAX_ENTRIES if max_entries is None else max_entries  # per map
        self._clock = clock
        self._known: OrderedDict[str, _Known] = OrderedDict()  # least recently used first
        self._unknown: OrderedDict[str, float] = OrderedDict()  # name -> when the "no such organization" expires
        self._inflight: dict[str, asyncio.Future[str | None]] = {}
        self._budget = LookupBudget(lookups_per_second, lookup_burst)  # names not known as organizations
        self._refresh_budget = LookupBudget(lookups_per_second, lookup_burst)  # known organizations past their TTL
        self.lookups = 0  # how many times the API was asked (lets tests and apps see the cache working)
        self.refused = 0  # lookups refused because a budget was spent
        self.stale = 0  # answers served from an expired entry because its refresh was refused or failed

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx2.AsyncClient | None = None) -> OrganizationDirectory:
        issuer_host = urlsplit(settings.issuer).hostname or ""
        client = ManagementClient(
            settings.issuer,
            settings.management_client_id or "",
            settings.management_client_secret or "",
            http=http,
            timeout=settings.http_timeout,
            max_retries=1,
            max_retry_wait=min(5.0, settings.http_timeout),
            allow_http=settings.issuer.startswith("http://") and issuer_host.endswith(".test"),
        )
        return cls(client, ttl=settings.organization_cache_ttl,
                   lookups_per_second=settings.organization_lookups_per_second,
                   lookup_burst=max(1, round(settings.organization_lookups_per_second * 10)))

    def cached(self, name: str) -> str | None:
        """The ID if a fresh lookup is cached, else None; never does I/O (the pass-through path)."""
        known = self._known.get(name)
        if known is None or known.fresh_until <= self._clock():
            return None
        return known.org_id

    async def resolve(self, name: str) -> str:
        """The organization's ID; :class:`UnknownOrganization` when there is none, :class:`ProviderError` when the
        Management API cannot answer and no ID is known (the login page then says the provider is unavailable)."""
        now = self._clock()
        known = self._known.get(name)
        if known is not None:
            if known.fresh_until > now:
                self._known.move_to_end(name)
                return known.org_id
        else:
            negative = self._unknown.get(name)
            if negative is not None and negative > now:
                raise UnknownOrganization(name)
        lookup = self._inflight.get(name)
        if lookup is None:
            if known is not None and now < known.retry_at and self._servable(known, now):
                return self._serve_stale(known)  # its refresh failed a moment ago: do not wait on it again
            budget = self._refresh_budget if known is not None else self._budget
            if not budget.take(now):
                self._over_budget(known is not None)
                if known is not None and self._servable(known, now):
                    return self._serve_stale(known)
                raise ProviderError("organization lookup: too many organizations asked at once; try again shortly")
            lookup = asyncio.ensure_future(self._lookup(name))
            self._inflight[name] = lookup
            lookup.add_done_callback(lambda done: self._landed(name, done))
        elif known is not None and self._servable(known, now):
            return self._serve_stale(known)  # its refresh is on the way: this login need not queue behind it
        try:
            org_id = await asyncio.shield(lookup)  # one call per name; a cancelled waiter leaves it to the others
        except ProviderError:
            known = self._known.get(name)
            if known is not None and self._servable(known, self._clock()):
                return self._serve_stale(known)
            raise
        if org_id is None:
            raise UnknownOrganization(name)
        return org_id

    def _servable(self, known: _Known, now: float) -> bool:
        return now < known.fresh_until + self.max_stale

    def _serve_stale(self, known: _Known) -> str:
        self.stale += 1
        return known.org_id

    def _over_budget(self, refresh: bool) -> None:
        self.refused += 1
        if self.refused == 1 or self.refused % 100 == 0:
            if refresh:
                logger.warning("organization refreshes over budget (%d refused so far): serving cached IDs",
                               self.refused)
            else:
                logger.warning("organization lookups over budget (%d refused so far): many unknown hosts asked",
                               self.refused)

    def _landed(self, name: str, lookup: asyncio.Future[str | None]) -> None:
        if self._inflight.get(name) is lookup:
            del self._inflight[name]
        if not lookup.cancelled():
            lookup.exception()  # retrieved here, so a lookup every waiter left behind logs no "never retrieved"

    async def _lookup(self, name: str) -> str | None:
        """Ask the Management API and record the answer: the ID, None for no such organization."""
        self.lookups += 1
        try:
            record = await self.client.get_organization_by_name(name)
        except NotFoundError:
            self._known.pop(name, None)  # deleted or renamed at the provider: no longer served
            self._unknown[name] = self._clock() + _NEGATIVE_TTL
            self._unknown.move_to_end(name)
            _trim(self._unknown, self.max_entries)
            return None
        except ManagementAPIError as exc:
            logger.warning("organization lookup failed: %s", exc)
            self._failed(name)
            raise ProviderError("organization lookup: the Management API did not answer") from None
        org_id = record.get("id") if isinstance(record, dict) else None
        if not isinstance(org_id, str) or not org_id.startswith("org_") or len(org_id) > 50:
            self._failed(name)
            raise ProviderError("organization lookup: the Management API answered without a usable ID")
        self._unknown.pop(name, None)
        self._known[name] = _Known(org_id, self._clock() + self.ttl)
        self._known.move_to_end(name)
        _trim(self._known, self.max_entries)
        return org_id

    def _failed(self, name: str) -> None:
        known = self._known.get(name)
        if known is not None:
            known.retry_at = self._clock() + _RETRY_AFTER_FAILURE

    async def aclose(self) -> None:
        await self.client.aclose()


def _trim(entries: OrderedDict[str, Any], limit: int) -> None:
    while len(entries) > limit:
        entries.popitem(last=False)


class TenantRouter:
    """Per-request routing decisions for one :class:`Settings` whose ``tenancy`` is set."""

    def __init__(self, settings: Settings, directory: OrganizationDirectory | None = None) -> None:
        if settings.tenancy is None:
            raise ValueError("TenantRouter needs settings with tenancy rules")
        self.settings = settings
        self.rules: TenancyRules = settings.tenancy
        self.directory = directory
        base = urlsplit(settings.base_url)
        self.scheme = base.scheme
        self.base_path = base.path.rstrip("/")
        # With no proxy to trust and no path routing, the route depends on the Host header alone: remember the
        # answers for the hosts we serve (refusals are never cached), so a request costs one dict lookup.
        self._by_host: dict[bytes, Route] | None = (
            {} if not self.rules.trusted_proxies and self.rules.path_template is None else None
        )

    def route(self, scope: Mapping[str, Any], path: str) -> Route:
        """The request's route (``path`` without ``root_path``); :class:`~orginvite.tenancy.TenancyError` for a
        host we do not serve. Forwarded headers count only from a trusted proxy (the TCP peer, ``scope["client"]``).
        """
        cache = self._by_host
        if cache is not None:
            hosts = [value for name, value in scope["headers"] if name == b"host"]
            if len(hosts) == 1:
                found = cache.get(hosts[0])
                if found is None:
                    found = route(effective_host(scope["headers"], None, self.rules), "/", self.rules)
                    if len(cache) >= _MAX_HOSTS:
                        cache.clear()
                    cache[hosts[0]] = found
                return found
        client = scope.get("client")
        host = effective_host(scope["headers"], client[0] if client else None, self.rules)
        return route(host, path or "/", self.rules)

    def organization(self, route_: Route) -> Organization | None:
        """What downstream code sees as the request's organization (ID from the cache only, never awaited)."""
        name = route_.organization_name
        if name is None:
            return None
        org_id = self.directory.cached(name) if self.directory is not None else None
        return Organization(org_id, name)

    def origin(self, route_: Route) -> str:
        return f"{self.scheme}://{route_.host}"

    def url(self, route_: Route, path: str) -> str:
        """An absolute URL on the request's (allow-listed) host: configured scheme and base path, then ``path``."""
        return f"{self.scheme}://{route_.host}{self.base_path}{path}"

    def redirect_uri(self, route_: Route) -> str:
        """The callback on this host: register it at the provider (``https://*.myapp.com/callback``)."""
        return self.url(route_, self.settings.callback_path)
