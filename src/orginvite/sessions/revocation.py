"""Sessions ended by the provider (back-channel logout), on every process at once.

A revocation names a provider session (``sid``: the app sessions made from it) or a user (``sub``: all their
sessions) with the time it was made: sessions created before it are over, later sign-ins are not. It is written to
the session store (SQLite, Redis: every process reads the same one) or, with the cookie store, to a small SQLite
file (``Settings.revocation_store``; by default one per issuer and client under ``$XDG_STATE_HOME/orginvite``).

Each process keeps what it has read in memory and asks the store only for revocations newer than the last it saw,
at most once per :data:`WINDOW` seconds: the hot path costs one or two dict lookups, and a revocation reaches every
process within a second. Revocations are kept as long as a session can live (``session_ttl``), then swept.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol, TypeVar

from orginvite.config import Settings
from orginvite.errors import SessionStoreError
from orginvite.sessions.record import SessionRecord

__all__ = ["WINDOW", "RevocationBackend", "Revocations", "default_revocation_path"]

logger = logging.getLogger("orginvite.sessions")

T = TypeVar("T")

#: How long a process trusts what it read of the revocations (seconds): one store read per window, not per request.
WINDOW = 1.0
_PRUNE_EVERY = 300.0
#: The value prefix of a "sid" row that names a user's sessions without a provider sid (see Revocations.revoke).
_NOSID = "orginvite-nosid:"


class RevocationBackend(Protocol):
    """What a store keeps for revocation: the revocations (read incrementally by cursor) and used token IDs."""

    async def revoke(self, kind: str, value: str, at: float, ttl: int) -> None: ...

    async def revocations(self, cursor: str) -> tuple[list[tuple[str, str, float]], str]: ...

    async def first_use(self, key: str, ttl: int) -> bool: ...

    async def aclose(self) -> None: ...


def default_revocation_path(settings: Settings) -> Path:
    """The cookie store's revocation file: one per issuer and client (two apps on one machine never share one), in
    the user's state directory (kept across reboots, unlike a temporary directory)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    digest = hashlib.sha256(f"{settings.issuer}\n{settings.client_id}".encode()).hexdigest()[:16]
    return Path(state) / "orginvite" / f"revocations-{digest}.db"


class Revocations:
    """Revoke sessions and tell whether a session is revoked, for one :class:`Settings`.

    ``strict``: a store that cannot be read raises :class:`SessionStoreError` (a server-side store: the request
    gets the same 503 as when the session itself cannot be read). Otherwise (the cookie store's revocation file)
    the failure is logged and the request goes on: the cookie store has no server state to fail closed on, and a
    broken file must not sign every user out.
    """

    def __init__(self, backend: RevocationBackend | None, settings: Settings, *, strict: bool,
                 clock: Callable[[], float] = time.time, window: float = WINDOW) -> None:
        self.backend = backend
        self.settings = settings
        self.strict = strict
        self.clock = clock
        self.window = window
        self._by_sid: dict[str, float] = {}
        self._by_sub: dict[str, float] = {}
        self._by_nosid: dict[str, float] = {}  # sub -> when: its sessions without a provider sid
        self._tables = {"sid": self._by_sid, "sub": self._by_sub, "nosid": self._by_nosid}
        self._cursor = ""
        self._fresh_until = float("-inf")
        self._pruned_at = clock()
        self._lock: asyncio.Lock | None = None

    @property
    def enabled(self) -> bool:
        return self.backend is not None

    async def revoke(self, *, sid: str | None, sub: str | None) -> None:
        """End the sessions of provider session ``sid`` (or, without one, every session of ``sub``) created until
        now. Raises :class:`SessionStoreError` when the store does not take it (the provider will retry)."""
        if self.backend is None:
            raise SessionStoreError("session revocation is off (revocation_store='off')")
        kind, value = ("sid", sid) if sid else ("sub", sub)
        if not value:
            raise ValueError("a revocation names a sid or a sub")
        now = self.clock()
        await self._call(self.backend.revoke(kind, value, now, self.settings.session_ttl))
        self._tables[kind][value] = now  # this process knows at once
        if sid and sub:
            # Sessions that carry no provider sid (made before orginvite kept it, or from an ID token without
            # one) cannot be matched to this provider session: they end with it rather than outlive a logout.
            # Stored as a sid no provider issues, so that a process of an earlier release reads it as harmless.
            await self._call(self.backend.revoke("sid", _NOSID + sub, now, self.settings.session_ttl))
            self._by_nosid[sub] = now

    async def first_use(self, key: str, ttl: int) -> bool:
        """Whether ``key`` (a logout token's ``jti``) is seen for the first time; remembered ``ttl`` seconds."""
        if self.backend is None:
            raise SessionStoreError("session revocation is off (revocation_store='off')")
        return await self._call(self.backend.first_use(key, ttl))

    async def revoked(self, record: SessionRecord) -> bool:
        """Whether ``record``'s session was ended by a revocation made after it was created."""
        if self.backend is None:
            return False
        if self.clock() >= self._fresh_until:
            await self._refresh()
        sub_at = self._by_sub.get(record.user.sub)
        sid = record.provider_sid
        sid_at = self._by_nosid.get(record.user.sub) if sid is None else self._by_sid.get(sid)
        if sub_at is None and sid_at is None:
            return False
        created = record.user.expires_at - self.settings.session_ttl
        return any(at is not None and created <= at for at in (sub_at, sid_at))

    async def _refresh(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one read per window, however many requests wait on it
            now = self.clock()
            if now < self._fresh_until:
                return
            assert self.backend is not None
            try:
                rows, cursor = await self._call(self.backend.revocations(self._cursor))
            except SessionStoreError as exc:
                if self.strict:
                    raise
                self._fresh_until = now + self.window  # retried once per window, not on every request
                logger.warning("revocation store unreadable (%s): sessions are not checked against it", exc)
                return
            for kind, value, at in rows:
                if kind == "sid" and value.startswith(_NOSID):
                    kind, value = "nosid", value[len(_NOSID):]
                table = self._tables.get(kind)
                if table is None:
                    continue  # a kind a newer release wrote: not ours to guess at
                table[value] = max(at, table.get(value, at))
            self._cursor = cursor
            if now - self._pruned_at >= _PRUNE_EVERY:  # older than any session: nothing left to end
                oldest = now - self.settings.session_ttl
                for table in self._tables.values():
                    for value in [v for v, at in table.items() if at < oldest]:
                        del table[value]
                self._pruned_at = now
            self._fresh_until = now + self.window

    @staticmethod
    async def _call(awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except SessionStoreError:
            raise
        except Exception as exc:  # a backend bug or an unexpected client error: a store failure, never a 500
            raise SessionStoreError(f"revocation store failed ({type(exc).__name__})") from exc

    async def aclose(self) -> None:
        if self.backend is not None:
            await self.backend.aclose()
