"""Who a signed-in user is a member of, asked of the Management API: the organization switcher and revalidation.

``GET /api/v2/users/{id}/organizations`` lists a user's organizations; ``GET /api/v2/organizations/{org}/members/
{id}/roles`` their roles in one. Both answers are cached per user for ``ttl`` seconds and asked once however many
requests want them at the same moment (single flight per user), so a burst of one user's requests costs one call.
A failure is remembered for a short while too: an outage costs one call per user per ``failure_ttl``, not one per
request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from orginvite.config import Settings
from orginvite.errors import ProviderError
from orginvite.management.client import ManagementClient
from orginvite.management.errors import ManagementAPIError, NotFoundError
from orginvite.sessions.user import OrgUser

__all__ = ["MEMBERSHIPS_KEY", "Confirmation", "MemberOrganization", "Memberships", "current_organizations"]

logger = logging.getLogger("orginvite.sessions")

#: Where the middleware keeps the login flow's :class:`Memberships` (``current_organizations`` finds it there).
MEMBERSHIPS_KEY = "orginvite.memberships"
_MAX_CACHED = 10_000  # users whose answers are kept: the signed-in users of the moment
_FAILURE_TTL = 30.0
_T = TypeVar("_T")


@dataclass(frozen=True)
class MemberOrganization:
    """An organization the user is a member of, as the switcher shows it."""

    id: str
    name: str | None
    display_name: str | None = None

    @property
    def label(self) -> str:
        return self.display_name or self.name or self.id


@dataclass(frozen=True)
class Confirmation:
    """What revalidation learnt: whether the user is still a member, and their roles there now."""

    member: bool
    roles: tuple[str, ...] = ()


class Memberships:
    """Cached, single-flight Management API answers about users' organizations, for one mounted login flow."""

    def __init__(self, client: ManagementClient, *, ttl: float, clock: Callable[[], float] = time.time,
                 failure_ttl: float = _FAILURE_TTL) -> None:
        self.client = client
        self.ttl = ttl
        self.failure_ttl = min(failure_ttl, ttl) if ttl > 0 else failure_ttl
        self.clock = clock
        self._cache: OrderedDict[tuple[str, ...], tuple[float, Any]] = OrderedDict()
        self._flights: dict[tuple[str, ...], asyncio.Future[Any]] = {}
        self.calls = 0  # Management API requests this process made (benchmarks and tests count them)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Callable[[], float] = time.time) -> Memberships | None:
        """None without machine credentials."""
        if settings.management_client_id is None or settings.management_client_secret is None:
            return None
        issuer_host = urlsplit(settings.issuer).hostname or ""
        client = ManagementClient(
            settings.issuer, settings.management_client_id, settings.management_client_secret,
            timeout=settings.http_timeout, max_retries=0, max_retry_wait=min(5.0, settings.http_timeout),
            allow_http=settings.issuer.startswith("http://") and issuer_host.endswith(".test"),
        )
        return cls(client, ttl=max(settings.revalidate_every, settings.organization_cache_ttl, 1), clock=clock)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _cached(self, key: tuple[str, ...], fetch: Callable[[], Awaitable[_T]], ttl: float) -> _T:
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            if isinstance(hit[1], BaseException):
                raise hit[1]
            return hit[1]  # type: ignore[no-any-return]
        flight = self._flights.get(key)
        if flight is not None:
            return await asyncio.shield(flight)  # type: ignore[no-any-return]
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            value: Any = await fetch()
        except (ProviderError, ManagementAPIError) as exc:
            value = exc if isinstance(exc, ProviderError) else ProviderError(f"Management API: {exc}")
            self._store(key, value, self.failure_ttl)
            flight.set_exception(value)
            flight.exception()
            raise value from None
        except BaseException as exc:
            flight.set_exception(exc)
            flight.exception()
            raise
        else:
            self._store(key, value, ttl)
            flight.set_result(value)
            return value  # type: ignore[no-any-return]
        finally:
            del self._flights[key]

    def _store(self, key: tuple[str, ...], value: Any, ttl: float) -> None:
        cache = self._cache
        cache[key] = (self.clock() + ttl, value)
        cache.move_to_end(key)
        while len(cache) > _MAX_CACHED:
            cache.popitem(last=False)

    async def organizations(self, user_id: str) -> tuple[MemberOrganization, ...]:
        """The user's organizations (``ProviderError`` when the Management API cannot say)."""

        async def fetch() -> tuple[MemberOrganization, ...]:
            found: list[MemberOrganization] = []
            for page in range(5):  # 500 organizations: more than a switcher shows
                try:
                    answer = await self.client.list_user_organizations(user_id, page=page, per_page=100)
                except NotFoundError:
                    return ()  # the user was deleted: a member of nothing
                finally:
                    self.calls += 1
                for record in answer.items:
                    org_id, name, display = record.get("id"), record.get("name"), record.get("display_name")
                    if isinstance(org_id, str) and org_id:
                        found.append(MemberOrganization(org_id, name if isinstance(name, str) else None,
                                                        display if isinstance(display, str) else None))
                if not answer.has_more:
                    break
            return tuple(found)

        return await self._cached(("orgs", user_id), fetch, self.ttl)

    async def confirm(self, user_id: str, organization: str) -> Confirmation:
        """Whether ``user_id`` is still a member of ``organization`` (an ID or a name), and their roles there."""

        async def fetch() -> Confirmation:
            orgs = await self.organizations(user_id)
            match = next((o for o in orgs if organization in (o.id, o.name)), None)
            if match is None:
                return Confirmation(False)
            roles: list[str] = []
            for page in range(5):
                try:
                    answer = await self.client.list_member_roles(match.id, user_id, page=page, per_page=100)
                except NotFoundError:
                    return Confirmation(False)  # removed between the two calls
                finally:
                    self.calls += 1
                roles.extend(r["name"] for r in answer.items if isinstance(r.get("name"), str))
                if not answer.has_more:
                    break
            return Confirmation(True, tuple(roles))

        return await self._cached(("confirm", user_id, organization), fetch, self.ttl)

    def forget(self, user_id: str) -> None:
        """Drop what is cached about ``user_id`` (a new session of theirs has just been confirmed elsewhere)."""
        for key in [k for k in self._cache if k[1] == user_id]:
            del self._cache[key]


async def current_organizations(conn: HTTPConnection) -> list[MemberOrganization]:
    """The organizations of the signed-in user, from the Management API (cached per user for a few minutes).

    Without machine credentials, or while the Management API is down, only the session's organization; empty
    when nobody is signed in or the session has no organization.
    """
    user = conn.scope.get("user")
    if not isinstance(user, OrgUser):
        return []
    org = user.organization
    own = [] if org is None or not org.id else [MemberOrganization(org.id, org.name)]
    memberships = conn.scope.get(MEMBERSHIPS_KEY)
    if not isinstance(memberships, Memberships):
        return own
    try:
        found = list(await memberships.organizations(user.sub))
    except ProviderError as exc:
        logger.warning("organizations of sub=%r unavailable (%s); only the session's is listed", user.sub[:100], exc)
        return own
    if org is not None and org.id and not any(o.id == org.id for o in found):
        found.insert(0, own[0])  # just removed and not yet revalidated: the session is still in it
    return found
