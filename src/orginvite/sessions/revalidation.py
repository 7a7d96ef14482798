"""Revalidation: a session re-confirms, at most once per ``Settings.revalidate_every``, that its user is still a
member of its organization and what their roles are there now.

With machine credentials the Management API answers (:class:`~orginvite.sessions.membership.Memberships`: cached
per user and single flight, so a burst of one user's requests costs one call); Auth0 does not document refusing a
refresh after a removal, so membership is confirmed there whenever credentials exist. Without them a session with
a refresh token refreshes (the refresher verifies the new ID token and its organization; its roles claim is taken).
The confirmation time rides in the session record, so every store (the cookie included) keeps it; the record
written back carries the newest tokens known for the session: with the cookie store, the ones this process
rotated to (a request that left with the pre-rotation cookie must not put a rotated-away refresh token back into
the browser); with a server-side store, the stored ones, re-read under the session's lock (another process may
have refreshed meanwhile). A session that ended meanwhile is not written back.

Removed: the session ends. Demoted: the new roles are on ``request.user`` at once. An outage keeps the session
(logged): a provider that cannot answer must never lock every member out. So does a session store that fails
during the refresh (its lock, its read): the request was already served from it. A failure is remembered for a
short while (:data:`OUTAGE_RETRY`), as the Management API's is, so an outage costs one attempt per user then, not
one per request (each one waiting for the connection to fail or time out).
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from orginvite.config import Settings
from orginvite.errors import InvalidCookieError, ProviderError, SessionExpired, SessionStoreError, SessionTooLarge
from orginvite.sessions.access import AccessTokens
from orginvite.sessions.membership import Memberships
from orginvite.sessions.record import SessionRecord
from orginvite.sessions.store import Session, SessionStore
from orginvite.sessions.tokens import verified_claims
from orginvite.sessions.user import OrgUser, clean_roles

__all__ = ["Revalidator"]

logger = logging.getLogger("orginvite.sessions")

Outcome = Literal["kept", "removed"]
_MAX_RECENT = 10_000
#: Seconds a failed refresh is remembered before the next due request of that user tries again.
OUTAGE_RETRY = 30.0


class Revalidator:
    """Confirms due sessions of one mounted login flow."""

    def __init__(self, settings: Settings, store: SessionStore, access_tokens: AccessTokens,
                 memberships: Memberships | None, *, clock: Callable[[], float] = time.time) -> None:
        self.every = settings.revalidate_every
        self.settings = settings
        self.store = store
        self.access_tokens = access_tokens
        self.memberships = memberships
        self.clock = clock
        # refresh path: (sub, organization) -> (until, roles) confirmed by a refresh in this process, or (until,
        # None) after a refresh that the provider could not answer
        self._recent: OrderedDict[tuple[str, str], tuple[float, tuple[str, ...] | None]] = OrderedDict()

    def due(self, session: Session) -> bool:
        """Whether ``session`` must re-confirm now (one subtraction on the pass-through)."""
        if self.every <= 0 or self.clock() - session.record.confirmed_at < self.every:
            return False
        org = session.user.organization
        if org is None or not (org.id or org.name):
            return False  # nothing to be a member of
        tokens = session.record.tokens
        return self.memberships is not None or (tokens is not None and tokens.refresh_token is not None)

    async def check(self, session: Session) -> Outcome:
        """Re-confirm a due session: its record updated (roles, confirmation time), or ended (``"removed"``)."""
        user = session.user
        org = user.organization
        assert org is not None
        organization = org.id or org.name or ""
        try:
            if self.memberships is not None:
                confirmation = await self.memberships.confirm(user.sub, organization)
                if not confirmation.member:
                    return await self._removed(session, organization, "the Management API lists no membership")
                roles = clean_roles(confirmation.roles)
            else:
                found = await self._by_refresh(session, organization)
                if found is None:
                    return await self._removed(session, organization, "the refresh was refused")
                roles = found
        except (ProviderError, SessionStoreError) as exc:  # the store's refresh lock or read, during a refresh
            logger.warning("revalidation of sub=%r in %s failed (%s); the session is kept", user.sub[:100],
                           organization, exc)
            return "kept"
        if roles != user.roles:
            logger.info("revalidation: roles of sub=%r in %s are now %r", user.sub[:100], organization, roles)
        new_user = user.copy()
        new_user.roles = roles
        try:
            if self.store.server_side and session.sid is not None:
                await self._write_stored(session, new_user)
            else:
                record = replace(session.record, user=new_user, confirmed_at=self.clock())
                tokens = self.access_tokens.latest(session)
                if tokens is not record.tokens:
                    record = record.with_tokens(tokens)
                await self.store.update(session, record)
        except (SessionStoreError, SessionTooLarge) as exc:
            logger.warning("revalidation: the confirmed session could not be written (%s)", exc)
            session.record = replace(session.record, user=new_user)  # this request sees the roles anyway
        return "kept"

    async def _write_stored(self, session: Session, new_user: OrgUser) -> None:
        """The confirmation written into the record the store holds now, under the session's lock: another
        request or process may have refreshed while this one asked, and writing back the tokens this request
        loaded would restore a retired refresh token (its next use is reuse: the provider revokes the family)."""
        backend = self.store.backend
        assert backend is not None and session.sid is not None
        if await self._adopted(session, new_user, locked=False) is None:
            return  # the other requests of a burst that raced the first one's write: no lock, no write
        async with backend.lock(session.sid):
            stored = await self._adopted(session, new_user, locked=True)
            if stored is not None:
                await self.store.update(session, replace(stored, user=new_user, confirmed_at=self.clock()))

    async def _adopted(self, session: Session, new_user: OrgUser, *, locked: bool) -> SessionRecord | None:
        """The stored record to write the confirmation into, or None when it settles this request without a write:
        confirmed by another request within the interval (taken as it is), or (locked) ended meanwhile or
        unreadable. Unlocked, only a confirmation settles it (the locked read decides the rest)."""
        try:
            stored = await self.store.stored_record(session)
        except InvalidCookieError as exc:  # the next request's load treats the row as no session
            if not locked:
                return session.record
            logger.warning("revalidation: the stored session no longer opens (%s); not written", exc.reason)
            session.record = replace(session.record, user=new_user)
            return None
        if stored is None:  # ended meanwhile (logout, another revalidation): not brought back
            if not locked:
                return session.record
            logger.info("revalidation: sub=%r's session ended meanwhile; not written", new_user.sub[:100])
            session.cleared = True
            return None
        if self.clock() - stored.confirmed_at < self.every:
            session.record = stored
            return None
        return stored

    async def _by_refresh(self, session: Session, organization: str) -> tuple[str, ...] | None:
        """The roles a forced refresh's ID token names now; None when the refresh ended the session."""
        key = (session.user.sub, organization)
        now = self.clock()
        recent = self._recent.get(key)
        if recent is not None and recent[0] > now:
            if recent[1] is None:
                raise ProviderError("the last refresh failed moments ago; not tried again yet")
            return recent[1]
        try:
            await self.access_tokens.get(session, None, math.inf, force=True)
        except SessionExpired as exc:
            if exc.reason == "no_refresh_token":
                return session.user.roles
            return None
        except (ProviderError, SessionStoreError):
            # From when the attempt failed, not when it began: a lock wait or a timeout may have lasted the pause.
            self._remember(key, self.clock() + min(OUTAGE_RETRY, self.every), None)
            raise
        tokens = session.record.tokens
        claims = verified_claims(tokens.id_token if tokens is not None else None)
        roles = session.user.roles
        if claims is not None and self.settings.roles_claim is not None:
            roles = clean_roles(claims.get(self.settings.roles_claim))
        self._remember(key, now + self.every, roles)
        return roles

    def _remember(self, key: tuple[str, str], until: float, roles: tuple[str, ...] | None) -> None:
        self._recent[key] = (until, roles)
        self._recent.move_to_end(key)
        while len(self._recent) > _MAX_RECENT:
            self._recent.popitem(last=False)

    async def _removed(self, session: Session, organization: str, why: str) -> Outcome:
        logger.info("revalidation: sub=%r is no longer a member of %s (%s); session ended", session.user.sub[:100],
                    organization, why)
        await self.store.clear(session)
        return "removed"
