"""FastAPI dependencies: ``Depends(orginvite.fastapi.require_roles("admin"))`` and ``require_permissions(...)``.

The same checks as the Starlette guards (:mod:`orginvite.sessions.guards`), raised as FastAPI's
``HTTPException``: 401 for a signed-out visitor, 403 naming what is missing for a member without it. The
dependency's value is the signed-in :class:`~orginvite.OrgUser`. Importing this module needs FastAPI installed.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from orginvite.sessions.guards import missing_for, signed_in
from orginvite.sessions.user import OrgUser

__all__ = ["require_permissions", "require_roles"]

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
