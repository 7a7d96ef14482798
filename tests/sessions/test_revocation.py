"""Back-channel revocations in the stores: seen by every process over one store, read once per cache window,
sessions created later untouched, and outages answered as the store kind says (server stores fail closed)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from loopback_support import free_port
from orginvite.config import Settings
from orginvite.errors import SessionStoreError
from orginvite.sessions.backends.redis import RedisBackend
from orginvite.sessions.backends.sqlite import SQLiteBackend
from orginvite.sessions.record import SessionRecord
from orginvite.sessions.revocation import Revocations, default_revocation_path
from orginvite.sessions.store import SessionStore
from orginvite.sessions.tokens import TokenSet
from orginvite.sessions.user import OrgUser

KEY = "k" * 32
TTL = 3600


class Clock:
    def __init__(self) -> None:
        self.now = time.time()  # Redis stream IDs (the cursor, the trimming) are its real milliseconds

    def __call__(self) -> float:
        return self.now


def settings(**kw: Any) -> Settings:
    values: dict[str, Any] = dict(issuer="http://127.0.0.1:9/", client_id="web", client_secret="s",
                                  secret_keys=(KEY,), base_url="http://127.0.0.1:8000", session_ttl=TTL)
    return Settings(**{**values, **kw})


def record(clock: Clock, sub: str = "auth0|ann", sid: str | None = "sid-1") -> SessionRecord:
    return SessionRecord(OrgUser(sub, expires_at=clock.now + TTL), sid=sid)


class Counting:
    """A backend that counts its revocation reads (and can be made to fail)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.reads, self.down = inner, 0, False

    async def revoke(self, *args: Any) -> None:
        await self.inner.revoke(*args)

    async def revocations(self, cursor: str) -> Any:
        self.reads += 1
        if self.down:
            raise SessionStoreError("down")
        return await self.inner.revocations(cursor)

    async def first_use(self, key: str, ttl: int) -> bool:
        return await self.inner.first_use(key, ttl)

    async def aclose(self) -> None:
        await self.inner.aclose()


def two_processes(path: Path, clock: Clock, *, strict: bool = True) -> tuple[Revocations, Revocations, Counting]:
    s = settings()
    watched = Counting(SQLiteBackend(path, clock=clock))
    return (Revocations(SQLiteBackend(path, clock=clock), s, strict=strict, clock=clock),
            Revocations(watched, s, strict=strict, clock=clock), watched)


def test_a_revocation_reaches_the_other_process_within_one_window_and_costs_one_read(tmp_path):
    async def main() -> None:
        clock = Clock()
        a, b, watched = two_processes(tmp_path / "r.db", clock)
        session = record(clock)
        clock.now += 5
        assert not await b.revoked(session)
        await a.revoke(sid="sid-1", sub="auth0|ann")
        assert await a.revoked(session)  # the process that took the logout knows at once
        for _ in range(1000):  # inside b's window: its cache answers, the store is not asked
            assert not await b.revoked(session)
        assert watched.reads == 1
        clock.now += 1.01
        assert await b.revoked(session)
        assert watched.reads == 2

    asyncio.run(main())


def test_a_sid_ends_only_its_sessions_and_a_sub_only_those_created_before(tmp_path):
    async def main() -> None:
        clock = Clock()
        a, _, _ = two_processes(tmp_path / "r.db", clock)
        older, other_sid = record(clock), record(clock, sid="sid-2")
        clock.now += 5
        await a.revoke(sid="sid-1", sub="auth0|ann")
        assert await a.revoked(older) and not await a.revoked(other_sid)
        await a.revoke(sid=None, sub="auth0|ann")
        assert await a.revoked(other_sid) and not await a.revoked(record(clock, "auth0|bob", sid=None))
        clock.now += 0.5
        assert not await a.revoked(record(clock, sid="sid-3"))  # signed in again after the revocation

    asyncio.run(main())


def test_a_session_without_a_provider_sid_ends_with_any_provider_session_of_its_user(tmp_path):
    """A session made before orginvite kept the provider's sid cannot be told apart: a logout token naming a sid
    of its user ends it (on the other process too), and nothing of another user or with another known sid."""
    async def main() -> None:
        clock = Clock()
        a, b, _ = two_processes(tmp_path / "r.db", clock)
        legacy, legacy_bob, known_other = record(clock, sid=None), record(clock, "auth0|bob", sid=None), record(
            clock, sid="sid-2")
        clock.now += 5
        await a.revoke(sid="sid-1", sub="auth0|ann")
        for process in (a, b):
            assert await process.revoked(legacy)
            assert not await process.revoked(legacy_bob) and not await process.revoked(known_other)
        clock.now += 0.5
        assert not await b.revoked(record(clock, sid=None))  # signed in again after the logout
        # what an earlier release reads from the same store: sid rows only, none of them a real sid
        rows, _ = await a.backend.revocations("")
        assert {kind for kind, _, _ in rows} == {"sid"} and ("sid", "sid-1") in {(k, v) for k, v, _ in rows}

    asyncio.run(main())


def test_a_revocation_kind_this_release_does_not_know_is_ignored(tmp_path):
    async def main() -> None:
        clock = Clock()
        a, b, _ = two_processes(tmp_path / "r.db", clock)
        session = record(clock)
        clock.now += 5
        await a.backend.revoke("device", "auth0|ann", clock.now, TTL)  # written by a newer release
        assert not await b.revoked(session)

    asyncio.run(main())


def test_a_jti_is_used_once_until_it_expires(tmp_path):
    async def main() -> None:
        clock = Clock()
        a, b, _ = two_processes(tmp_path / "r.db", clock)
        assert await a.first_use("jti:1", 60)
        assert not await b.first_use("jti:1", 60)  # the other process sees the same table
        clock.now += 61
        assert await b.first_use("jti:1", 60)

    asyncio.run(main())


def test_a_server_store_that_cannot_be_read_fails_closed_and_the_cookie_stores_file_does_not(tmp_path, caplog):
    async def main() -> None:
        clock = Clock()
        _, strict, watched = two_processes(tmp_path / "r.db", clock, strict=True)
        _, lenient, lenient_watched = two_processes(tmp_path / "r.db", clock, strict=False)
        watched.down = lenient_watched.down = True
        with pytest.raises(SessionStoreError):
            await strict.revoked(record(clock))
        assert not await lenient.revoked(record(clock))
        assert not await lenient.revoked(record(clock))
        assert lenient_watched.reads == 1  # retried once per window, not on every request

    asyncio.run(main())
    assert "revocation store unreadable" in caplog.text


def test_the_session_store_drops_a_revoked_session_and_deletes_its_record(tmp_path):
    async def main() -> None:
        clock = Clock()
        store = SessionStore(settings(session_store=f"sqlite:///{tmp_path}/s.db"), clock=clock)
        tokens = TokenSet(None, sid="sid-9")
        headers = await store.create(SessionRecord(OrgUser("auth0|ann", expires_at=clock.now + TTL), tokens), {})
        cookie = headers[0][1].split(b";")[0]
        session = await store.load(cookie)
        assert session is not None and not session.revoked
        clock.now += 1
        await store.revocations.revoke(sid="sid-9", sub="auth0|ann")
        session = await store.load(cookie)
        assert session is not None and session.revoked and session.cleared
        assert any(b"Max-Age=0" in value for _, value in store.response_headers(session))
        assert await store.backend.get(session.sid) is None
        await store.aclose()

    asyncio.run(main())


def test_the_cookie_store_keeps_revocations_in_its_own_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    store = SessionStore(settings())
    assert isinstance(store.revocations.backend, SQLiteBackend)
    assert Path(store.revocations.backend.path) == default_revocation_path(settings())
    assert Path(store.revocations.backend.path).parent == tmp_path / "orginvite"
    other = settings(client_id="another-app")
    assert default_revocation_path(other) != default_revocation_path(settings())
    assert SessionStore(settings(revocation_store="off")).revocations.enabled is False


def test_the_identity_cookie_keeps_the_provider_sid(tmp_path):
    async def main() -> None:
        clock = Clock()
        store = SessionStore(settings(revocation_store=f"sqlite:///{tmp_path}/r.db"), clock=clock)
        headers = await store.create(SessionRecord(OrgUser("auth0|ann", expires_at=clock.now + TTL), sid="p-1"), {})
        cookie = headers[0][1].split(b";")[0]
        loaded = await store.load(cookie)
        assert loaded is not None and loaded.record.provider_sid == "p-1"
        clock.now += 1
        await store.revocations.revoke(sid="p-1", sub="auth0|ann")
        loaded = await store.load(cookie)
        assert loaded is not None and loaded.revoked
        await store.aclose()

    asyncio.run(main())


@pytest.fixture
def redis_url():
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    import socket

    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.kill()
    process.wait()


def test_redis_keeps_revocations_and_used_ids_for_every_process(redis_url):
    async def main() -> None:
        clock = Clock()
        s = settings(session_store=redis_url)
        a = Revocations(RedisBackend.from_url(redis_url), s, strict=True, clock=clock)
        b = Revocations(RedisBackend.from_url(redis_url), s, strict=True, clock=clock)
        session = record(clock)
        clock.now += 5
        assert not await b.revoked(session)
        await a.revoke(sid="sid-1", sub="auth0|ann")
        clock.now += 1.01
        assert await b.revoked(session) and not await b.revoked(record(clock, sid="sid-2"))
        await a.revoke(sid=None, sub="auth0|bob")
        clock.now += 1.01
        assert await b.revoked(record(Clock(), "auth0|bob", sid=None))
        assert await a.first_use("jti:x", 60) and not await b.first_use("jti:x", 60)
        await a.aclose()
        await b.aclose()

    asyncio.run(main())


def test_redis_down_is_a_store_error(redis_url):
    async def main() -> None:
        s = settings(session_store=redis_url)
        dead = Revocations(RedisBackend.from_url("redis://127.0.0.1:9/0", timeout=0.5), s, strict=True)
        with pytest.raises(SessionStoreError):
            await dead.revoked(record(Clock()))
        with pytest.raises(SessionStoreError):
            await dead.revoke(sid="s", sub=None)

    asyncio.run(main())
