"""The session store under bad input: chunked cookies tampered with, rotated keys, garbage IDs, rows that do not
decrypt, a store that is down. Each gets a clear outcome (anonymous, re-sealed, 503), never a 500."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import replace
from typing import Any

import httpx2
import pytest
from session_support import ORG, token_world

from login_support import KEY_A, KEY_B
from orginvite.config import Settings
from orginvite.errors import InvalidCookieError
from orginvite.sessions import chunks
from orginvite.sessions.record import SessionRecord
from orginvite.sessions.store import Session, SessionStore
from orginvite.sessions.tokens import AccessToken, TokenSet
from orginvite.sessions.user import OrgUser
from redis_support import redis_server

PADDING = {"padding": "p" * 6000}  # an access token past one cookie: the session needs chunks


def test_chunks_split_and_join_and_refuse_what_we_never_write() -> None:
    value = "x" * (chunks.CHUNK_SIZE * 3)
    pairs = chunks.split("s", value)
    assert [name for name, _ in pairs] == ["s", "s_1", "s_2", "s_3"]
    assert all(len(part) <= chunks.CHUNK_SIZE for _, part in pairs)
    jar = dict(pairs)
    assert chunks.join("s", jar) == value
    assert chunks.join("s", {"s": "small"}) == "small" and chunks.join("s", {}) is None
    for broken in ({**jar, "s_2": ""}, {k: v for k, v in jar.items() if k != "s_3"}, {**jar, "s": "9~" + jar["s"][2:]},
                   {**jar, "s": "x~" + jar["s"][2:]}, {**jar, "s_1": "y" * (chunks.CHUNK_SIZE + 1)}):
        with pytest.raises(InvalidCookieError, match="malformed"):
            chunks.join("s", broken)
    with pytest.raises(chunks.TooLarge):
        chunks.split("s", "x" * (chunks.CHUNK_SIZE * chunks.MAX_CHUNKS))


def test_a_large_token_set_round_trips_in_chunks_and_stale_chunks_are_deleted() -> None:
    with token_world() as world:
        world.op.access_claims = PADDING
        world.sign_in()
        names = set(world.session_cookies())
        assert {"orginvite_session", "orginvite_session_1"} <= names
        assert world.token().status_code == 200
        world.op.access_claims = {}
        refreshed = world.token(min_ttl=10_000)  # the refreshed set is small again: one cookie
        assert refreshed.status_code == 200
        deleted = {h.split("=", 1)[0] for h in refreshed.headers.get_list("set-cookie") if "Max-Age=0" in h}
        assert deleted == names - {"orginvite_session"}
        assert set(world.session_cookies()) == {"orginvite_session"}
        assert world.me().json()["user"] == "auth0|alice"


def _me_with(url: str, cookies: dict[str, str]) -> httpx2.Response:
    with httpx2.Client(cookies=cookies) as client:
        return client.get(url + "/me")


def test_tampered_truncated_reordered_or_foreign_chunks_read_as_no_session() -> None:
    with token_world() as world:
        world.op.access_claims = PADDING
        world.sign_in()
        jar = world.session_cookies()
        assert _me_with(world.url, jar).status_code == 200
        other = world.browser  # a second session of the same user: its chunks are foreign to the first
        world.browser = type(other)()
        world.sign_in()
        foreign = world.session_cookies()
        flipped = jar["orginvite_session_1"]
        flipped = flipped[:100] + ("A" if flipped[100] != "A" else "B") + flipped[101:]
        cases = [
            {**jar, "orginvite_session_1": flipped},
            {k: v for k, v in jar.items() if k != "orginvite_session_1"},
            {**jar, "orginvite_session_1": jar["orginvite_session_1"][:-10]},
            {**jar, "orginvite_session_1": foreign["orginvite_session_1"]},
        ]
        if "orginvite_session_2" in jar:
            cases.append({**jar, "orginvite_session_1": jar["orginvite_session_2"],
                          "orginvite_session_2": jar["orginvite_session_1"]})
        for case in cases:
            answer = _me_with(world.url, case)
            assert answer.status_code == 401, answer.text[:200]
        other.close()


def test_a_retired_key_still_opens_and_the_response_re_seals_with_the_newest() -> None:
    with token_world(secret_keys=(KEY_A,)) as world:
        world.sign_in()
        sealed_with_a = world.session_cookies()
        rotated, only_b = world.middleware(secret_keys=(KEY_B, KEY_A)), world.middleware(secret_keys=(KEY_B,))
        server = world.holders[0]
        server.inner = only_b
        assert _me_with(world.url, sealed_with_a).status_code == 401  # B alone does not open A's seal
        server.inner = rotated
        answer = _me_with(world.url, sealed_with_a)
        assert answer.status_code == 200
        resealed = {h.split("=", 1)[0]: h.split("=", 1)[1].split(";", 1)[0]
                    for h in answer.headers.get_list("set-cookie") if "Max-Age=0" not in h}
        assert set(resealed) == {"orginvite_session"} and resealed != sealed_with_a
        server.inner = only_b
        assert _me_with(world.url, resealed).status_code == 200  # re-sealed with B: readable once A is retired


@pytest.fixture(params=["sqlite", "redis"])
def server_store(request, tmp_path):
    if request.param == "sqlite":
        yield request.param, f"sqlite:///{tmp_path}/sessions.db", None
    else:
        with redis_server() as server:
            yield request.param, server.url, server


def test_garbage_and_forged_session_ids_read_as_no_session(server_store) -> None:
    _, url, _ = server_store
    with token_world(session_store=url) as world:
        world.sign_in()
        good = world.session_cookies()["orginvite_session"]
        for value in ("garbage", "a.b.c", good[:-4] + "AAAA", "x" * 5000, good.replace(".", "", 1)):
            answer = _me_with(world.url, {"orginvite_session": value})
            assert answer.status_code == 401, (value[:20], answer.text[:200])
        assert _me_with(world.url, {"orginvite_session": good}).status_code == 200


def test_a_row_that_does_not_decrypt_reads_as_no_session(tmp_path) -> None:
    path = tmp_path / "sessions.db"
    with token_world(session_store=f"sqlite:///{path}") as world:
        world.sign_in()
        assert world.me().status_code == 200
        with sqlite3.connect(path) as db:
            db.execute("UPDATE orginvite_sessions SET data = ?", ("eyJhbGciOiJkaXIifQ..aaaa.bbbb.cccc",))
        assert world.me().status_code == 401


def test_a_redis_outage_is_a_503_page_not_a_500_and_not_anonymous() -> None:
    with redis_server() as server, token_world(session_store=server.url) as world:
        world.sign_in()
        assert world.me().status_code == 200
        server.stop()
        page = world.browser.get(world.url + "/me", headers={"accept": "text/html"})
        assert page.status_code == 503 and "<html" in page.text.lower()
        answer = world.browser.get(world.url + "/me", headers={"accept": "application/json"})
        assert answer.status_code == 503 and answer.json()["error"] == "session_store_unavailable"
        assert world.browser.get(world.url + "/elsewhere").status_code == 503  # never a silent sign-out
        assert _me_with(world.url, {}).status_code == 401  # anonymous requests do not need the store


def test_a_session_too_large_for_eight_cookies_gets_a_page_and_no_cookie() -> None:
    with token_world() as world:
        world.op.access_claims = {"padding": "p" * 11_500}  # two tokens of ~16 KB each: past 8 cookies sealed
        world.op.claims = {"padding": "q" * 11_500}
        login = world.browser.get(world.url + "/login", params={"organization": ORG})
        at_op = world.browser.get(login.headers["location"])
        callback = world.browser.get(at_op.headers["location"], headers={"accept": "application/json"})
        assert callback.status_code == 403 and callback.json()["error"] == "forbidden_profile_too_large"
        assert not any(h.startswith("orginvite_session=") and "Max-Age=0" not in h
                       for h in callback.headers.get_list("set-cookie"))


def test_the_sqlite_store_sweeps_expired_rows(tmp_path) -> None:
    import asyncio

    from orginvite.sessions.backends.sqlite import SQLiteBackend

    class Clock:
        now = 1_800_000_000.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    path = tmp_path / "sweep.db"
    backend = SQLiteBackend(path, clock=clock)

    async def scenario() -> None:
        await backend.set("short-lived-session-id-000", "sealed-1", ttl=10)
        await backend.set("long-lived-session-id-0000", "sealed-2", ttl=10_000)
        clock.now += 120  # past the first row's expiry and the sweep interval
        assert await backend.get("short-lived-session-id-000") is None  # expired rows never read
        await backend.set("another-session-id-0000000", "sealed-3", ttl=10_000)  # a write sweeps
        await backend.aclose()

    asyncio.run(scenario())
    with sqlite3.connect(path) as db:
        ids = {row[0] for row in db.execute("SELECT id FROM orginvite_sessions")}
    assert ids == {"long-lived-session-id-0000", "another-session-id-0000000"}


def _cookie_header(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The Cookie header a browser sends back after these Set-Cookie headers (the deleted ones left out)."""
    pairs = [value.decode().split(";", 1)[0] for _, value in headers if b"Max-Age=0" not in value]
    return "; ".join(pairs).encode()


def test_a_refreshed_cookie_session_is_sealed_once_and_the_response_writes_the_current_record(monkeypatch) -> None:
    """update() seals the record to check that it fits; the response writes that sealed value instead of sealing
    it again, unless the request replaced the record since (revalidation's fallback): then that one is written."""
    store = SessionStore(Settings(issuer="http://127.0.0.1:9/", client_id="web", client_secret="s",
                                  secret_keys=(KEY_A,), base_url="http://127.0.0.1:8000", revocation_store="off"))
    seals: list[dict[str, Any]] = []
    seal = store.cipher.seal
    monkeypatch.setattr(store.cipher, "seal", lambda payload: seals.append(payload) or seal(payload))
    now = time.time()
    user = OrgUser("auth0|ann", expires_at=now + 3600)
    session = Session(SessionRecord(user, TokenSet(AccessToken("at-old", now + 60), refresh_token="rt-old")))
    refreshed = session.record.with_tokens(TokenSet(AccessToken("at-new", now + 600), refresh_token="rt-new"))
    asyncio.run(store.update(session, refreshed))
    headers = store.response_headers(session)
    assert len(seals) == 1
    loaded = asyncio.run(store.load(_cookie_header(headers)))
    assert loaded is not None and loaded.record.tokens is not None
    assert loaded.record.tokens.access_token == AccessToken("at-new", now + 600)
    session.record = replace(session.record, confirmed_at=now)  # changed after update(): sealed anew
    again = asyncio.run(store.load(_cookie_header(store.response_headers(session))))
    assert len(seals) == 2 and again is not None and again.record.confirmed_at == now
