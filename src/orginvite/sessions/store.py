"""Where sessions live: in the browser's cookies, or server-side in SQLite or Redis, behind one interface.

``Settings.session_store`` picks the place; the app's code is the same for all three:

- ``cookie`` (the default, no server state): an identity-only session is today's small signed cookie
  (:mod:`orginvite.sessions.cookie`); a session that carries tokens is sealed (JWE, :mod:`.encryption`), since
  it now holds bearer secrets, and split over numbered cookies when it outgrows one (:mod:`.chunks`).
- ``sqlite:///sessions.db`` / ``redis://host:6379/0``: the cookie holds only a random session ID (signed); the
  record, sealed with the same keys, is in the store (:mod:`orginvite.sessions.backends`). Logout deletes it.

A request's session is a :class:`Session`; what its response must write back (a re-signed or re-sealed cookie,
a dropped one) is :meth:`SessionStore.response_headers`, added to whatever the app answers.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from starlette.requests import cookie_parser

from orginvite.config import Settings
from orginvite.errors import InvalidCookieError, SessionStoreError, SessionTooLarge
from orginvite.sessions import chunks
from orginvite.sessions.cookie import SessionCookie
from orginvite.sessions.encryption import SessionCipher
from orginvite.sessions.record import SessionRecord
from orginvite.sessions.revocation import RevocationBackend, Revocations, default_revocation_path
from orginvite.sessions.signing import CookieSigner, set_cookie_header
from orginvite.sessions.user import Binding, OrgUser

__all__ = ["SESSION_KEY", "Backend", "Session", "SessionStore"]

logger = logging.getLogger("orginvite.sessions")

#: Where the middleware keeps the request's :class:`Session` (``get_access_token`` finds it there).
SESSION_KEY = "orginvite.session"
_SEALED_MEMO = 1024  # sealed cookie values kept as opened: the signed-in users of the moment
_SID_BYTES = 32


class Backend(RevocationBackend, Protocol):
    """A server-side session store: sealed records by session ID, a lock per session for the refresh, and the
    revocations of back-channel logout (:class:`~orginvite.sessions.revocation.RevocationBackend`)."""

    async def get(self, sid: str) -> str | None: ...

    async def set(self, sid: str, sealed: str, ttl: int) -> None: ...

    async def delete(self, sid: str) -> None: ...

    def lock(self, sid: str) -> Any: ...  # an async context manager held across processes

    async def aclose(self) -> None: ...


class Session:
    """The session of one request, and what its response has to write back."""

    __slots__ = ("changed", "cleared", "names", "record", "resign", "revoked", "sid", "written")

    def __init__(self, record: SessionRecord, *, sid: str | None = None, names: Iterable[str] = (),
                 resign: bool = False) -> None:
        self.record = record
        self.sid = sid
        self.names = tuple(names)  # the session cookies (chunks included) the request carried
        self.resign = resign
        self.changed = False
        self.cleared = False
        self.revoked = False  # ended by back-channel logout: no session, and its cookies go
        # The cookie values SessionStore.update sealed (or signed) for a record, so that the response writes them
        # instead of sealing the same record again; ignored once ``record`` is another one.
        self.written: tuple[SessionRecord, list[tuple[str, str]]] | None = None

    @property
    def user(self) -> OrgUser:
        return self.record.user

    @property
    def writes_back(self) -> bool:
        """Whether the response may have to carry a cookie for this session (tokens may refresh, revalidation
        may have changed the record or ended it)."""
        return self.resign or self.changed or self.cleared or self.record.tokens is not None


class SessionStore:
    """Read and write sessions for one :class:`Settings`; safe to share across requests."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time,
                 backend: Backend | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.cookie = SessionCookie(settings, clock=clock)
        self.name = self.cookie.name
        self.cipher = SessionCipher(settings.secret_keys)
        self.backend = backend if backend is not None else _backend_for(settings, clock)
        self._ids = CookieSigner(settings.secret_keys, "orginvite.session-id", clock=clock)
        self.revocations = _revocations_for(settings, self.backend, clock)
        self._sealed: OrderedDict[str, tuple[SessionRecord, bool]] = OrderedDict()
        self._verified_ids: OrderedDict[str, tuple[str, int]] = OrderedDict()  # sid cookie -> (sid, signed at)
        self._names = chunks.chunk_names(self.name)

    @property
    def server_side(self) -> bool:
        return self.backend is not None

    async def aclose(self) -> None:
        if self.backend is not None:
            await self.backend.aclose()
        elif self.revocations.backend is not None:
            await self.revocations.aclose()

    # -- reading ---------------------------------------------------------------------------------------------

    async def load(self, cookie_header: bytes, bound: Binding | None = None) -> Session | None:
        """The session a ``Cookie`` header carries, or None (absent, tampered, expired, foreign). A server-side
        store that fails raises :class:`SessionStoreError`: never an anonymous user instead.

        A session ended by back-channel logout comes back with ``revoked`` and ``cleared`` set: it is no session,
        and :meth:`response_headers` drops its cookies (its server-side record is deleted here)."""
        session = await self._load(cookie_header, bound)
        if session is not None and await self.revocations.revoked(session.record):
            session.revoked = True
            await self.clear(session)
        return session

    async def _load(self, cookie_header: bytes, bound: Binding | None) -> Session | None:
        jar = cookie_parser(cookie_header.decode("latin-1"))
        names = [name for name in self._names if name in jar]
        try:
            if self.backend is not None:
                return await self._load_server(jar, bound, names)
            value = chunks.join(self.name, jar)
            if not value:
                return None
            if value.count(".") == 4:
                record, resign = self._open(value, bound)
                return Session(record, names=names, resign=resign)
            user, resign, confirmed, sid = self.cookie.read_session(value, bound)
        except InvalidCookieError:
            return None
        return Session(SessionRecord(user, None, bound, confirmed, sid), names=names, resign=resign)

    def _open(self, value: str, bound: Binding | None) -> tuple[SessionRecord, bool]:
        record, older_key = self._opened(value)
        self._check(record, bound)
        return replace(record, user=record.user.copy()), older_key  # one request cannot change the next one's

    def _opened(self, sealed: str) -> tuple[SessionRecord, bool]:
        """A sealed record opened, from a bounded memo keyed by the exact sealed value (cookie or store row):
        only a byte-identical copy of something that decrypted can hit, and a changed record is a new value."""
        memo = self._sealed.get(sealed)
        if memo is None:
            payload, older_key = self.cipher.open(sealed)
            memo = (SessionRecord.from_payload(payload), older_key)
            if len(self._sealed) >= _SEALED_MEMO:
                self._sealed.popitem(last=False)
            self._sealed[sealed] = memo
        return memo

    def _check(self, record: SessionRecord, bound: Binding | None) -> None:
        if record.user.expires_at <= self.clock():
            raise InvalidCookieError("expired")
        if bound is not None and record.bound != bound:
            raise InvalidCookieError("foreign")

    def _session_id(self, raw: str) -> str:
        """The session ID a signed cookie carries; verified values are memoized (bounded, keyed by the exact
        value, the age checked on every hit) so that a request costs one store read and no HMAC."""
        ttl = self.settings.session_ttl
        memo = self._verified_ids.get(raw)
        if memo is not None:
            if 0 <= int(self.clock()) - memo[1] <= ttl:
                return memo[0]
            del self._verified_ids[raw]
        payload, _, signed_at = self._ids.verify(raw, max_age=ttl)
        sid = payload.get("i")
        if not isinstance(sid, str) or not 20 <= len(sid) <= 100:
            raise InvalidCookieError("malformed")
        if len(self._verified_ids) >= _SEALED_MEMO:
            self._verified_ids.popitem(last=False)
        self._verified_ids[raw] = (sid, signed_at)
        return sid

    async def _load_server(self, jar: Mapping[str, str], bound: Binding | None, names: list[str]) -> Session | None:
        assert self.backend is not None
        raw = jar.get(self.name)
        if not raw:
            return None
        sid = self._session_id(raw)
        try:
            sealed = await self.backend.get(sid)
        except SessionStoreError:
            raise
        except Exception as exc:  # a backend bug or an unexpected client error: still no anonymous user
            raise SessionStoreError(f"session store read failed ({type(exc).__name__})") from exc
        if sealed is None:
            return None
        try:
            record, _ = self._opened(sealed)  # retired keys stay listed until session_ttl has passed
        except InvalidCookieError as exc:
            logger.warning("session record %s… does not open (%s); treated as no session", sid[:6], exc.reason)
            return None
        self._check(record, bound)
        return Session(replace(record, user=record.user.copy()), sid=sid, names=names)

    async def stored_record(self, session: Session) -> SessionRecord | None:
        """The record a server-side store holds for ``session`` now, which another request or process may have
        written since this request loaded it (a refresh: newer tokens; a revalidation: newer roles); None when it is
        gone (the session ended meanwhile). A row that does not open raises :class:`InvalidCookieError`. Callers
        that write it back hold ``backend.lock(session.sid)``."""
        assert self.backend is not None and session.sid is not None
        sealed = await self.backend.get(session.sid)
        if sealed is None:
            return None
        record, _ = self._opened(sealed)
        return replace(record, user=record.user.copy())  # the memo's record is shared: this request's own copy

    # -- writing ---------------------------------------------------------------------------------------------

    async def create(self, record: SessionRecord, request_cookies: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
        """A new session (the callback): its ``Set-Cookie`` headers, stale chunks and a replaced server-side
        record of the same browser removed. :class:`SessionTooLarge` / :class:`SessionStoreError` on failure."""
        present = [name for name in self._names if name in request_cookies]
        if self.backend is None:
            return self._cookie_headers(record, present)
        old = request_cookies.get(self.name)
        sid = secrets.token_urlsafe(_SID_BYTES)
        await self.backend.set(sid, self.cipher.seal(record.to_payload()), self._remaining(record))
        if old:
            try:
                previous = self._ids.unsign(old, max_age=self.settings.session_ttl).get("i")
            except InvalidCookieError:
                previous = None
            if isinstance(previous, str):
                await self.backend.delete(previous)  # the browser's earlier session ends with the new one
        headers = [self._header(self.name, self._ids.sign({"i": sid}), self._remaining(record))]
        headers.extend(self._delete(n) for n in present if n != self.name)
        return headers

    async def update(self, session: Session, record: SessionRecord) -> None:
        """The session's record after a refresh: written to the store now, or to the cookie with the response.
        A cookie session that would outgrow the browser's cookies first drops the tokens of other audiences."""
        if self.backend is not None and session.sid is not None:
            session.record = record
            await self.backend.set(session.sid, self.cipher.seal(record.to_payload()), self._remaining(record))
            return
        try:
            session.written = (record, self._cookie_values(record))
        except SessionTooLarge:
            if record.tokens is None or not record.tokens.others:
                raise
            logger.warning("session too large for cookies; its tokens for other audiences are dropped")
            record = record.with_tokens(replace(record.tokens, others={}))
            session.written = None  # sealed with the response, as before
        session.record = record
        session.changed = True

    async def clear(self, session: Session) -> None:
        """End the session: its server-side record deleted, its cookies dropped with the response."""
        session.cleared = True
        if self.backend is not None and session.sid is not None:
            try:
                await self.backend.delete(session.sid)
            except SessionStoreError as exc:
                logger.warning("session record could not be deleted (%s); its cookie is dropped", exc)

    async def end(self, cookie_header: bytes | None, bound: Binding | None = None) -> list[tuple[bytes, bytes]]:
        """Logout: the server-side record deleted (when the store answers) and every session cookie dropped."""
        if cookie_header is None:
            return [self._delete(self.name)]
        jar = cookie_parser(cookie_header.decode("latin-1"))
        if self.backend is not None and jar.get(self.name):
            try:
                sid = self._ids.unsign(jar[self.name], max_age=self.settings.session_ttl).get("i")
                if isinstance(sid, str):
                    await self.backend.delete(sid)
            except InvalidCookieError:
                pass
            except SessionStoreError as exc:
                logger.warning("logout: the session record could not be deleted (%s)", exc)
        names = [name for name in self._names if name in jar] or [self.name]
        return [self._delete(name) for name in names]

    def response_headers(self, session: Session) -> list[tuple[bytes, bytes]]:
        """What the response must carry for ``session``: nothing, a rewritten cookie, or its deletion."""
        if session.cleared:
            return [self._delete(name) for name in (session.names or (self.name,))]
        if self.backend is not None:
            return []
        if session.changed:  # its size was checked by update(), which sealed it once
            written = session.written
            values = written[1] if written is not None and written[0] is session.record else None
            return self._cookie_headers(session.record, session.names, values)
        if session.resign:  # sealed or signed with a retired key: the same record under the newest key
            try:
                return self._cookie_headers(session.record, session.names)
            except SessionTooLarge:  # it was read, so it fits; only a cookie from before the size rule may not
                return []
        return []

    def _cookie_values(self, record: SessionRecord) -> list[tuple[str, str]]:
        """The session cookies (name, value) of ``record``: one signed cookie, or its sealed chunks;
        :class:`SessionTooLarge` when they would not fit."""
        if record.tokens is None:
            return [(self.name, self.cookie.issue(record.user, record.bound, record.confirmed_at, sid=record.sid))]
        try:
            return chunks.split(self.name, self.cipher.seal(record.to_payload()))
        except chunks.TooLarge as exc:
            raise SessionTooLarge(exc.size, exc.limit) from None

    def _cookie_headers(
        self, record: SessionRecord, present: Iterable[str], pairs: list[tuple[str, str]] | None = None
    ) -> list[tuple[bytes, bytes]]:
        """The ``Set-Cookie`` headers of ``record`` (``pairs``: its cookie values, when already made)."""
        max_age = self._remaining(record)
        if pairs is None:
            pairs = self._cookie_values(record)
        written = {name for name, _ in pairs}
        headers = [self._header(name, value, max_age) for name, value in pairs]
        headers.extend(self._delete(name) for name in present if name not in written)  # stale chunks
        return headers

    def _remaining(self, record: SessionRecord) -> int:
        return max(1, int(record.user.expires_at - self.clock()))

    def _header(self, name: str, value: str, max_age: int) -> tuple[bytes, bytes]:
        return set_cookie_header(name, value, max_age=max_age, secure=self.settings.secure)

    def _delete(self, name: str) -> tuple[bytes, bytes]:
        return set_cookie_header(name, "", max_age=0, secure=self.settings.secure)


def _revocations_for(settings: Settings, backend: Backend | None, clock: Callable[[], float]) -> Revocations:
    """Revocations in the session store; with the cookie store, in ``revocation_store`` (its default file)."""
    if backend is not None:
        return Revocations(backend, settings, strict=True, clock=clock)
    if settings.revocation_store == "off":
        return Revocations(None, settings, strict=False, clock=clock)
    from orginvite.sessions.backends.sqlite import SQLiteBackend

    if settings.revocation_store is None:
        path = default_revocation_path(settings)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # read-only home: the reads fail and are logged, requests go on
            logger.warning("revocation store directory %s cannot be created (%s)", path.parent, exc)
        revocations: RevocationBackend = SQLiteBackend(path, clock=clock)
    else:
        revocations = SQLiteBackend.from_url(settings.revocation_store, clock=clock, setting="revocation_store")
    return Revocations(revocations, settings, strict=False, clock=clock)


def _backend_for(settings: Settings, clock: Callable[[], float]) -> Backend | None:
    url = settings.session_store
    if url == "cookie":
        return None
    if url.startswith("sqlite:"):
        from orginvite.sessions.backends.sqlite import SQLiteBackend

        return SQLiteBackend.from_url(url, clock=clock)
    from orginvite.sessions.backends.redis import RedisBackend

    return RedisBackend.from_url(url, timeout=settings.http_timeout)
