"""``get_access_token``: an access token for the app's API, valid long enough, refreshed once however many ask.

What today's SDKs get wrong (nextjs-auth0 #1841, #2394; authkit-nextjs #28) and this module does not:

- Single flight: concurrent requests of one session that find the token expiring share one refresh per process
  (and, with a server-side store, one across processes: the store's lock, then the record read again).
- A rotated refresh token is never used twice: with the cookie store, a request that still carries the
  pre-rotation cookie (it left the browser before the new one arrived) gets the new tokens from a short-lived
  table of recent rotations instead of refreshing again with the old token, which Auth0's reuse detection
  answers by revoking the whole family.
- Every refreshed ID token is verified as at the callback and must still name the session's user and
  organization (the refresher checks it); a refusal (``invalid_grant``) clears the session and raises
  :class:`~orginvite.errors.SessionExpired`; an outage raises :class:`~orginvite.errors.ProviderError` and keeps it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from starlette.requests import HTTPConnection

from orginvite.errors import OrganizationClaimError, SessionExpired, TokenError
from orginvite.sessions.store import SESSION_KEY, Session, SessionStore
from orginvite.sessions.tokens import TokenSet
from orginvite.sessions.user import OrgUser

__all__ = ["AccessTokens", "RefreshRefused", "Refresher", "get_access_token"]

logger = logging.getLogger("orginvite.sessions")

_ROTATIONS_KEPT = 60.0  # seconds a rotated-away refresh token still finds its successor (cookie store)
_MAX_ROTATIONS = 10_000


class RefreshRefused(Exception):
    """The provider refused the refresh token (``error``: ``invalid_grant`` and friends): the session is over."""

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__(f"refresh refused ({error})")


class Refresher(Protocol):
    """Trades a refresh token for a new token set (the login flow's OIDC client implements it)."""

    async def refresh(self, tokens: TokenSet, user: OrgUser, audience: str | None) -> TokenSet: ...


class AccessTokens:
    """The refresh logic of one mounted login flow, over its :class:`SessionStore` and a :class:`Refresher`."""

    def __init__(self, store: SessionStore, refresher: Refresher, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.refresher = refresher
        self.clock = clock
        self._flights: dict[tuple[str, str | None], asyncio.Future[TokenSet]] = {}
        self._rotated: OrderedDict[str, tuple[TokenSet, float]] = OrderedDict()
        self.refreshes = 0  # refreshes this process asked the provider for (benchmarks and tests count them)

    async def get(self, session: Session, audience: str | None = None, min_ttl: float = 60, *,
                  force: bool = False) -> str:
        tokens = session.record.tokens
        if session.cleared:
            raise SessionExpired("no_session", "the session has ended")
        if tokens is None:
            raise SessionExpired("no_refresh_token", "this session keeps no tokens (set an audience or "
                                                     "ask for offline_access)")
        current = tokens.for_audience(audience)
        if not force and current is not None and current.expires_at - self.clock() > min_ttl:
            return current.token
        if tokens.refresh_token is None:
            raise SessionExpired("no_refresh_token", "the access token expired and no refresh token was granted")
        fresh = await self._refresh(session, tokens, audience, min_ttl, force)
        token = fresh.for_audience(audience)
        assert token is not None
        return token.token

    def latest(self, session: Session) -> TokenSet | None:
        """The tokens a write of ``session``'s record must carry: its own, or (cookie store) the ones a refresh of
        this process just gave for its refresh token, when this request left with the pre-rotation cookie. Its
        answer may reach the browser last: it must not put a rotated-away refresh token back."""
        tokens = session.record.tokens
        if tokens is None or tokens.refresh_token is None:
            return tokens
        successor = self._successor(self._flight_key(session, tokens))
        return tokens if successor is None else successor

    def _flight_key(self, session: Session, tokens: TokenSet) -> str:
        if session.sid is not None:
            return "sid:" + session.sid
        assert tokens.refresh_token is not None
        return "rt:" + hashlib.sha256(tokens.refresh_token.encode()).hexdigest()

    async def _refresh(self, session: Session, tokens: TokenSet, audience: str | None, min_ttl: float,
                       force: bool = False) -> TokenSet:
        key = self._flight_key(session, tokens)
        successor = self._successor(key)
        # force (revalidation): a refresh this process made moments ago is the provider's current answer, and
        # refreshing again with the rotated-away token would be reuse, which the provider answers by revoking all
        if successor is not None and (
                force or _fresh(successor, audience, self.clock(), self._min_ttl(key, audience, min_ttl))):
            await self.store.update(session, session.record.with_tokens(successor))
            return successor
        flight = self._flights.get((key, audience))
        if flight is None:
            flight = asyncio.get_running_loop().create_future()
            self._flights[(key, audience)] = flight
            try:
                result = await self._refresh_once(session, tokens, audience, min_ttl, force)
            except BaseException as exc:
                flight.set_exception(exc)
                flight.exception()  # retrieved: the waiters (if any) re-raise it; no "never retrieved" warning
                raise
            else:
                flight.set_result(result)
            finally:
                del self._flights[(key, audience)]
            self._remember(key, result)
        else:
            try:
                result = await asyncio.shield(flight)
            except SessionExpired:
                await self.store.clear(session)  # this request's response drops the cookie too
                raise
        if session.record.tokens is not result:
            if self.store.server_side and session.sid is not None:
                # the flight wrote the stored record (user included) under the lock; this request's copy may be older
                session.record = session.record.with_tokens(result)
            else:
                await self.store.update(session, session.record.with_tokens(result))
        return result

    async def _refresh_once(self, session: Session, tokens: TokenSet, audience: str | None, min_ttl: float,
                            force: bool = False) -> TokenSet:
        backend = self.store.backend
        if backend is None or session.sid is None:
            return await self._call_provider(session, tokens, audience)
        async with backend.lock(session.sid):
            # Another process may have refreshed while we waited for the lock: read the record again.
            record = await self.store.stored_record(session)
            if record is None:
                session.cleared = True
                raise SessionExpired("no_session", "the session ended while its token was refreshed")
            stored = record.tokens
            if stored is not None and not force and _fresh(stored, audience, self.clock(), min_ttl):
                session.record = record  # already in the store: nothing to write back
                return stored
            result = await self._call_provider(session, stored or tokens, audience)
            # Written before the lock goes: the next holder (another process) must read the rotated refresh
            # token, not refresh again with the one the provider just retired (reuse: it revokes the family).
            # The stored record's user and confirmation time are kept: another process's revalidation may have
            # written newer roles than the ones this request loaded.
            await self.store.update(session, record.with_tokens(result))
            return result

    async def _call_provider(self, session: Session, tokens: TokenSet, audience: str | None) -> TokenSet:
        self.refreshes += 1
        try:
            return await self.refresher.refresh(tokens, session.user, audience)
        except RefreshRefused as exc:
            logger.info("refresh refused by the provider (%s): session ended for sub=%r", exc.error, session.user.sub)
            await self.store.clear(session)
            raise SessionExpired("refresh_refused", f"the provider refused the refresh ({exc.error})") from None
        except OrganizationClaimError as exc:
            logger.warning("refresh came back for another organization (%s): session ended", exc)
            await self.store.clear(session)
            raise SessionExpired("organization_changed", "the refreshed tokens name another organization") from None
        except TokenError as exc:
            logger.warning("refreshed tokens rejected (%s): session ended", exc)
            await self.store.clear(session)
            raise SessionExpired("refresh_refused", "the refreshed tokens did not verify") from None

    def _remember(self, key: str, result: TokenSet) -> None:
        if not key.startswith("rt:"):
            return  # server-side stores update the one record; nothing to remember
        now = self.clock()
        rotated = self._rotated
        rotated[key] = (result, now + _ROTATIONS_KEPT)
        rotated.move_to_end(key)
        while rotated and (len(rotated) > _MAX_ROTATIONS or next(iter(rotated.values()))[1] < now):
            rotated.popitem(last=False)

    def _min_ttl(self, key: str, audience: str | None, min_ttl: float) -> float:
        """A provider that issues tokens shorter-lived than ``min_ttl`` would have every pre-rotation request
        refresh again: its just-rotated token counts as fresh for the first half of its life."""
        found = self._rotated.get(key)
        token = None if found is None else found[0].for_audience(audience)
        if found is None or token is None:
            return min_ttl
        life = token.expires_at - (found[1] - _ROTATIONS_KEPT)
        return min(min_ttl, max(life / 2, 0.0))  # never an expired token, however the provider dated it

    def _successor(self, key: str) -> TokenSet | None:
        found = self._rotated.get(key)
        if found is None or found[1] < self.clock():
            return None
        return found[0]


def _fresh(tokens: TokenSet, audience: str | None, now: float, min_ttl: float) -> bool:
    token = tokens.for_audience(audience)
    return token is not None and token.expires_at - now > min_ttl


async def get_access_token(conn: HTTPConnection, *, audience: str | None = None, min_ttl: float = 60) -> str:
    """An access token for the signed-in member's API calls, with more than ``min_ttl`` seconds left.

    Refreshes when needed (once, however many requests ask at the same time). ``audience``: another API than the
    login's (Auth0's multi-resource refresh tokens); its token is cached in the session. Raises
    :class:`~orginvite.errors.SessionExpired` when the session cannot give one (the response then drops the
    session cookie) and :class:`~orginvite.errors.ProviderError` when the provider is down (the session stays).
    """
    session = conn.scope.get(SESSION_KEY)
    if not isinstance(session, Session):
        raise SessionExpired("no_session", "nobody is signed in")
    tokens: AccessTokens | None = conn.scope.get(SESSION_KEY + ".tokens")
    if tokens is None:
        raise SessionExpired("no_session", "the request did not pass through OrgInviteMiddleware")
    return await tokens.get(session, audience, min_ttl)
