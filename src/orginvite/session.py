"""The signed session cookie and the user it carries, in Starlette's authentication shape.

After the callback has verified the ID token and its organization, the few claims an app needs live in one cookie
signed with the newest secret key (salt ``"orginvite.session"``). Every request verifies it once (one HMAC) and
gets ``request.user`` (an :class:`OrgUser`) and ``request.auth`` (scopes ``authenticated``, ``org:<id>``,
``role:<name>``), so ``@requires("authenticated")`` and ``@requires("role:admin")`` work unchanged. A cookie signed
with an older key is accepted and re-signed with the newest, so rotating keys signs nobody out.

Under multi-tenant routing a session is bound to the host and organization it was made for (``bound``, kept in
the signed payload): a cookie made on ``acme.myapp.com`` and replayed on ``globex.myapp.com`` (or under another
organization's path on a shared host) reads as no session at all.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.authentication import AuthCredentials, BaseUser, UnauthenticatedUser
from starlette.requests import HTTPConnection

from orginvite.config import Settings
from orginvite.cookies import CookieSigner
from orginvite.errors import InvalidCookieError, TokenError

__all__ = [
    "ORGANIZATION_SCOPE_KEY",
    "OrgUser",
    "Organization",
    "SessionCookie",
    "current_organization",
    "current_roles",
    "set_cookie_header",
    "user_from_claims",
]

_MAX_TEXT = 320
# A UTF-16 surrogate in a Python string is always a lone one (JSON's "\ud83d" without its pair: an emoji cut in
# half). Such text cannot be encoded as UTF-8, so every page or answer showing it would fail: claims and cookie
# fields are repaired (free text) or refused (values that a replacement character would make wrong).
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_ROLES = 50
_VERIFIED_MEMO = 1024  # session cookie values kept as verified (~1 KiB each): the signed-in users of the moment
_MAX_SESSION_COOKIE = 3800  # leave room for name and attributes under the browsers' ~4096 bytes
#: Where the middleware keeps the request's organization under multi-tenant routing (also for anonymous requests).
ORGANIZATION_SCOPE_KEY = "orginvite.organization"

#: ``(host, organization name or None)``: what a session is bound to under multi-tenant routing.
Binding = tuple[str, str | None]


@dataclass(frozen=True)
class Organization:
    """The organization the session was issued for (``id`` from ``org_id``, ``name`` from ``org_name``)."""

    id: str | None
    name: str | None


def _payload_text(value: Any, *, repair: bool = False) -> str | None:
    """A text field of a verified cookie; ``repair`` (the name) replaces lone surrogates, which a cookie signed
    before claims were repaired may hold; anywhere else they make the cookie malformed."""
    if value is None or (isinstance(value, str) and len(value) <= 2048 and not _LONE_SURROGATE.search(value)):
        return value
    if repair and isinstance(value, str) and len(value) <= 2048:
        return _LONE_SURROGATE.sub("\ufffd", value)
    raise InvalidCookieError("malformed")


class OrgUser(BaseUser):
    """A signed-in member; what ``request.user`` is once the session cookie verified."""

    __slots__ = ("email", "expires_at", "name", "organization", "picture", "roles", "sub")

    def __init__(
        self,
        sub: str,
        *,
        email: str | None = None,
        name: str | None = None,
        picture: str | None = None,
        organization: Organization | None = None,
        roles: tuple[str, ...] = (),
        expires_at: float = 0.0,
    ) -> None:
        self.sub = sub
        self.email = email
        self.name = name
        self.picture = picture
        self.organization = organization
        self.roles = tuple(roles)
        self.expires_at = expires_at

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.name or self.email or self.sub

    @property
    def identity(self) -> str:
        return self.sub

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OrgUser) and self.to_payload() == other.to_payload()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        org = self.organization.id if self.organization else None
        return f"OrgUser(sub={self.sub!r}, organization={org!r}, roles={self.roles!r})"

    def copy(self) -> OrgUser:
        """A new user with the same fields (fields are immutable values; the copy can be changed freely)."""
        twin = object.__new__(OrgUser)
        twin.sub, twin.email, twin.name, twin.picture = self.sub, self.email, self.name, self.picture
        twin.organization, twin.roles, twin.expires_at = self.organization, self.roles, self.expires_at
        return twin

    def to_payload(self) -> dict[str, Any]:
        org = self.organization
        return {
            "v": 1,
            "sub": self.sub,
            "email": self.email,
            "name": self.name,
            "picture": self.picture,
            "org": None if org is None else {"id": org.id, "name": org.name},
            "roles": list(self.roles),
            "exp": self.expires_at,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> OrgUser:
        """Rebuild from a verified cookie payload; a shape we did not write is ``InvalidCookieError("malformed")``."""
        text = _payload_text
        get = payload.get
        sub = get("sub")
        if get("v") != 1 or not isinstance(sub, str) or not sub or _LONE_SURROGATE.search(sub):
            raise InvalidCookieError("malformed")
        org = get("org")
        organization = None
        if org is not None:
            if not isinstance(org, dict):
                raise InvalidCookieError("malformed")
            organization = Organization(text(org.get("id")), text(org.get("name")))
        roles = get("roles")
        if not isinstance(roles, list) or not all(isinstance(r, str) and not _LONE_SURROGATE.search(r) for r in roles):
            raise InvalidCookieError("malformed")
        exp = get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise InvalidCookieError("malformed")
        user = object.__new__(cls)
        user.sub, user.email, user.picture = sub, text(get("email")), text(get("picture"))
        user.name = text(get("name"), repair=True)
        user.organization, user.roles, user.expires_at = organization, tuple(roles), float(exp)
        return user


def _claim_text(claims: Mapping[str, Any], name: str, *, limit: int = _MAX_TEXT, cut: bool = True) -> str | None:
    """A string claim, cut to ``limit`` (names) or dropped when longer (``cut=False``: emails, URLs, IDs, where a
    shortened value would be a different, wrong value). Lone surrogates likewise: replaced in a name, dropped with
    the whole value otherwise."""
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        return None
    if _LONE_SURROGATE.search(value):
        if not cut:
            return None
        value = _LONE_SURROGATE.sub("\ufffd", value)
    if len(value) > limit:
        return value[:limit] if cut else None
    return value


def user_from_claims(claims: Mapping[str, Any], settings: Settings, now: float) -> OrgUser:
    """The session user for verified ID token claims; odd claim shapes are dropped, never trusted. A subject that
    is not valid Unicode is :class:`TokenError`: it is the user's identity, neither droppable nor repairable."""
    sub = claims["sub"]
    if not isinstance(sub, str) or _LONE_SURROGATE.search(sub):
        raise TokenError("the ID token subject (sub) is not valid Unicode text")
    roles: tuple[str, ...] = ()
    if settings.roles_claim is not None:
        raw = claims.get(settings.roles_claim)
        if isinstance(raw, list):
            kept = (r for r in raw if isinstance(r, str) and r and not _LONE_SURROGATE.search(r))
            roles = tuple(r[:100] for r in kept)[:_MAX_ROLES]
    org_id = _claim_text(claims, "org_id", limit=100, cut=False)
    org_name = _claim_text(claims, "org_name", limit=100, cut=False)
    picture = _claim_text(claims, "picture", limit=1024, cut=False)
    if picture is not None and not picture.startswith(("https://", "http://")):
        picture = None  # a "javascript:" picture would otherwise reach an <img src> in the host app
    return OrgUser(
        sub,
        email=_claim_text(claims, "email", cut=False),
        name=_claim_text(claims, "name"),
        picture=picture,
        organization=Organization(org_id, org_name) if (org_id or org_name) else None,
        roles=roles,
        expires_at=float(int(now) + settings.session_ttl),
    )


def set_cookie_header(
    name: str,
    value: str,
    *,
    max_age: int,
    path: str = "/",
    secure: bool = False,
    http_only: bool = True,
    same_site: str = "Lax",
) -> tuple[bytes, bytes]:
    """A raw ``Set-Cookie`` header; ``max_age=0`` deletes. Values here are URL-safe (signed base64) by construction."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}"]
    if max_age == 0:
        parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    parts.append(f"SameSite={same_site}")
    return b"set-cookie", "; ".join(parts).encode("latin-1")


class SessionCookie:
    """Issue and verify the session cookie for one :class:`Settings`."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.name = ("__Host-" if settings.secure else "") + settings.session_cookie
        self._clock = clock
        self._signer = CookieSigner(settings.secret_keys, "orginvite.session", clock=clock)
        self._verified: OrderedDict[str, tuple[OrgUser, bool, int, Any]] = OrderedDict()

    def _sign(self, user: OrgUser, bound: Binding | None) -> str:
        payload = user.to_payload()
        if bound is not None:
            payload["b"] = list(bound)
        return self._signer.sign(payload)

    def issue(self, user: OrgUser, bound: Binding | None = None) -> str:
        value = self._sign(user, bound)
        if len(value) > _MAX_SESSION_COOKIE and user.picture:
            user = OrgUser(
                user.sub, email=user.email, name=user.name, organization=user.organization, roles=user.roles,
                expires_at=user.expires_at,
            )
            value = self._sign(user, bound)
        if len(value) > _MAX_SESSION_COOKIE:
            user = OrgUser(
                user.sub, email=user.email, name=user.name, organization=user.organization,
                roles=user.roles[:10], expires_at=user.expires_at,
            )
            value = self._sign(user, bound)
        return value

    def read(self, value: str, bound: Binding | None = None) -> tuple[OrgUser, bool]:
        """``(user, needs_resign)``; raises :class:`InvalidCookieError` for anything we would not accept.

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
            known, resign, signed_at, binding = memo
            now = self._clock()
            age = int(now) - signed_at
            if 0 <= age <= ttl and known.expires_at > now:
                if bound is not None and binding != list(bound):
                    raise InvalidCookieError("foreign")
                return known.copy(), resign
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
        verified[value] = (user.copy(), resign, signed_at, payload.get("b"))
        return user, resign

    def header(self, value: str, *, max_age: int | None = None) -> tuple[bytes, bytes]:
        age = self.settings.session_ttl if max_age is None else max_age
        return set_cookie_header(self.name, value, max_age=age, secure=self.settings.secure)

    def issue_header(self, user: OrgUser, bound: Binding | None = None) -> tuple[bytes, bytes]:
        remaining = max(1, int(user.expires_at - self._clock()))
        return self.header(self.issue(user, bound), max_age=remaining)

    def delete_header(self) -> tuple[bytes, bytes]:
        return self.header("", max_age=0)


def credentials_for(user: OrgUser) -> AuthCredentials:
    """Scopes for ``@requires``: ``authenticated``, ``org:<id>``, ``role:<name>`` for each role."""
    scopes = ["authenticated"]
    if user.organization is not None and user.organization.id:
        scopes.append(f"org:{user.organization.id}")
    scopes.extend(f"role:{role}" for role in user.roles)
    return AuthCredentials(scopes)


ANONYMOUS = UnauthenticatedUser()


def current_organization(conn: HTTPConnection) -> Organization | None:
    """The organization of the signed-in user; else, under multi-tenant routing, the organization of the request's
    host or path (also for anonymous requests, e.g. to brand a login page; its ``id`` is None until looked up);
    else None."""
    user = conn.scope.get("user")
    if isinstance(user, OrgUser) and user.organization is not None:
        return user.organization
    return conn.scope.get(ORGANIZATION_SCOPE_KEY)


def current_roles(conn: HTTPConnection) -> tuple[str, ...]:
    """The signed-in member's roles in :func:`current_organization` (empty when signed out)."""
    user = conn.scope.get("user")
    return user.roles if isinstance(user, OrgUser) else ()
