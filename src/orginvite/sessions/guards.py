"""Guards for roles and permissions, in the style of ``starlette.authentication.requires``.

``@requires_roles("admin")`` and ``@requires_permissions("invoices:read")`` wrap a Starlette endpoint (function or
method taking ``request`` or ``websocket``): a member without them gets a 403 page (JSON when the client asks for
JSON), a signed-out visitor a 401 one, or a redirect to ``redirect`` (a path, or a route name for ``url_for``)
with ``returnTo`` set. FastAPI's ``Depends`` flavour is :mod:`orginvite.fastapi`.

Roles are the session's (``OrgUser.roles``: the ID token's roles claim, kept current by revalidation).
Permissions are the ``permissions`` claim of the API access token the session keeps (Auth0 RBAC with "Add
Permissions in the Access Token"): the token was verified when it was received, so its payload is read, once per
token and process (a small memo), never per request; an opaque token has none.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.websockets import WebSocket

from orginvite.sessions.store import SESSION_KEY, Session
from orginvite.sessions.tokens import verified_claims
from orginvite.sessions.user import OrgUser

__all__ = ["GUARD_PAGES_KEY", "GuardPages", "current_permissions", "requires_permissions", "requires_roles"]

#: Where the middleware puts what renders the guards' pages: the login flow's context (its localized pages), kept
#: under this one key for everything that needs it (``logout_form_token`` too), on every request, signed in or not.
GUARD_PAGES_KEY = "orginvite.login"
_MAX_MEMO = 1024
_permissions_memo: OrderedDict[str, tuple[str, ...]] = OrderedDict()
_F = TypeVar("_F", bound=Callable[..., Any])


class GuardPages(Protocol):
    def guard_denied(self, request: Request, status: int, missing: dict[str, list[str]]) -> Response: ...


def _as_tuple(names: str | Sequence[str]) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else tuple(names)


def current_permissions(conn: HTTPConnection) -> tuple[str, ...]:
    """The ``permissions`` claim of the session's API access token (empty when signed out, without tokens, or for
    an opaque token). The token of the login's audience; it may have expired since (the next refresh updates it)."""
    session = conn.scope.get(SESSION_KEY)
    if not isinstance(session, Session) or session.cleared or session.record.tokens is None:
        return ()
    access = session.record.tokens.access_token
    if access is None:
        return ()
    token = hashlib.sha256(access.token.encode()).hexdigest()  # the memo keeps no bearer token
    known = _permissions_memo.get(token)
    if known is None:
        claims = verified_claims(access.token)
        raw = claims.get("permissions") if claims is not None else None
        known = tuple(p for p in raw if isinstance(p, str)) if isinstance(raw, list) else ()
        if len(_permissions_memo) >= _MAX_MEMO:
            _permissions_memo.popitem(last=False)
        _permissions_memo[token] = known
    return known


def missing_for(conn: HTTPConnection, roles: tuple[str, ...], permissions: tuple[str, ...]) -> dict[str, list[str]]:
    """What the signed-in user lacks of ``roles`` and ``permissions`` (empty: allowed)."""
    user = conn.scope.get("user")
    have_roles = user.roles if isinstance(user, OrgUser) else ()
    missing: dict[str, list[str]] = {}
    lacking_roles = [r for r in roles if r not in have_roles]
    if lacking_roles:
        missing["roles"] = lacking_roles
    if permissions:
        have = current_permissions(conn)
        lacking = [p for p in permissions if p not in have]
        if lacking:
            missing["permissions"] = lacking
    return missing


def signed_in(conn: HTTPConnection) -> bool:
    user = conn.scope.get("user")
    return isinstance(user, OrgUser) and not getattr(conn.scope.get(SESSION_KEY), "cleared", False)


def _denied(request: Request, status: int, missing: dict[str, list[str]], redirect: str | None) -> Response:
    if status == 401 and redirect is not None:
        target = redirect if redirect.startswith("/") else str(request.url_for(redirect))
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        sep = "&" if "?" in target else "?"
        return RedirectResponse(target + sep + urlencode({"returnTo": here}), status_code=303)
    pages = request.scope.get(GUARD_PAGES_KEY)
    if pages is not None:
        return pages.guard_denied(request, status, missing)  # type: ignore[no-any-return]
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"error": "unauthorized" if status == 401 else "forbidden", "missing": missing},
                            status_code=status)
    return PlainTextResponse("Unauthorized" if status == 401 else "Forbidden", status_code=status)


def _guard(roles: tuple[str, ...], permissions: tuple[str, ...], status_code: int,
           redirect: str | None) -> Callable[[_F], _F]:
    def decorator(func: _F) -> _F:
        names = list(inspect.signature(func).parameters)
        found = [i for i, name in enumerate(names) if name in ("request", "websocket")]
        if not found:
            raise TypeError(f'No "request" or "websocket" argument on function "{func.__name__}"')
        index = found[0]
        kind = names[index]

        def connection(args: tuple[Any, ...], kwargs: dict[str, Any]) -> HTTPConnection:
            conn = kwargs.get(kind, args[index] if index < len(args) else None)
            assert isinstance(conn, HTTPConnection)
            return conn

        def verdict(conn: HTTPConnection) -> tuple[int, dict[str, list[str]]] | None:
            if not signed_in(conn):
                return 401, {"roles": list(roles), "permissions": list(permissions)}
            missing = missing_for(conn, roles, permissions)
            return (status_code, missing) if missing else None

        if kind == "websocket":
            @functools.wraps(func)
            async def websocket_wrapper(*args: Any, **kwargs: Any) -> None:
                conn = connection(args, kwargs)
                if verdict(conn) is not None:
                    assert isinstance(conn, WebSocket)
                    await conn.close(code=1008)
                    return
                await func(*args, **kwargs)

            return websocket_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Response:
                conn = connection(args, kwargs)
                refused = verdict(conn)
                if refused is not None:
                    assert isinstance(conn, Request)
                    return _denied(conn, refused[0], refused[1], redirect)
                return await func(*args, **kwargs)  # type: ignore[no-any-return]

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Response:
            conn = connection(args, kwargs)
            refused = verdict(conn)
            if refused is not None:
                assert isinstance(conn, Request)
                return _denied(conn, refused[0], refused[1], redirect)
            return func(*args, **kwargs)  # type: ignore[no-any-return]

        return sync_wrapper  # type: ignore[return-value]

    return decorator


def requires_roles(roles: str | Sequence[str], *more: str, status_code: int = 403,
                   redirect: str | None = None) -> Callable[[_F], _F]:
    """Allow the endpoint only to a member with every one of ``roles`` in the session's organization.

    ``redirect`` sends signed-out visitors there (``/login`` or a route name) with ``returnTo``; otherwise they
    get a 401 page. A member without the roles gets ``status_code`` (403) as a page, or JSON when asked for."""
    return _guard((*_as_tuple(roles), *more), (), status_code, redirect)


def requires_permissions(permissions: str | Sequence[str], *more: str, status_code: int = 403,
                         redirect: str | None = None) -> Callable[[_F], _F]:
    """Allow the endpoint only when the session's API access token grants every one of ``permissions``
    (Auth0 RBAC's ``permissions`` claim); otherwise as :func:`requires_roles`."""
    return _guard((), (*_as_tuple(permissions), *more), status_code, redirect)
