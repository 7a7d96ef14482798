"""Invitation preflight: know the invitation before sending the invitee to the provider
(``Settings(invitation_preflight=True)``, README "Preflight").

Auth0 has no lookup by ticket, but it lists an organization's pending invitations with their ``ticket_id``. At
``/login`` with an invitation, :class:`InvitationPreflight` looks the ticket up there:

- **Missing** (expired, used, revoked, never existed; or no such organization): the "ask for a new invitation"
  page at once, no round trip to the provider.
- **Found**: the redirect to ``/authorize`` carries ``login_hint`` (the invitee's email), ``ui_locales`` from the
  invitation's ``user_metadata.lang`` and, when the credentials may read users, ``screen_hint=signup`` for an
  address the tenant has no user with.
- **Unknown** (a budget spent, the Management API down or slow, more pending invitations than the pages a login
  may read): the login goes on exactly as without preflight. Preflight never blocks an invitee.

The pitfalls are :class:`~orginvite.tenancy.routing.OrganizationDirectory`'s: a listing is cached per organization
for ``ttl`` seconds, but a miss in the cache may be an invitation created a moment ago, so a miss refreshes the
listing, and that is the call an anonymous flood of fake tickets would repeat. Refreshes therefore draw on a token
bucket per organization (a flood against one organization neither spends another's budget nor the tenant's rate
limit), organizations never seen before share one more bucket, concurrent lookups of one organization share one
listing, a failed refresh is not retried for 30 s while the last listing is served, and a login reads at most
``max_pages`` pages. Tickets are kept as SHA-256 digests, never as given.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orginvite.i18n import locales
from orginvite.links import LoginRequest
from orginvite.login.context import LoginContext
from orginvite.management.client import ManagementClient
from orginvite.management.errors import ForbiddenError, ManagementAPIError, NotFoundError
from orginvite.tenancy.routing import LookupBudget

__all__ = ["Found", "InvitationPreflight", "Missing", "preflight_for"]

logger = logging.getLogger("orginvite.login")

_RETRY_AFTER_FAILURE = 30.0
_MAX_ORGANIZATIONS = 2_000  # listings kept (least recently used evicted): random org IDs cannot grow the cache
_PER_PAGE = 100  # Auth0's maximum page size


@dataclass(frozen=True)
class Found:
    """A pending invitation the ticket belongs to (no ticket kept)."""

    invitation_id: str
    email: str
    language: str | None  # BCP 47, from user_metadata.lang, when it names a locale
    signup: bool | None = None  # True: the tenant has no user with this email; None: not known


@dataclass(frozen=True)
class Missing:
    """The organization has no pending invitation with this ticket (or there is no such organization)."""

    organization_display_name: str | None = None


@dataclass
class _Listing:
    tickets: dict[bytes, Found]
    fresh_until: float
    complete: bool  # every page was read: a miss is a real miss
    retry_at: float = 0.0
    display_name: str | None = None
    budget: LookupBudget | None = None
    inflight: asyncio.Future[_Listing | None] | None = None
    signups: dict[str, bool] = field(default_factory=dict)  # email -> no user yet


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).digest()


class InvitationPreflight:
    """Pending invitations per organization, cached and budgeted (see the module's docstring)."""

    def __init__(
        self,
        client: ManagementClient,
        *,
        ttl: float = 30.0,
        refreshes_per_second: float = 0.5,
        refresh_burst: int = 5,
        new_organizations_per_second: float = 1.0,
        new_organization_burst: int = 10,
        max_pages: int = 3,
        timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.refreshes_per_second = refreshes_per_second
        self.refresh_burst = refresh_burst
        self.max_pages = max_pages
        self.timeout = timeout
        self._clock = clock
        self._listings: OrderedDict[str, _Listing] = OrderedDict()
        self._new_budget = LookupBudget(new_organizations_per_second, new_organization_burst)
        self._new_inflight: dict[str, asyncio.Future[_Listing | None]] = {}
        self._read_users: bool | None = None  # None: not tried yet; False: the credentials lack read:users
        self.calls = 0  # Management API calls made (tests and benchmarks count them)
        self.refused = 0  # lookups answered "unknown" because a budget was spent
        self.failures = 0

    async def check(self, organization: str, ticket: str) -> Found | Missing | None:
        """Found, Missing, or None (unknown: go on as without preflight)."""
        now = self._clock()
        digest = _digest(ticket)
        listing = self._listings.get(organization)
        stale_hit = None
        if listing is not None:
            self._listings.move_to_end(organization)
            stale_hit = listing.tickets.get(digest)
            if stale_hit is not None and now < listing.fresh_until:
                return await self._with_signup(listing, stale_hit)
        # A miss (perhaps an invitation created a moment ago) or an old listing: read it again, on budget.
        refreshed = await self._refresh(organization, listing, now)
        if refreshed is None:
            if stale_hit is not None and listing is not None:
                return await self._with_signup(listing, stale_hit)  # the provider still has the last word
            return None
        hit = refreshed.tickets.get(digest)
        if hit is not None:
            return await self._with_signup(refreshed, hit)
        if not refreshed.complete:
            return None
        return Missing(refreshed.display_name)

    async def _refresh(self, organization: str, listing: _Listing | None, now: float) -> _Listing | None:
        """A listing that is fresh or was just read; None when none can be had now (budget, failure)."""
        if listing is not None:
            if listing.inflight is not None:
                return await self._wait(listing.inflight)
            if now < listing.retry_at:
                return None  # its last refresh failed a moment ago: do not hammer a Management API that is down
            if listing.budget is None or not listing.budget.take(now):
                self._over_budget(organization)
                return None
            future = asyncio.ensure_future(self._read(organization, listing))
            listing.inflight = future
            future.add_done_callback(lambda _: setattr(listing, "inflight", None))
            return await self._wait(future)
        future = self._new_inflight.get(organization)
        if future is None:
            if not self._new_budget.take(now):
                self._over_budget(organization)
                return None
            future = asyncio.ensure_future(self._read(organization, None))
            self._new_inflight[organization] = future
            future.add_done_callback(lambda _: self._new_inflight.pop(organization, None))
        return await self._wait(future)

    async def _wait(self, future: asyncio.Future[_Listing | None]) -> _Listing | None:
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            logger.warning("invitation preflight: the Management API is slow; continuing without preflight")
            return None

    def _over_budget(self, organization: str) -> None:
        self.refused += 1
        if self.refused == 1 or self.refused % 100 == 0:
            logger.warning("invitation preflight over budget for %s (%d refused so far): continuing without it",
                           organization, self.refused)

    async def _read(self, organization: str, listing: _Listing | None) -> _Listing | None:
        tickets: dict[bytes, Found] = {}
        complete = False
        try:
            for page_number in range(self.max_pages):
                self.calls += 1
                page = await self.client.list_invitations(organization, page_number, _PER_PAGE)
                for record in page.items:
                    found = _found(record)
                    if found is not None:
                        tickets[_digest(str(record["ticket_id"]))] = found
                if not page.has_more:
                    complete = True
                    break
        except NotFoundError:
            if listing is None:  # no such organization: nothing to accept; remembered for the TTL
                listing = self._store(organization, _Listing({}, self._clock() + self.ttl, True))
                return listing
            complete = True  # deleted since: every ticket of it is dead
        except ManagementAPIError as exc:
            self.failures += 1
            logger.warning("invitation preflight: the Management API failed (%s); continuing without preflight",
                           type(exc).__name__)
            if listing is not None:
                listing.retry_at = self._clock() + _RETRY_AFTER_FAILURE
            return None
        now = self._clock()
        if listing is None:
            listing = self._store(organization, _Listing(tickets, now + self.ttl, complete))
        else:
            listing.tickets, listing.fresh_until, listing.complete = tickets, now + self.ttl, complete
        return listing

    def _store(self, organization: str, listing: _Listing) -> _Listing:
        listing.budget = LookupBudget(self.refreshes_per_second, self.refresh_burst)
        self._listings[organization] = listing
        self._listings.move_to_end(organization)
        while len(self._listings) > _MAX_ORGANIZATIONS:
            self._listings.popitem(last=False)
        return listing

    def forget(self, organization: str, invitation_id: str) -> None:
        """A callback finished this invitation (accepted, or refused and consumed): drop it from the listing, so
        the link is answered as dead at once instead of after the listing's TTL."""
        listing = self._listings.get(organization)
        if listing is not None:
            listing.tickets = {k: v for k, v in listing.tickets.items() if v.invitation_id != invitation_id}

    async def display_name(self, organization: str) -> str | None:
        """The organization's display name for the dead-link page, once per listing (None when unknown)."""
        listing = self._listings.get(organization)
        if listing is None:
            return None
        if listing.display_name is None and listing.budget is not None and listing.budget.take(self._clock()):
            try:
                self.calls += 1
                record = await asyncio.wait_for(self.client.get_organization(organization), self.timeout)
                name = record.get("display_name") or record.get("name")
                listing.display_name = name if isinstance(name, str) and name else ""
            except (ManagementAPIError, TimeoutError):
                listing.display_name = ""
        return listing.display_name or None

    async def _with_signup(self, listing: _Listing, found: Found) -> Found:
        """``found`` with ``signup`` when the credentials may read users (one lookup per email and listing)."""
        if self._read_users is False:
            return found
        key = found.email.lower()
        known = listing.signups.get(key)
        if known is None:
            try:
                self.calls += 1
                users = await asyncio.wait_for(self.client.users_by_email(found.email), self.timeout)
            except ForbiddenError:
                self._read_users = False  # no read:users: never asked again, screen_hint left out
                logger.info("invitation preflight: no read:users scope; screen_hint is left out")
                return found
            except (ManagementAPIError, TimeoutError):
                return found
            self._read_users = True
            known = listing.signups[key] = not users
        return Found(found.invitation_id, found.email, found.language, known)

    async def aclose(self) -> None:
        await self.client.aclose()


def _found(record: Any) -> Found | None:
    if not isinstance(record, dict) or not isinstance(record.get("ticket_id"), str) or not record["ticket_id"]:
        return None
    invitee = record.get("invitee")
    email = invitee.get("email") if isinstance(invitee, dict) else None
    if not isinstance(email, str) or not email or not isinstance(record.get("id"), str):
        return None
    metadata = record.get("user_metadata")
    lang = metadata.get("lang") if isinstance(metadata, dict) else None
    language = None
    if isinstance(lang, str):
        normalized = locales.normalize(lang)
        language = locales.to_bcp47(normalized) if normalized else None
    return Found(record["id"], email, language)


_PREFLIGHTS: weakref.WeakKeyDictionary[LoginContext, InvitationPreflight] = weakref.WeakKeyDictionary()


def preflight_for(ctx: LoginContext) -> InvitationPreflight | None:
    """The login flow's preflight (made on first use, sharing the provider's HTTP connection pool), or None when
    ``invitation_preflight`` is off."""
    s = ctx.settings
    if not s.invitation_preflight:
        return None
    found = _PREFLIGHTS.get(ctx)
    if found is None:
        client = ManagementClient(
            s.issuer, s.management_client_id or "", s.management_client_secret or "",
            http=ctx.oidc._http,  # one pool with the login flow's own calls; closed with it
            timeout=s.http_timeout, max_retries=0, max_retry_wait=0.0,
            allow_http=s.issuer.startswith("http://"),
        )
        found = _PREFLIGHTS[ctx] = InvitationPreflight(client)
    return found


async def check(ctx: LoginContext, link: LoginRequest) -> Found | Missing | None:
    """Preflight of ``link`` (None when off, when it is no invitation, or when its organization is a name)."""
    preflight = preflight_for(ctx)
    if preflight is None or link.invitation is None or link.organization is None:
        return None
    if not link.organization.startswith("org_"):
        return None  # a name: the provider resolves it; the listing is per organization ID
    verdict = await preflight.check(link.organization, link.invitation)
    if isinstance(verdict, Missing) and verdict.organization_display_name is None:
        verdict = Missing(await preflight.display_name(link.organization))
    if logger.isEnabledFor(logging.INFO):  # the fingerprint is a SHA-256: not for a log line nobody keeps
        logger.info("invitation preflight: %s for invitation %s in %s",
                    type(verdict).__name__ if verdict else "unknown", link.ticket_fingerprint, link.organization)
    return verdict
