"""Sessions in Redis, for many machines behind one load balancer: redis-py's asyncio client.

Records expire as Redis keys (the session's remaining lifetime), so nothing needs sweeping. The refresh lock is
redis-py's own :class:`redis.asyncio.lock.Lock` (a token under a key with a timeout, released only by its
holder): one refresh per session across every process. Any Redis failure is a :class:`SessionStoreError`, which
the middleware answers with a 503 page, never a 500 and never an anonymous user.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from orginvite.errors import ConfigurationError, SessionStoreError

__all__ = ["RedisBackend"]

_LOCK_TIMEOUT = 30.0  # longer than any refresh; a crashed holder's lock expires after it


class RedisBackend:
    def __init__(self, client: Any, *, prefix: str = "orginvite:session:") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 5.0, prefix: str = "orginvite:session:") -> RedisBackend:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError("session_store", "must be cookie, sqlite:///path or redis://host:port/db")
        try:
            import redis.asyncio as redis
        except ImportError:
            raise ConfigurationError(
                "session_store", "a Redis store needs redis-py: pip install 'orginvite[redis]'"
            ) from None
        try:
            client = redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        except ValueError as exc:
            raise ConfigurationError("session_store", f"not a Redis URL ({exc})") from None
        return cls(client, prefix=prefix)

    def _errors(self) -> tuple[type[BaseException], ...]:
        import redis.exceptions

        return (redis.exceptions.RedisError, OSError)

    async def get(self, sid: str) -> str | None:
        try:
            value = await self.client.get(self.prefix + sid)
        except self._errors() as exc:
            raise SessionStoreError(f"Redis session store: {type(exc).__name__}") from exc
        return None if value is None else value.decode("ascii", "replace")

    async def set(self, sid: str, sealed: str, ttl: int) -> None:
        try:
            await self.client.set(self.prefix + sid, sealed.encode("ascii"), ex=max(1, ttl))
        except self._errors() as exc:
            raise SessionStoreError(f"Redis session store: {type(exc).__name__}") from exc

    async def delete(self, sid: str) -> None:
        try:
            await self.client.delete(self.prefix + sid)
        except self._errors() as exc:
            raise SessionStoreError(f"Redis session store: {type(exc).__name__}") from exc

    # -- back-channel logout: a stream of revocations (its IDs are the cursor), used token IDs as SET NX keys ----

    async def revoke(self, kind: str, value: str, at: float, ttl: int) -> None:
        oldest = int((at - ttl) * 1000)  # entries older than any session are trimmed (stream IDs are milliseconds)
        try:
            await self.client.xadd(self.prefix + "revocations", {"k": kind, "v": value, "a": repr(at)},
                                   minid=max(0, oldest), approximate=True)
        except self._errors() as exc:
            raise SessionStoreError(f"Redis session store: {type(exc).__name__}") from exc

    async def revocations(self, cursor: str) -> tuple[list[tuple[str, str, float]], str]:
        try:
            entries = await self.client.xrange(self.prefix + "revocations", min="(" + cursor if cursor else "-")
        except self._errors() as exc:
            raise SessionStoreError(f"Redis session store: {type(exc).__name__}") from exc
        rows = []
        for _, fields in entries:
            try:
                rows.append((fields[b"k"].decode(), fields[b"v"].decode(), float(fields[b"a"])))
            except (KeyError, ValueError, UnicodeDecodeError):
                continue  # not ours: skipped, never a failure of every request
        if entries:
            cursor = entries[-1][0].decode("ascii")
        return rows, cursor

    async def first_use(self, key: str, ttl: int) -> bool:
        try:
            return bool(await self.client.set(self.prefix + "used:" + key, b"1", nx=True, ex=max(1, ttl)))
        except self._errors() as exc:
            raise SessionStoreError(f"Redis session store: {type(exc).__name__}") from exc

    @contextlib.asynccontextmanager
    async def lock(self, sid: str) -> AsyncIterator[None]:
        import redis.exceptions

        lock = self.client.lock(self.prefix + "lock:" + sid, timeout=_LOCK_TIMEOUT,
                                blocking_timeout=_LOCK_TIMEOUT, thread_local=False)
        try:
            acquired = await lock.acquire()
        except self._errors() as exc:
            raise SessionStoreError(f"Redis session store: {type(exc).__name__}") from exc
        if not acquired:
            raise SessionStoreError("Redis session store: the refresh lock was not released in time")
        try:
            yield
        finally:
            with contextlib.suppress(redis.exceptions.LockError, *self._errors()):
                await lock.release()  # expired or unreachable: the timeout frees it

    async def aclose(self) -> None:
        with contextlib.suppress(*self._errors()):
            await self.client.aclose()
