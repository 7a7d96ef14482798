"""A server-side session written back by a request that loaded it before another request or process changed it:
revalidation must keep the stored (newest) tokens, a refresh must keep the stored user (roles, confirmation time).
Writing back this request's copy would restore a retired refresh token (the next refresh is reuse: a rotating
provider revokes the family, the member is signed out) or roles a revalidation elsewhere already replaced."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from login_support import KEY_A
from orginvite.config import Settings
from orginvite.errors import SessionStoreError
from orginvite.sessions.access import AccessTokens
from orginvite.sessions.membership import Confirmation
from orginvite.sessions.record import SessionRecord
from orginvite.sessions.revalidation import Revalidator
from orginvite.sessions.store import Session, SessionStore
from orginvite.sessions.tokens import AccessToken, TokenSet
from orginvite.sessions.user import Organization, OrgUser
from redis_support import redis_server

ORG = Organization("org_A1b2C3d4E5f6G7h8", "acme")


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/sessions.db"
    else:
        with redis_server() as server:
            yield server.url


class Members:
    """The Management API's answer, as Memberships gives it: still a member, with these roles."""

    def __init__(self, roles: tuple[str, ...]) -> None:
        self.roles = roles

    async def confirm(self, user_id: str, organization: str) -> Confirmation:
        return Confirmation(True, self.roles)


class Refresher:
    def __init__(self) -> None:
        self.used: list[str | None] = []

    async def refresh(self, tokens: TokenSet, user: OrgUser, audience: str | None) -> TokenSet:
        self.used.append(tokens.refresh_token)
        return TokenSet(AccessToken("at-3", time.time() + 3600), refresh_token="rt-3")


def _settings(url: str) -> Settings:
    return Settings(issuer="http://127.0.0.1:9/", client_id="web", client_secret="s", secret_keys=(KEY_A,),
                    base_url="http://127.0.0.1:8000", session_store=url, revalidate_every=300)


def _record(roles: tuple[str, ...], refresh_token: str, confirmed_at: float, expires_in: float) -> SessionRecord:
    now = time.time()
    user = OrgUser("auth0|ann", organization=ORG, roles=roles, expires_at=now + 3600)
    return SessionRecord(user, TokenSet(AccessToken("at-" + refresh_token, now + expires_in),
                                        refresh_token=refresh_token), confirmed_at=confirmed_at)


async def _loaded(store: SessionStore, record: SessionRecord) -> Session:
    headers = await store.create(record, {})
    cookie = "; ".join(value.decode().split(";", 1)[0] for _, value in headers).encode()
    session = await store.load(cookie)
    assert session is not None and session.sid is not None
    return session


async def _write(store: SessionStore, session: Session, record: SessionRecord) -> None:
    """What another process's write of the same session does to the store (this request's copy unchanged)."""
    assert store.backend is not None and session.sid is not None
    await store.backend.set(session.sid, store.cipher.seal(record.to_payload()), 3600)


def test_revalidation_keeps_the_tokens_another_process_refreshed_meanwhile(store_url) -> None:
    async def run() -> None:
        store = SessionStore(_settings(store_url))
        try:
            session = await _loaded(store, _record(("member",), "rt-1", 0.0, 600))
            # while this request asks the Management API, another process rotates the refresh token
            await _write(store, session, _record(("member",), "rt-2", 0.0, 3600))
            revalidator = Revalidator(store.settings, store, AccessTokens(store, Refresher()), Members(("admin",)))
            assert revalidator.due(session)
            assert await revalidator.check(session) == "kept"
            assert session.user.roles == ("admin",)
            stored = await store.stored_record(session)
            assert stored is not None and stored.tokens is not None
            assert stored.tokens.refresh_token == "rt-2"
            assert stored.user.roles == ("admin",) and time.time() - stored.confirmed_at < 60
        finally:
            await store.aclose()

    asyncio.run(run())


def test_revalidation_does_not_bring_back_a_session_that_ended_meanwhile(tmp_path) -> None:
    async def run() -> None:
        store = SessionStore(_settings(f"sqlite:///{tmp_path}/sessions.db"))
        try:
            session = await _loaded(store, _record(("member",), "rt-1", 0.0, 600))
            assert store.backend is not None and session.sid is not None
            await store.backend.delete(session.sid)  # logged out in another tab meanwhile
            revalidator = Revalidator(store.settings, store, AccessTokens(store, Refresher()), Members(("admin",)))
            assert await revalidator.check(session) == "kept"
            assert await store.backend.get(session.sid) is None
            assert session.cleared and store.response_headers(session)  # the response drops the cookie
        finally:
            await store.aclose()

    asyncio.run(run())


def test_a_refresh_keeps_the_roles_another_process_revalidated_meanwhile(store_url) -> None:
    async def run() -> None:
        store = SessionStore(_settings(store_url))
        try:
            session = await _loaded(store, _record(("member",), "rt-1", 100.0, 10))  # its access token expiring
            confirmed = time.time()
            await _write(store, session, _record(("admin",), "rt-1", confirmed, 10))  # another's revalidation
            refresher = Refresher()
            assert await AccessTokens(store, refresher).get(session) == "at-3"
            assert refresher.used == ["rt-1"]
            stored = await store.stored_record(session)
            assert stored is not None and stored.tokens is not None
            assert stored.tokens.refresh_token == "rt-3"
            assert stored.user.roles == ("admin",) and stored.confirmed_at == confirmed
        finally:
            await store.aclose()

    asyncio.run(run())


def test_a_request_that_finds_fresh_tokens_under_the_lock_does_not_write_its_old_roles_back(tmp_path) -> None:
    async def run() -> None:
        store = SessionStore(_settings(f"sqlite:///{tmp_path}/sessions.db"))
        try:
            session = await _loaded(store, _record(("member",), "rt-1", 100.0, 10))
            confirmed = time.time()
            await _write(store, session, _record(("admin",), "rt-2", confirmed, 3600))  # refreshed elsewhere
            refresher = Refresher()
            assert await AccessTokens(store, refresher).get(session) == "at-rt-2"
            assert refresher.used == []
            stored = await store.stored_record(session)
            assert stored is not None and stored.user.roles == ("admin",) and stored.confirmed_at == confirmed
        finally:
            await store.aclose()

    asyncio.run(run())


def test_a_lock_that_fails_during_the_revalidation_write_keeps_the_session(tmp_path, monkeypatch) -> None:
    async def run() -> None:
        store = SessionStore(_settings(f"sqlite:///{tmp_path}/sessions.db"))
        try:
            session = await _loaded(store, _record(("member",), "rt-1", 0.0, 600))
            assert store.backend is not None

            def broken(sid: str):
                raise SessionStoreError("SQLite session store: the refresh lock was not released in time")

            monkeypatch.setattr(store.backend, "lock", broken)
            revalidator = Revalidator(store.settings, store, AccessTokens(store, Refresher()), Members(("admin",)))
            assert await revalidator.check(session) == "kept"
            assert not session.cleared and session.user.roles == ("admin",)  # this request sees the roles anyway
            stored = await store.stored_record(session)
            assert stored is not None and stored.user.roles == ("member",)
        finally:
            await store.aclose()

    asyncio.run(run())


def test_the_requests_that_raced_the_first_confirmation_adopt_it_without_the_lock(tmp_path) -> None:
    """A burst of one due session: the first request confirms and writes under the lock; the others, which loaded
    the record before that write, find the stored confirmation and take it as it is (no lock, no second write)."""
    async def run() -> None:
        store = SessionStore(_settings(f"sqlite:///{tmp_path}/sessions.db"))
        try:
            first = await _loaded(store, _record(("member",), "rt-1", 0.0, 600))
            late = Session(first.record, sid=first.sid, names=first.names)  # loaded before the first one's write
            assert store.backend is not None
            plain_lock, locks = store.backend.lock, []

            def counting_lock(sid: str):
                locks.append(sid)
                return plain_lock(sid)

            store.backend.lock = counting_lock  # type: ignore[method-assign]
            revalidator = Revalidator(store.settings, store, AccessTokens(store, Refresher()), Members(("admin",)))
            assert await revalidator.check(first) == "kept" and len(locks) == 1
            assert revalidator.due(late)
            assert await revalidator.check(late) == "kept"
            assert len(locks) == 1 and late.user.roles == ("admin",) and not late.cleared
            assert time.time() - late.record.confirmed_at < 60
        finally:
            await store.aclose()

    asyncio.run(run())
