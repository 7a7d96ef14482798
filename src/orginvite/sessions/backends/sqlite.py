"""Sessions in one SQLite file: shared by every worker process on one machine (WAL mode, a busy timeout).

Calls run in a worker thread so the event loop never waits on the disk. Expired rows are swept at most once a
minute, on a write. The refresh lock is a lease row written with one atomic ``UPDATE ... WHERE`` (SQLite's own
write lock makes the compare-and-set exclusive across processes); a process that dies holding it only delays the
next refresh until the lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

from orginvite.errors import ConfigurationError, SessionStoreError

__all__ = ["SQLiteBackend"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orginvite_sessions (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS orginvite_session_leases (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS orginvite_revocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS orginvite_used_ids (
    id TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
"""
_SWEEP_EVERY = 60.0
_LEASE = 30.0  # longer than any refresh (the HTTP timeout); a crashed holder blocks at most this long
_POLL = 0.02


class SQLiteBackend:
    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._swept_at = float("-inf")

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], float] = time.time,
                 setting: str = "session_store") -> SQLiteBackend:
        """``sqlite:///relative.db`` or ``sqlite:////absolute/path.db`` (SQLAlchemy's spelling)."""
        if not url.startswith("sqlite:///") or len(url) <= len("sqlite:///"):
            raise ConfigurationError(setting, "a SQLite store is sqlite:///path/to/sessions.db")
        return cls(url[len("sqlite:///"):], clock=clock)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            with self._lock:
                return work(self._connection())

        try:
            return await asyncio.to_thread(call)
        except sqlite3.Error as exc:
            raise SessionStoreError(f"SQLite session store: {exc}") from exc

    async def get(self, sid: str) -> str | None:
        now = self._clock()

        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT data FROM orginvite_sessions WHERE id = ? AND expires_at > ?",
                               (sid, now)).fetchone()
            return None if row is None else str(row[0])

        return await self._run(work)

    async def set(self, sid: str, sealed: str, ttl: int) -> None:
        now = self._clock()
        sweep = now - self._swept_at >= _SWEEP_EVERY

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO orginvite_sessions (id, data, expires_at) VALUES (?, ?, ?)",
                         (sid, sealed, now + ttl))
            if sweep:
                conn.execute("DELETE FROM orginvite_sessions WHERE expires_at <= ?", (now,))
                conn.execute("DELETE FROM orginvite_session_leases WHERE until <= ?", (now,))

        await self._run(work)
        if sweep:
            self._swept_at = now

    async def delete(self, sid: str) -> None:
        await self._run(lambda conn: conn.execute("DELETE FROM orginvite_sessions WHERE id = ?", (sid,)))

    # -- back-channel logout -------------------------------------------------------------------------------------

    async def revoke(self, kind: str, value: str, at: float, ttl: int) -> None:
        now = self._clock()

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM orginvite_revocations WHERE expires_at <= ?", (now,))
            conn.execute("INSERT INTO orginvite_revocations (kind, value, at, expires_at) VALUES (?, ?, ?, ?)",
                         (kind, value, at, at + ttl))

        await self._run(work)

    async def revocations(self, cursor: str) -> tuple[list[tuple[str, str, float]], str]:
        """Revocations written after ``cursor`` (a sequence number; ``""`` for all), and the new cursor."""
        after = int(cursor) if cursor.isdigit() else 0
        now = self._clock()

        def work(conn: sqlite3.Connection) -> tuple[list[tuple[str, str, float]], str]:
            rows = conn.execute("SELECT seq, kind, value, at FROM orginvite_revocations WHERE seq > ?"
                                " AND expires_at > ? ORDER BY seq", (after, now)).fetchall()
            if not rows:
                return [], cursor
            return [(str(k), str(v), float(a)) for _, k, v, a in rows], str(rows[-1][0])

        return await self._run(work)

    async def first_use(self, key: str, ttl: int) -> bool:
        now = self._clock()

        def work(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM orginvite_used_ids WHERE expires_at <= ?", (now,))
            cursor = conn.execute("INSERT OR IGNORE INTO orginvite_used_ids (id, expires_at) VALUES (?, ?)",
                                  (key, now + ttl))
            return cursor.rowcount == 1

        return await self._run(work)

    @contextlib.asynccontextmanager
    async def lock(self, sid: str) -> AsyncIterator[None]:
        owner = secrets.token_hex(8)
        deadline = self._clock() + _LEASE

        def take(conn: sqlite3.Connection) -> bool:
            now = self._clock()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM orginvite_session_leases WHERE id = ? AND until <= ?", (sid, now))
                cursor = conn.execute("INSERT OR IGNORE INTO orginvite_session_leases (id, owner, until)"
                                      " VALUES (?, ?, ?)", (sid, owner, now + _LEASE))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return cursor.rowcount == 1

        while not await self._run(take):
            if self._clock() > deadline:
                raise SessionStoreError("SQLite session store: the refresh lock was not released in time")
            await asyncio.sleep(_POLL)
        try:
            yield
        finally:
            await self._run(lambda conn: conn.execute(
                "DELETE FROM orginvite_session_leases WHERE id = ? AND owner = ?", (sid, owner)))

    async def aclose(self) -> None:
        def close() -> None:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await asyncio.to_thread(close)

    def __repr__(self) -> str:
        return f"SQLiteBackend({self.path!r})"
