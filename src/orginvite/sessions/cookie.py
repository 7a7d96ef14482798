"""The signed session cookie: issued at the callback, verified (once, memoized) on every request.

After the callback has verified the ID token and its organization, the few claims an app needs live in one cookie
signed with the newest secret key (salt ``"orginvite.session"``). A cookie signed with an older key is accepted
and re-signed with the newest, so rotating keys signs nobody out.

Under multi-tenant routing a session is bound to the host and organization it was made for (``bound``, kept in
the signed payload): a cookie made on ``acme.myapp.com`` and replayed on ``globex.myapp.com`` (or under another
organization's path on a shared host) reads as no session at all.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from orginvite.config import Settings
from orginvite.errors import InvalidCookieError, SessionTooLarge
from orginvite.sessions.record import confirmed_time, provider_sid
from orginvite.sessions.signing import MAX_COOKIE_LENGTH, CookieSigner, set_cookie_header
from orginvite.sessions.user import Binding, OrgUser

__all__ = ["SessionCookie"]

_VERIFIED_MEMO = 1024  # session cookie values kept as verified (~1 KiB each): the signed-in users of the moment
_MAX_SESSION_COOKIE = 3800  # leave room for name and attributes under the browsers' ~4096 bytes


class SessionCookie:
    """Issue and verify the session cookie for one :class:`Settings`."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.name = ("__Host-" if settings.secure else "") + settings.session_cookie
        self._clock = clock
        self._signer = CookieSigner(settings.secret_keys, "orginvite.session", clock=clock)
        # the longest value we issue: browsers keep name=value up to ~4096 bytes, and the reader refuses longer
        self.max_length = min(_MAX_SESSION_COOKIE, MAX_COOKIE_LENGTH - len(self.name) - 1, self._signer.max_length)
        self._verified: OrderedDict[str, tuple[OrgUser, bool, int, Any, float, str | None]] = OrderedDict()

    def _sign(self, user: OrgUser, bound: Binding | None, confirmed_at: float | None = None,
              sid: str | None = None) -> str:
        payload = user.to_payload()
        if bound is not None:
            payload["b"] = list(bound)
        if confirmed_at is not None:
            payload["c"] = confirmed_at
        if sid is not None:
            payload["s"] = sid  # the provider session: back-channel logout names sessions by it
        return self._signer.sign(payload)

    def issue(self, user: OrgUser, bound: Binding | None = None, confirmed_at: float | None = None, *,
              sid: str | None = None) -> str:
        """The cookie value for ``user``; past :attr:`max_length` the picture is shed, then all roles but ten.

        Raises :class:`~orginvite.errors.SessionTooLarge` when that is still too long, or when the reader would
        refuse the value: a cookie the browser drops would sign nobody in, silently.
        """
        value = self._sign(user, bound, confirmed_at, sid)
        if len(value) > self.max_length and user.picture:
            user = OrgUser(
                user.sub, email=user.email, name=user.name, organization=user.organization, roles=user.roles,
                expires_at=user.expires_at,
            )
            value = self._sign(user, bound, confirmed_at, sid)
        if len(value) > self.max_length:
            user = OrgUser(
                user.sub, email=user.email, name=user.name, organization=user.organization,
                roles=user.roles[:10], expires_at=user.expires_at,
            )
            value = self._sign(user, bound, confirmed_at, sid)
        if len(value) > self.max_length:
            raise SessionTooLarge(len(value), self.max_length)
        try:
            OrgUser.from_payload(user.to_payload())  # the reader's checks of the payload's shape and field sizes
        except InvalidCookieError:
            raise SessionTooLarge(len(value), self.max_length) from None
        return value

    def read(self, value: str, bound: Binding | None = None) -> tuple[OrgUser, bool]:
        user, resign, _, _ = self.read_session(value, bound)
        return user, resign

    def read_session(self, value: str, bound: Binding | None = None) -> tuple[OrgUser, bool, float, str | None]:
        """``(user, needs_resign, confirmed_at, sid)``; raises :class:`InvalidCookieError` for anything we would not
        accept.

        With ``bound`` (multi-tenant routing) the session must have been issued for exactly that host and
        organization; a session from another host or organization is ``InvalidCookieError("foreign")``.

        A value that verified recently is found in a small memo of verified values (keyed by the exact value, so
        only a byte-identical copy of a cookie that passed the HMAC can hit) and skips the HMAC and the JSON
        decoding; its age, expiry and binding are checked again on every request, and the user is a copy, so
        that one request cannot change what the next one sees.
        """
        ttl = self.settings.session_ttl
        memo = self._verified.get(value)
        if memo is not None:
            known, resign, signed_at, binding, confirmed, sid = memo
            now = self._clock()
            age = int(now) - signed_at
            if 0 <= age <= ttl and known.expires_at > now:
                if bound is not None and binding != list(bound):
                    raise InvalidCookieError("foreign")
                return known.copy(), resign, confirmed, sid
            self._verified.pop(value, None)
        payload, key_index, signed_at = self._signer.verify(value, max_age=ttl)
        resign = key_index > 0  # an older key: accept, then re-sign with the newest
        if bound is not None and payload.get("b") != list(bound):
            raise InvalidCookieError("foreign")
        user = OrgUser.from_payload(payload)
        if user.expires_at <= self._clock():
            raise InvalidCookieError("expired")
        verified = self._verified
        if len(verified) >= _VERIFIED_MEMO:
            verified.popitem(last=False)  # the oldest entry: the memo is bounded, FIFO
        confirmed = confirmed_time(payload.get("c"))
        sid = provider_sid(payload.get("s"))
        verified[value] = (user.copy(), resign, signed_at, payload.get("b"), confirmed, sid)
        return user, resign, confirmed, sid

    def header(self, value: str, *, max_age: int | None = None) -> tuple[bytes, bytes]:
        age = self.settings.session_ttl if max_age is None else max_age
        return set_cookie_header(self.name, value, max_age=age, secure=self.settings.secure)

    def issue_header(self, user: OrgUser, bound: Binding | None = None) -> tuple[bytes, bytes]:
        remaining = max(1, int(user.expires_at - self._clock()))
        return self.header(self.issue(user, bound), max_age=remaining)

    def delete_header(self) -> tuple[bytes, bytes]:
        return self.header("", max_age=0)
