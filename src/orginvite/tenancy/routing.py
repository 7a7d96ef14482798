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
from typing import Any
from urllib.parse import urlsplit

import httpx

from orginvite.config import Settings
from orginvite.errors import OrgInviteError, ProviderError
from orginvite.management.client import ManagementClient
from orginvite.management.errors import ManagementAPIError, NotFoundError
from orginvite.sessions.user import Organization
from orginvite.tenancy.rules import Route, TenancyRules, effective_host, route

__all__ = ["OrganizationDirectory", "TenantRouter", "UnknownOrganization"]

logger = logging.getLogger("orginvite.tenancy")

_NEGATIVE_TTL = 30.0  # an unknown name is asked again soon: it may just have been created
_MAX_ENTRIES = 10_000  # random subdomains must not grow the cache without bound
_MAX_HOSTS = 1_000  # routes remembered per Host header value


class UnknownOrganization(OrgInviteError, LookupError):
    """No organization has this name (the Management API answered 404)."""


class OrganizationDirectory:
    """Organization name -> ID through the Management API, cached ``ttl`` seconds (unknown names 30 s).

    Anybody can open ``/login`` on ``<random>.myapp.com``, and every new name is a Management API call: without a
    limit, an anonymous client spends the tenant's whole Management API rate limit (shared with invitations and
    every other API use of the app). Lookups of names not in the cache therefore draw on a budget of
    ``lookup_burst`` calls refilled at ``lookups_per_second``; when it is empty the lookup fails as the provider
    being unavailable (the page says "try again"), while every cached organization keeps signing in.
    """

    def __init__(
        self,
        client: ManagementClient,
        *,
        ttl: float = 300,
        lookups_per_second: float = 2.0,
        lookup_burst: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if lookups_per_second <= 0 or lookup_burst < 1:
            raise ValueError("lookups_per_second must be positive and lookup_burst at least 1")
        self.client = client
        self.ttl = ttl
        self.lookups_per_second = lookups_per_second
        self.lookup_burst = lookup_burst
        self._clock = clock
        self._entries: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._budget = float(lookup_burst)
        self._budget_at: float | None = None
        self.lookups = 0  # how many times the API was asked (lets tests and apps see the cache working)
        self.refused = 0  # lookups refused because the budget was spent

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.AsyncClient | None = None) -> OrganizationDirectory:
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
        entry = self._entries.get(name)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    async def resolve(self, name: str) -> str:
        """The organization's ID; :class:`UnknownOrganization` when there is none, :class:`ProviderError` when the
        Management API cannot answer (the login page then says the provider is unavailable)."""
        entry = self._entries.get(name)
        if entry is not None and entry[1] > self._clock():
            return self._found(name, entry[0])
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:  # one lookup per name at a time: a burst of logins on a new host asks once
            try:
                entry = self._entries.get(name)
                if entry is None or entry[1] <= self._clock():
                    entry = await self._lookup(name)
            finally:
                self._locks.pop(name, None)
        return self._found(name, entry[0])

    @staticmethod
    def _found(name: str, org_id: str | None) -> str:
        if org_id is None:
            raise UnknownOrganization(name)
        return org_id

    def _spend(self) -> bool:
        """Take one lookup from the budget (token bucket), or say it is spent."""
        now = self._clock()
        if self._budget_at is not None:
            refill = (now - self._budget_at) * self.lookups_per_second
            self._budget = min(float(self.lookup_burst), self._budget + refill)
        self._budget_at = now
        if self._budget < 1:
            return False
        self._budget -= 1
        return True

    async def _lookup(self, name: str) -> tuple[str | None, float]:
        if not self._spend():
            self.refused += 1
            if self.refused == 1 or self.refused % 100 == 0:
                logger.warning("organization lookups over budget (%d refused so far): many unknown hosts asked",
                               self.refused)
            raise ProviderError("organization lookup: too many organizations asked at once; try again shortly")
        self.lookups += 1
        try:
            record = await self.client.get_organization_by_name(name)
        except NotFoundError:
            org_id, ttl = None, _NEGATIVE_TTL
        except ManagementAPIError as exc:
            logger.warning("organization lookup failed: %s", exc)
            raise ProviderError("organization lookup: the Management API did not answer") from None
        else:
            org_id = record.get("id") if isinstance(record, dict) else None
            if not isinstance(org_id, str) or not org_id.startswith("org_") or len(org_id) > 50:
                raise ProviderError("organization lookup: the Management API answered without a usable ID")
            ttl = self.ttl
        entry = (org_id, self._clock() + ttl)
        self._entries[name] = entry
        self._entries.move_to_end(name)
        while len(self._entries) > _MAX_ENTRIES:
            self._entries.popitem(last=False)
        return entry

    async def aclose(self) -> None:
        await self.client.aclose()


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
