"""An async client for the parts of Auth0's Management API that inviting teammates needs.

Organizations, members, member roles, invitations, roles and users; nothing else. One ``httpx2.AsyncClient`` is
reused for every call. The access token comes from the client-credentials grant at ``{issuer}oauth/token`` for the
audience ``{issuer}api/v2/`` (Auth0's convention), is cached until shortly before it expires and is fetched again
once when the API answers 401 (a rotated signing key, a revoked grant). Reads are retried on 502/503/504 (writes
are not: the API may have acted on them). Rate limits are honoured twice over: when a
response says ``X-RateLimit-Remaining: 0`` the next request waits for ``X-RateLimit-Reset``, and a 429 is retried
after ``Retry-After`` / ``X-RateLimit-Reset`` a bounded number of times, never waiting longer than
``max_retry_wait`` (then :class:`RateLimitError`).

Results are the API's own JSON: plain dicts in Auth0's shapes, so new fields pass through untouched and code
written against Auth0's documentation reads naturally. Lists come as a :class:`Page` (items plus paging numbers),
and ``iter_*`` methods walk every page. Invitation records contain the ticket (``ticket_id``,
``invitation_url``): treat them as secrets, the client itself never logs a body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx2

from orginvite.errors import ConfigurationError
from orginvite.events import EventEmitter, EventSink
from orginvite.management.errors import (
    InvalidResponseError,
    ManagementConnectionError,
    NotFoundError,
    error_from_response,
)
from orginvite.management.protocol import (
    Record,
    ids,
    loads_json,
    normalize_issuer,
    paging,
    parse_reset,
    parse_retry_after,
    records,
    segment,
)

__all__ = ["ManagementClient", "Page", "normalize_issuer"]

logger = logging.getLogger("orginvite.management")

Sleep = Callable[[float], Awaitable[None]]

_RETRYABLE_5XX = frozenset({502, 503, 504})


@dataclass(frozen=True)
class Page:
    """One page of a list endpoint. ``total`` is None when the API did not say (invitations never do)."""

    items: list[Record]
    start: int
    limit: int
    total: int | None = None

    @property
    def has_more(self) -> bool:
        if self.total is not None:
            return self.start + len(self.items) < self.total
        return len(self.items) >= self.limit > 0


@dataclass
class _Token:
    value: str
    refresh_at: float  # clock() after which the token is fetched again
    scope: str = ""


@dataclass
class _RateState:
    not_before: float = 0.0  # wall-clock time before which no request is sent (X-RateLimit-Reset when exhausted)
    next_slot: float = 0.0  # client-side pacing (requests_per_second)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ManagementClient:
    """Async Management API client. Use as ``async with ManagementClient(...) as client:`` or call ``aclose()``.

    ``http`` lets the host app share its own ``httpx2.AsyncClient`` (then it is not closed here). ``clock`` and
    ``sleep`` exist so tests can drive token expiry and rate-limit waits without waiting.
    ``on_invitation_event`` receives the lifecycle events (:mod:`orginvite.events`) of the invite functions run
    with this client, in the background (``self.events``); ``aclose()`` delivers what is still queued first.
    """

    def __init__(
        self,
        domain_or_base_url: str,
        client_id: str,
        client_secret: str,
        *,
        audience: str | None = None,
        http: httpx2.AsyncClient | None = None,
        max_retries: int = 3,
        max_retry_wait: float = 60.0,
        timeout: float = 15.0,
        requests_per_second: float | None = None,
        token_leeway: float = 60.0,
        allow_http: bool = False,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        on_invitation_event: EventSink | None = None,
    ) -> None:
        if not client_id:
            raise ConfigurationError("client_id", "the machine-to-machine application's client ID is required")
        if not client_secret:
            raise ConfigurationError("client_secret", "the machine-to-machine application's client secret is required")
        if max_retries < 0:
            raise ConfigurationError("max_retries", "must be >= 0")
        if requests_per_second is not None and requests_per_second < 0:
            raise ConfigurationError("requests_per_second", "must be >= 0 (0 or None: no client-side pacing)")
        self.issuer = normalize_issuer(domain_or_base_url, allow_http=allow_http)
        self.audience = audience or f"{self.issuer}api/v2/"
        self.api_base = f"{self.issuer}api/v2/"
        self.token_url = f"{self.issuer}oauth/token"
        self.client_id = client_id
        self._client_secret = client_secret
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.timeout = timeout
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._token_leeway = token_leeway
        self._clock = clock
        self._sleep = sleep
        self._owns_http = http is None
        self._http = http if http is not None else httpx2.AsyncClient(timeout=timeout, follow_redirects=False)
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._rate = _RateState()
        self.token_requests = 0  # how many tokens were fetched: lets apps and tests see the cache working
        try:
            self.events = EventEmitter(on_invitation_event)
        except TypeError as exc:
            raise ConfigurationError("on_invitation_event", str(exc)) from None

    def __repr__(self) -> str:  # never the secret nor the token
        return f"ManagementClient(issuer={self.issuer!r}, client_id={self.client_id!r})"

    async def __aenter__(self) -> ManagementClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.events.aclose()
        if self._owns_http:
            await self._http.aclose()

    # -- transport -----------------------------------------------------------------------------------------------

    async def _pace(self) -> None:
        """Wait for an exhausted rate-limit window to reset, and space requests when pacing is configured."""
        async with self._rate.lock:
            now = self._clock()
            wait = max(self._rate.not_before - now, 0.0)
            if self._interval:
                wait = max(wait, self._rate.next_slot - now)
            wait = min(wait, self.max_retry_wait)
            if wait > 0:
                logger.debug("waiting %.2fs to stay inside the Management API rate limit", wait)
                await self._sleep(wait)
            if self._interval:
                self._rate.next_slot = max(self._clock(), self._rate.next_slot) + self._interval

    def _note_rate_headers(self, response: httpx2.Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.strip() == "0":
            wait = parse_reset(response.headers.get("x-ratelimit-reset"), self._clock())
            if wait:
                self._rate.not_before = max(self._rate.not_before, self._clock() + wait)

    def _retry_delay(self, response: httpx2.Response, attempt: int) -> float:
        now = self._clock()
        delay = parse_retry_after(response.headers.get("retry-after"), now)
        if delay is None:
            delay = parse_reset(response.headers.get("x-ratelimit-reset"), now)
        if delay is None:
            delay = float(2**attempt)  # no hint: 1, 2, 4... seconds
        return max(delay, 0.05)

    async def _send(
        self,
        method: str,
        url: str,
        display_path: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        idempotent: bool = False,
    ) -> httpx2.Response:
        """One logical request: paced, retried within bounds on 429 and, when ``idempotent``, on 502/503/504.

        A POST that failed with a 5xx is not repeated: Auth0 may have acted on it (a second invitation).
        """
        attempt = 0
        while True:
            await self._pace()
            try:
                response = await self._http.request(
                    method,
                    url,
                    headers=headers,
                    params=params,
                    json=json_body,
                    data=form,
                    timeout=self.timeout,
                )
            except httpx2.TimeoutException as exc:
                raise ManagementConnectionError(
                    f"no answer within {self.timeout:g}s ({type(exc).__name__})", method=method, path=display_path
                ) from exc
            except httpx2.HTTPError as exc:
                raise ManagementConnectionError(
                    f"cannot reach {self.issuer} ({type(exc).__name__}: {exc})", method=method, path=display_path
                ) from exc
            logger.debug("%s %s -> %d", method, display_path, response.status_code)
            self._note_rate_headers(response)
            if idempotent and response.status_code in _RETRYABLE_5XX and attempt < self.max_retries:
                delay = parse_retry_after(response.headers.get("retry-after"), self._clock())
                delay = min(delay if delay is not None else 0.5 * 2**attempt, self.max_retry_wait)
                attempt += 1
                logger.info("%s %s answered %d; retry %d in %.2fs", method, display_path, response.status_code,
                            attempt, delay)
                await self._sleep(delay)
                continue
            if response.status_code != 429:
                return response
            delay = self._retry_delay(response, attempt)
            if attempt >= self.max_retries or delay > self.max_retry_wait:
                raise error_from_response(
                    429, response.content, method=method, path=display_path, retry_after=delay
                )
            attempt += 1
            logger.info("rate limited on %s %s; retry %d in %.2fs", method, display_path, attempt, delay)
            await self._sleep(delay)

    # -- token ---------------------------------------------------------------------------------------------------

    async def _access_token(self) -> str:
        async with self._token_lock:
            token = self._token
            if token is not None and self._clock() < token.refresh_at:
                return token.value
            self._token = await self._fetch_token()
            return self._token.value

    def _forget_token(self, value: str) -> None:
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _fetch_token(self) -> _Token:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "audience": self.audience,
        }
        # Asking for a token twice is harmless, so the token request counts as idempotent.
        response = await self._send("POST", self.token_url, "/oauth/token", form=form, idempotent=True)
        self.token_requests += 1
        if not response.is_success:
            raise error_from_response(response.status_code, response.content, method="POST", path="/oauth/token")
        try:
            payload = loads_json(response.content)
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            raise InvalidResponseError(
                "the token endpoint did not answer with a JSON object",
                status_code=response.status_code,
                method="POST",
                path="/oauth/token",
            )
        value = payload.get("access_token")
        expires_in = payload.get("expires_in", 86400)
        token_type = payload.get("token_type", "Bearer")
        if not isinstance(value, str) or not value or any(c.isspace() for c in value):
            raise InvalidResponseError("the token endpoint returned no usable access_token", method="POST",
                                       path="/oauth/token", status_code=response.status_code)
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
            raise InvalidResponseError("the token endpoint returned an invalid expires_in", method="POST",
                                       path="/oauth/token", status_code=response.status_code)
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise InvalidResponseError(f"unsupported token_type {token_type!r}", method="POST",
                                       path="/oauth/token", status_code=response.status_code)
        leeway = min(self._token_leeway, expires_in * 0.1)
        scope = payload.get("scope") if isinstance(payload.get("scope"), str) else ""
        return _Token(value=value, refresh_at=self._clock() + expires_in - leeway, scope=scope)

    # -- API calls -----------------------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Call ``/api/v2/{path}`` and return the decoded JSON (None for an empty answer).

        Public so apps can reach endpoints this client has no method for, with the same token, retries and errors.
        """
        path = path.lstrip("/")
        display = "/api/v2/" + path
        url = self.api_base + path
        refreshed = False
        while True:
            token = await self._access_token()
            response = await self._send(
                method,
                url,
                display,
                headers={"Authorization": f"Bearer {token}"},
                params=params,
                json_body=json,
                idempotent=method.upper() in {"GET", "HEAD"},
            )
            if response.status_code == 401 and not refreshed:
                refreshed = True
                self._forget_token(token)
                continue
            if not response.is_success:
                raise error_from_response(response.status_code, response.content, method=method, path=display)
            if response.status_code == 204 or not response.content.strip():
                return None
            try:
                return loads_json(response.content)
            except ValueError as exc:
                # No excerpt of a success body: it may be a truncated invitation, ticket included.
                kind = response.headers.get("content-type", "no content-type").split(";")[0]
                raise InvalidResponseError(
                    f"the answer is not JSON ({kind}, {len(response.content)} bytes)",
                    status_code=response.status_code,
                    method=method,
                    path=display,
                ) from exc

    async def _object(self, method: str, path: str, **kwargs: Any) -> Record:
        result = await self.request(method, path, **kwargs)
        if not isinstance(result, dict):
            raise InvalidResponseError(
                f"expected a JSON object, got {type(result).__name__}", method=method, path="/api/v2/" + path
            )
        return result

    async def _page(self, path: str, key: str, page: int, per_page: int, **params: Any) -> Page:
        query = {**paging(page, per_page), **{k: v for k, v in params.items() if v is not None}}
        result = await self.request("GET", path, params=query)
        if isinstance(result, list):  # an API that ignored include_totals
            return Page(items=records(result, path), start=page * per_page, limit=per_page)
        if not isinstance(result, dict) or not isinstance(result.get(key), list):
            raise InvalidResponseError(f"expected a list under {key!r}", method="GET", path="/api/v2/" + path)
        total = result.get("total")
        start = result.get("start", page * per_page)
        limit = result.get("limit", per_page)
        return Page(
            items=records(result[key], path),
            start=start if isinstance(start, int) else page * per_page,
            limit=limit if isinstance(limit, int) and limit > 0 else per_page,
            total=total if isinstance(total, int) and not isinstance(total, bool) else None,
        )

    async def _iterate(self, fetch: Callable[[int], Awaitable[Page]]) -> AsyncIterator[Record]:
        page_number = 0
        while True:
            page = await fetch(page_number)
            for item in page.items:
                yield item
            if not page.items or not page.has_more:
                return
            page_number += 1

    # organizations

    async def get_organization(self, org_id: str) -> Record:
        return await self._object("GET", f"organizations/{segment(org_id, 'org_id')}")

    async def get_organization_by_name(self, name: str) -> Record:
        return await self._object("GET", f"organizations/name/{segment(name, 'name')}")

    async def resolve_organization(self, id_or_name: str) -> Record:
        """An organization given its ID (``org_...``) or its name, as an admin would type either."""
        if id_or_name.startswith("org_"):
            try:
                return await self.get_organization(id_or_name)
            except NotFoundError:
                pass  # "org_team" is also a valid organization name
        return await self.get_organization_by_name(id_or_name.lower())

    async def list_organizations(self, page: int = 0, per_page: int = 50) -> Page:
        return await self._page("organizations", "organizations", page, per_page)

    def iter_organizations(self, per_page: int = 50) -> AsyncIterator[Record]:
        return self._iterate(lambda n: self.list_organizations(n, per_page))

    async def create_organization(
        self,
        name: str,
        *,
        display_name: str | None = None,
        branding: Mapping[str, Any] | None = None,
        metadata: Mapping[str, str] | None = None,
        enabled_connections: Sequence[Mapping[str, Any]] | None = None,
    ) -> Record:
        body: Record = {"name": name}
        for key, value in (
            ("display_name", display_name),
            ("branding", branding),
            ("metadata", metadata),
            ("enabled_connections", enabled_connections),
        ):
            if value is not None:
                body[key] = value if not isinstance(value, Mapping) else dict(value)
        return await self._object("POST", "organizations", json=body)

    async def delete_organization(self, org_id: str) -> None:
        await self.request("DELETE", f"organizations/{segment(org_id, 'org_id')}")

    # members

    async def list_members(self, org_id: str, page: int = 0, per_page: int = 50) -> Page:
        return await self._page(f"organizations/{segment(org_id, 'org_id')}/members", "members", page, per_page)

    async def iter_members(self, org_id: str, take: int = 50) -> AsyncIterator[Record]:
        """Every member, by checkpoint paging (``from``/``take``): page numbers stop at 1000 results on Auth0."""
        if not 1 <= take <= 100:
            raise ValueError("take must be from 1 to 100")
        path = f"organizations/{segment(org_id, 'org_id')}/members"
        checkpoint: str | None = None
        while True:
            params: dict[str, Any] = {"take": take}
            if checkpoint:
                params["from"] = checkpoint
            result = await self.request("GET", path, params=params)
            if isinstance(result, list):  # no checkpoint support: a single page
                for item in records(result, path):
                    yield item
                return
            if not isinstance(result, dict) or not isinstance(result.get("members"), list):
                raise InvalidResponseError("expected a list under 'members'", method="GET", path="/api/v2/" + path)
            for item in records(result["members"], path):
                yield item
            following = result.get("next")
            if not isinstance(following, str) or not following or following == checkpoint:
                return
            checkpoint = following

    async def add_members(self, org_id: str, user_ids: Iterable[str]) -> None:
        members = ids(user_ids, "user_id")
        await self.request("POST", f"organizations/{segment(org_id, 'org_id')}/members", json={"members": members})

    async def remove_members(self, org_id: str, user_ids: Iterable[str]) -> None:
        members = ids(user_ids, "user_id")
        await self.request("DELETE", f"organizations/{segment(org_id, 'org_id')}/members", json={"members": members})

    # member roles

    def _member_roles_path(self, org_id: str, user_id: str) -> str:
        return f"organizations/{segment(org_id, 'org_id')}/members/{segment(user_id, 'user_id')}/roles"

    async def list_member_roles(self, org_id: str, user_id: str, page: int = 0, per_page: int = 50) -> Page:
        return await self._page(self._member_roles_path(org_id, user_id), "roles", page, per_page)

    async def add_member_roles(self, org_id: str, user_id: str, role_ids: Iterable[str]) -> None:
        roles = ids(role_ids, "role_id")
        await self.request("POST", self._member_roles_path(org_id, user_id), json={"roles": roles})

    async def remove_member_roles(self, org_id: str, user_id: str, role_ids: Iterable[str]) -> None:
        roles = ids(role_ids, "role_id")
        await self.request("DELETE", self._member_roles_path(org_id, user_id), json={"roles": roles})

    # invitations

    async def create_invitation(
        self,
        org_id: str,
        *,
        inviter_name: str,
        invitee_email: str,
        client_id: str,
        connection_id: str | None = None,
        ttl_sec: int = 0,
        roles: Sequence[str] = (),
        send_invitation_email: bool = False,
        app_metadata: Mapping[str, Any] | None = None,
        user_metadata: Mapping[str, Any] | None = None,
    ) -> Record:
        """Create an invitation. ``send_invitation_email`` defaults to False: orginvite sends its own email."""
        if not 0 <= ttl_sec <= 2592000:
            raise ValueError("ttl_sec must be from 0 (the 7-day default) to 2592000 (30 days)")
        body: Record = {
            "inviter": {"name": inviter_name},
            "invitee": {"email": invitee_email},
            "client_id": client_id,
            "send_invitation_email": bool(send_invitation_email),
        }
        if ttl_sec:
            body["ttl_sec"] = ttl_sec
        if connection_id:
            body["connection_id"] = connection_id
        if roles:
            body["roles"] = list(roles)
        if app_metadata:
            body["app_metadata"] = dict(app_metadata)
        if user_metadata:
            body["user_metadata"] = dict(user_metadata)
        return await self._object("POST", f"organizations/{segment(org_id, 'org_id')}/invitations", json=body)

    async def list_invitations(self, org_id: str, page: int = 0, per_page: int = 50) -> Page:
        path = f"organizations/{segment(org_id, 'org_id')}/invitations"
        return await self._page(path, "invitations", page, per_page)

    def iter_invitations(self, org_id: str, per_page: int = 50) -> AsyncIterator[Record]:
        return self._iterate(lambda n: self.list_invitations(org_id, n, per_page))

    async def get_invitation(self, org_id: str, invitation_id: str) -> Record:
        path = f"organizations/{segment(org_id, 'org_id')}/invitations/{segment(invitation_id, 'invitation_id')}"
        return await self._object("GET", path)

    async def delete_invitation(self, org_id: str, invitation_id: str) -> None:
        path = f"organizations/{segment(org_id, 'org_id')}/invitations/{segment(invitation_id, 'invitation_id')}"
        await self.request("DELETE", path)

    # roles

    async def list_roles(self, page: int = 0, per_page: int = 50, *, name_filter: str | None = None) -> Page:
        return await self._page("roles", "roles", page, per_page, name_filter=name_filter)

    def iter_roles(self, per_page: int = 100) -> AsyncIterator[Record]:
        return self._iterate(lambda n: self.list_roles(n, per_page))

    # users

    async def users_by_email(self, email: str) -> list[Record]:
        """The users with this email (``read:users``); Auth0 matches it case-insensitively."""
        found = await self.request("GET", "users-by-email", params={"email": email})
        if not isinstance(found, list):
            raise InvalidResponseError("expected a list of users", method="GET", path="/api/v2/users-by-email")
        return records(found, "users-by-email")

    async def get_user(self, user_id: str) -> Record:
        return await self._object("GET", f"users/{segment(user_id, 'user_id')}")

    async def create_user(
        self,
        email: str,
        *,
        connection: str = "Username-Password-Authentication",
        password: str | None = None,
        name: str | None = None,
        email_verified: bool | None = None,
        user_metadata: Mapping[str, Any] | None = None,
        app_metadata: Mapping[str, Any] | None = None,
    ) -> Record:
        body: Record = {"email": email, "connection": connection}
        if password is not None:
            body["password"] = password
        if name is not None:
            body["name"] = name
        if email_verified is not None:
            body["email_verified"] = email_verified
        if user_metadata is not None:
            body["user_metadata"] = dict(user_metadata)
        if app_metadata is not None:
            body["app_metadata"] = dict(app_metadata)
        return await self._object("POST", "users", json=body)

    async def list_user_organizations(self, user_id: str, page: int = 0, per_page: int = 50) -> Page:
        return await self._page(f"users/{segment(user_id, 'user_id')}/organizations", "organizations", page, per_page)

    def iter_user_organizations(self, user_id: str, per_page: int = 50) -> AsyncIterator[Record]:
        return self._iterate(lambda n: self.list_user_organizations(user_id, n, per_page))
