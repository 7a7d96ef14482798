"""The signed-in member, in Starlette's authentication shape.

``request.user`` is an :class:`OrgUser` and ``request.auth`` carries the scopes ``authenticated``, ``org:<id>``,
``role:<name>``, so ``@requires("authenticated")`` and ``@requires("role:admin")`` work unchanged. The user is
built from verified ID token claims only (:func:`user_from_claims`); the cookie that carries it lives in
:mod:`orginvite.sessions.cookie`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.authentication import AuthCredentials, BaseUser, UnauthenticatedUser
from starlette.requests import HTTPConnection

from orginvite.config import Settings
from orginvite.errors import InvalidCookieError, TokenError
from orginvite.sessions.signing import encoded_size

__all__ = [
    "ANONYMOUS",
    "ORGANIZATION_SCOPE_KEY",
    "Binding",
    "OrgUser",
    "Organization",
    "clean_roles",
    "credentials_for",
    "current_organization",
    "current_roles",
    "user_from_claims",
]

_MAX_TEXT = 320
# A UTF-16 surrogate in a Python string is always a lone one (JSON's "\ud83d" without its pair: an emoji cut in
# half). Such text cannot be encoded as UTF-8, so every page or answer showing it would fail: claims and cookie
# fields are repaired (free text) or refused (values that a replacement character would make wrong).
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: Cookie bytes (JSON, then base64: :func:`~orginvite.sessions.signing.encoded_size`) a claim may take: 320 ASCII
#: characters fit, 63 emoji do (12 JSON bytes each), so no text claim can push the session past what browsers keep.
_MAX_TEXT_BYTES = 1024
_MAX_PICTURE_BYTES = 1400  # a 1024-character ASCII URL
_MAX_ROLES = 50
_MAX_ROLE_BYTES = 256  # a 100-character ASCII role, or some 40 characters of another script
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


def _claim_text(
    claims: Mapping[str, Any], name: str, *, limit: int = _MAX_TEXT, max_bytes: int = _MAX_TEXT_BYTES,
    cut: bool = True,
) -> str | None:
    """A string claim of at most ``limit`` characters and ``max_bytes`` cookie bytes (:func:`encoded_size`): cut to
    fit (names) or dropped when longer (``cut=False``: emails, URLs, IDs, where a shortened value would be a
    different, wrong value). Lone surrogates likewise: replaced in a name, dropped with the whole value otherwise."""
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        return None
    if _LONE_SURROGATE.search(value):
        if not cut:
            return None
        value = _LONE_SURROGATE.sub("\ufffd", value)
    if len(value) <= limit and encoded_size(value) <= max_bytes:
        return value
    if not cut:
        return None
    value = value[:limit]
    low, high = 0, len(value)  # the longest prefix that fits: binary search, the size grows with the prefix
    while low < high:
        middle = (low + high + 1) // 2
        if encoded_size(value[:middle]) <= max_bytes:
            low = middle
        else:
            high = middle - 1
    return value[:low] or None


def clean_roles(raw: Any) -> tuple[str, ...]:
    """The roles a session keeps from a claim or a Management API answer; odd entries dropped, never trusted."""
    if not isinstance(raw, list | tuple):
        return ()
    # a role too long to keep is dropped, not cut: a shortened role would be another role
    return tuple(r for r in raw if isinstance(r, str) and r and len(r) <= 100
                 and not _LONE_SURROGATE.search(r) and encoded_size(r) <= _MAX_ROLE_BYTES)[:_MAX_ROLES]


def user_from_claims(claims: Mapping[str, Any], settings: Settings, now: float) -> OrgUser:
    """The session user for verified ID token claims; odd claim shapes are dropped, never trusted. A subject that
    is not valid Unicode is :class:`TokenError`: it is the user's identity, neither droppable nor repairable."""
    sub = claims["sub"]
    if not isinstance(sub, str) or _LONE_SURROGATE.search(sub):
        raise TokenError("the ID token subject (sub) is not valid Unicode text")
    roles: tuple[str, ...] = ()
    if settings.roles_claim is not None:
        roles = clean_roles(claims.get(settings.roles_claim))
    org_id = _claim_text(claims, "org_id", limit=100, cut=False)
    org_name = _claim_text(claims, "org_name", limit=100, cut=False)
    picture = _claim_text(claims, "picture", limit=1024, max_bytes=_MAX_PICTURE_BYTES, cut=False)
    if picture is not None and not picture.startswith(("https://", "http://")):
        picture = None  # a "javascript:" picture would otherwise reach an <img src> in the host app
    return OrgUser(
        sub,
        email=_claim_text(claims, "email", cut=False),
        name=_claim_text(claims, "name"),
        picture=picture,
        organization=Organization(org_id, org_name) if (org_id or org_name) else None,
        roles=roles,
        # to the millisecond: a back-channel revocation ends the sessions created before it, not a later sign-in
        expires_at=round(now + settings.session_ttl, 3),
    )


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
