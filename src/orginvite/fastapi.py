"""FastAPI dependencies: ``token: str = Depends(orginvite.fastapi.access_token)``,
``Depends(orginvite.fastapi.require_roles("admin"))`` and ``require_permissions(...)``.

No session: 401 JSON (``{"detail": {"error": "not_signed_in"}}``). A session that can no longer give a token
(:class:`~orginvite.errors.SessionExpired`: refused refresh, no refresh token, another organization): the session
is already cleared and its cookie is dropped with the response; the dependency then redirects (303) to the login
route with ``returnTo`` set to the request's path, or answers 401 JSON, as :class:`AccessToken` is configured.
A provider outage is 502 JSON, and the session stays.

The guards are the Starlette guards' checks (:mod:`orginvite.sessions.guards`) raised as ``HTTPException``: 401
for a signed-out visitor, 403 naming what is missing for a member without it; their value is the signed-in
:class:`~orginvite.OrgUser`. Importing this module needs FastAPI installed.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from starlette.requests import HTTPConnection

from orginvite.errors import ProviderError, SessionExpired
from orginvite.sessions.access import get_access_token
from orginvite.sessions.guards import missing_for, signed_in
from orginvite.sessions.store import SESSION_KEY
from orginvite.sessions.user import OrgUser

__all__ = ["AccessToken", "access_token", "require_permissions", "require_roles"]


class AccessToken:
    """A dependency that gives the signed-in member's access token (see :func:`orginvite.get_access_token`).

    ``on_expired``: ``"redirect"`` (the default: a browser signs in again and comes back) or ``"401"`` (an API
    called by scripts or a single-page app that handles it). ``login_path`` is the middleware's login route.
    """

    def __init__(self, *, audience: str | None = None, min_ttl: float = 60, on_expired: str = "redirect",
                 login_path: str = "/login") -> None:
        if on_expired not in ("redirect", "401"):
            raise ValueError("on_expired must be 'redirect' or '401'")
        self.audience = audience
        self.min_ttl = min_ttl
        self.on_expired = on_expired
        self.login_path = login_path

    async def __call__(self, request: Request) -> str:
        if request.scope.get(SESSION_KEY) is None:
            raise HTTPException(401, {"error": "not_signed_in"})
        try:
            return await get_access_token(request, audience=self.audience, min_ttl=self.min_ttl)
        except SessionExpired as exc:
            if self.on_expired == "401":
                raise HTTPException(401, {"error": "session_expired", "reason": exc.reason}) from None
            root = request.scope.get("root_path", "").rstrip("/")
            path = request.url.path[len(root):] if root and request.url.path.startswith(root) else request.url.path
            location = root + self.login_path + "?" + urlencode({"returnTo": path})
            raise HTTPException(303, {"error": "session_expired", "reason": exc.reason},
                                headers={"location": location}) from None
        except ProviderError:
            raise HTTPException(502, {"error": "provider_unavailable"}) from None


#: The ready dependency: the login's audience, 60 s of validity, a redirect to sign in again on SessionExpired.
access_token = AccessToken()


Dependency = Callable[[HTTPConnection], Coroutine[Any, Any, OrgUser]]


def _dependency(roles: tuple[str, ...], permissions: tuple[str, ...]) -> Dependency:
    async def guard(request: HTTPConnection) -> OrgUser:
        if not signed_in(request):
            raise HTTPException(status_code=401, detail="Sign in to continue.")
        missing = missing_for(request, roles, permissions)
        if missing:
            raise HTTPException(status_code=403, detail={"error": "forbidden", "missing": missing})
        user = request.scope["user"]
        assert isinstance(user, OrgUser)
        return user

    return guard


def _names(first: str | Sequence[str], more: tuple[str, ...]) -> tuple[str, ...]:
    return ((first,) if isinstance(first, str) else tuple(first)) + more


def require_roles(roles: str | Sequence[str], *more: str) -> Dependency:
    """A dependency that lets through only a member with every one of ``roles``."""
    return _dependency(_names(roles, more), ())


def require_permissions(permissions: str | Sequence[str], *more: str) -> Dependency:
    """A dependency that lets through only a session whose API access token grants every one of
    ``permissions``."""
    return _dependency((), _names(permissions, more))
