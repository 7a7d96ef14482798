"""The dev tenant's Management API v2: Auth0's paths, shapes, scopes, limits and error bodies.

Mounted by DevTenant at ``/api/v2``. Every request goes through one pipeline (:meth:`ManagementApi.dispatch`):
bearer token -> rate limit (headers on every answer) -> route -> scope -> path, query and body validation ->
handler. Every failure is a :class:`ManagementApiError`, rendered as Auth0's ``{"statusCode", "error",
"message", "errorCode"}`` (no ``errorCode`` on 401s, as on Auth0); unknown paths and methods are JSON 404s, so a
client never sees an HTML or text page, and Auth0 routes the tenant lacks are 501s that name the route.
The store does the persistence; this module owns request parsing and Auth0's rules (limits, invitation URLs,
revoking older invitations, hiding expired ones).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from orginvite.devtenant.authorization import end_user_sessions
from orginvite.devtenant.keys import KeyRing
from orginvite.devtenant.management_auth import Principal, authenticate, require_scope
from orginvite.devtenant.management_bodies import (
    CREATE_INVITATION,
    CREATE_ORGANIZATION,
    CREATE_ROLE,
    CREATE_USER,
    DEFAULT_TTL_SEC,
    ENABLE_CONNECTION,
    FIELDS_QUERY,
    INVITATION_FIELDS,
    MAX_ROLES_PER_MEMBER,
    MEMBER_FIELDS,
    MEMBER_ROLES,
    MEMBERS,
    PATH_NAMES,
    PATH_SCHEMAS,
    UPDATE_ENABLED_CONNECTION,
    UPDATE_ENABLED_CONNECTION_UNSUPPORTED,
    UPDATE_ORGANIZATION,
    UPDATE_ORGANIZATION_UNSUPPORTED,
    UPDATE_USER,
    UPDATE_USER_UNSUPPORTED,
    USER_FIELDS,
    USER_ID,
)
from orginvite.devtenant.management_errors import (
    ManagementApiError,
    bad_body,
    bad_query,
    conflict,
    not_found,
    too_many_requests,
)
from orginvite.devtenant.management_schema import (
    Object,
    QueryParam,
    check_body,
    check_path,
    check_query,
    parse_query_string,
)
from orginvite.devtenant.paging import (
    CHECKPOINT_QUERY,
    OFFSET_QUERY,
    Checkpoint,
    checkpoint_from_query,
    decode_offset_checkpoint,
    encode_offset_checkpoint,
    offset_from_query,
)
from orginvite.devtenant.ratelimit import RateDecision, RateLimiter
from orginvite.devtenant.request_body import MAX_JSON_DEPTH, BodyTooLarge, InvalidJson, parse_json, read_capped
from orginvite.devtenant.store import (
    ConflictError,
    InvalidCheckpointError,
    NotFoundError,
    Record,
    Store,
    generate_id,
    generate_ticket,
    iso8601,
)
from orginvite.devtenant.url_placeholders import resolve_login_uri

__all__ = ["ManagementApi", "Tenant", "routes"]

log = logging.getLogger("orginvite.devtenant.management")

MAX_BODY_BYTES = 1_048_576
# Every route takes every method so that a wrong method is our JSON 404, not Starlette's text 405.
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
PASSWORDLESS_STRATEGIES = frozenset({"email", "sms"})

# -- Auth0's Management API routes, to tell "not implemented here" (501) from "no such route" (404) -------------
# From Auth0's Management API v2 reference (auth0.com/docs/api/management/v2); one line per path, its methods.
AUTH0_ROUTES = """
GET POST /actions/actions
GET PATCH DELETE /actions/actions/{id}
POST /actions/actions/{id}/deploy
POST /actions/actions/{id}/test
GET /actions/actions/{actionId}/versions
GET /actions/actions/{actionId}/versions/{id}
POST /actions/actions/{actionId}/versions/{id}/deploy
GET /actions/executions/{id}
GET /actions/triggers
GET PATCH /actions/triggers/{triggerId}/bindings
GET DELETE /anomaly/blocks/ips/{id}
GET PATCH /attack-protection/breached-password-detection
GET PATCH /attack-protection/brute-force-protection
GET PATCH /attack-protection/suspicious-ip-throttling
GET POST /blacklists/tokens
GET PATCH /branding
GET PUT DELETE /branding/templates/universal-login
GET POST /branding/themes
GET /branding/themes/default
GET PATCH DELETE /branding/themes/{themeId}
GET POST /client-grants
PATCH DELETE /client-grants/{id}
GET POST /clients
GET PATCH DELETE /clients/{id}
POST /clients/{id}/rotate-secret
GET POST /clients/{client_id}/credentials
GET PATCH DELETE /clients/{client_id}/credentials/{credential_id}
GET POST /connections
GET PATCH DELETE /connections/{id}
GET /connections/{id}/status
DELETE /connections/{id}/users
GET POST /custom-domains
GET PATCH DELETE /custom-domains/{id}
POST /custom-domains/{id}/verify
GET POST /device-credentials
DELETE /device-credentials/{id}
POST /email-templates
GET PATCH PUT /email-templates/{templateName}
GET POST PATCH DELETE /emails/provider
GET DELETE /grants
DELETE /grants/{id}
GET /guardian/factors
PUT /guardian/factors/{name}
POST /guardian/enrollments/ticket
GET DELETE /guardian/enrollments/{id}
GET POST /hooks
GET PATCH DELETE /hooks/{id}
GET POST PATCH DELETE /hooks/{id}/secrets
GET /jobs/{id}
GET /jobs/{id}/errors
POST /jobs/users-exports
POST /jobs/users-imports
POST /jobs/verification-email
GET /keys/signing
POST /keys/signing/rotate
GET /keys/signing/{kid}
PUT /keys/signing/{kid}/revoke
GET POST /log-streams
GET PATCH DELETE /log-streams/{id}
GET /logs
GET /logs/{id}
GET POST /organizations
GET PATCH DELETE /organizations/{id}
GET /organizations/name/{name}
GET POST /organizations/{id}/enabled_connections
GET PATCH DELETE /organizations/{id}/enabled_connections/{connectionId}
GET POST /organizations/{id}/invitations
GET DELETE /organizations/{id}/invitations/{invitation_id}
GET POST DELETE /organizations/{id}/members
GET POST DELETE /organizations/{id}/members/{user_id}/roles
GET POST /organizations/{id}/client-grants
DELETE /organizations/{id}/client-grants/{grant_id}
GET PATCH /prompts
GET PUT /prompts/{prompt}/custom-text/{language}
GET PUT DELETE /prompts/{prompt}/partials
GET DELETE /refresh-tokens/{id}
GET POST /resource-servers
GET PATCH DELETE /resource-servers/{id}
GET POST /roles
GET PATCH DELETE /roles/{id}
GET POST DELETE /roles/{id}/permissions
GET POST /roles/{id}/users
GET POST /rules
GET PATCH DELETE /rules/{id}
GET /rules-configs
PUT DELETE /rules-configs/{key}
GET DELETE /sessions/{id}
GET /stats/active-users
GET /stats/daily
GET PATCH /tenants/settings
POST /tickets/email-verification
POST /tickets/password-change
GET DELETE /user-blocks
GET DELETE /user-blocks/{id}
GET POST /users
GET PATCH DELETE /users/{id}
GET DELETE /users/{id}/authentication-methods
GET PATCH DELETE /users/{id}/authentication-methods/{authentication_method_id}
GET /users/{id}/enrollments
POST /users/{id}/identities
DELETE /users/{id}/identities/{provider}/{user_id}
GET /users/{id}/logs
DELETE /users/{id}/multifactor/{provider}
GET /users/{id}/organizations
GET POST DELETE /users/{id}/permissions
POST /users/{id}/recovery-code-regeneration
GET POST DELETE /users/{id}/roles
GET DELETE /users/{id}/sessions
GET /users-by-email
"""


def _auth0_route_table(text: str) -> list[tuple[frozenset[str], re.Pattern[str], str]]:
    table = []
    for line in text.strip().splitlines():
        *methods, template = line.split()
        parts = re.split(r"(\{[^/}]+\})", template)  # placeholders match one non-empty path segment
        pattern = re.compile("".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts))
        table.append((frozenset(methods), pattern, template))
    return table


_AUTH0_ROUTES = _auth0_route_table(AUTH0_ROUTES)


def auth0_route(method: str, path: str) -> str | None:
    """Auth0's route template for ``method path`` (relative to /api/v2), or None when Auth0 has no such route."""
    for methods, pattern, template in _AUTH0_ROUTES:
        if method in methods and pattern.fullmatch(path):
            return template
    return None


# -- messages Auth0 uses (the seeds' wording where they give one) ----------------------------------------------
NO_ORGANIZATION = "No organization found by that id."
NO_ORGANIZATION_NAME = "No organization found by that name."
NO_INVITATION = "The invitation does not exist."
NO_USER = "The user does not exist."
USER_NOT_FOUND = "User not found"
NO_ROLE = "The role does not exist."
NOT_A_MEMBER = "The user is not a member of the organization."
NO_CLIENT = "The specified client_id does not exist."
NO_CONNECTION = "The specified connection does not exist."
CONNECTION_NOT_ENABLED = "The specified connection is not enabled for the organization."
NO_ENABLED_CONNECTION = "No connection found by that id for this organization."
PASSWORDLESS = "Passwordless connections are not supported."
NO_LOGIN_ROUTE = (
    "A default login route is required to generate the invitation url. To learn more, see "
    "https://auth0.com/docs/authenticate/login/auth0-universal-login/configure-default-login-routes"
)


class Tenant(Protocol):
    """What the Management API needs of DevTenant: the attributes and methods below, nothing else."""

    store: Store
    keys: KeyRing
    settings: dict[str, Any]

    def now(self) -> float: ...

    def issuer_for(self, request: Request) -> str: ...

    def management_audience_for(self, request: Request) -> str: ...


# -- the pipeline --------------------------------------------------------------------------------------------------
@dataclass
class Call:
    """One authenticated, validated request as a handler sees it."""

    request: Request
    principal: Principal
    path: dict[str, str]
    query: dict[str, Any]

    async def body(self, schema: Object) -> dict[str, Any]:
        raw = await _read_body(self.request)
        value = None if raw.strip() == b"" else _parse_body(raw)
        return check_body(schema, value)


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    scopes: tuple[str, ...]
    handler: Handler
    query: Mapping[str, QueryParam] = field(default_factory=dict)


async def _read_body(request: Request) -> bytes:
    try:
        return await read_capped(request, MAX_BODY_BYTES)
    except BodyTooLarge:
        raise ManagementApiError(
            413, f"Payload content length greater than maximum allowed: {MAX_BODY_BYTES}", "payload_too_large"
        ) from None


def _parse_body(raw: bytes) -> Any:
    """JSON, strictly (:func:`parse_json`): deep nesting is a 400, never a RecursionError, and a lone surrogate
    is refused here, before anything can store it."""
    try:
        return parse_json(raw)
    except InvalidJson as exc:
        if exc.kind == "surrogate":
            raise bad_body("String contains an unpaired UTF-16 surrogate", exc.location) from None
        if exc.kind == "too_deep":
            raise bad_body(f"JSON is nested more than {MAX_JSON_DEPTH} levels deep") from None
        raise bad_body("Invalid request payload JSON format", raw=True) from None


def _error_response(error: ManagementApiError, decision: RateDecision | None) -> JSONResponse:
    headers = {"Cache-Control": "no-store", **error.headers}
    if decision is not None:
        headers.update(decision.headers())
    return JSONResponse(error.body(), status_code=error.status_code, headers=headers)


def _unimplemented_or_not_found(request: Request) -> ManagementApiError:
    """501 naming the route for an Auth0 route the tenant lacks (so nobody debugs a phantom), else Auth0's 404."""
    prefix = request.scope.get("root_path", "")
    path = request.url.path
    relative = path[len(prefix) :] if prefix and path.startswith(prefix) else path
    template = auth0_route(request.method, relative)
    if template is None:
        return not_found("Not Found", "not_found")
    return not_implemented(f"{request.method} /api/v2{template}")


def not_implemented(what: str) -> ManagementApiError:
    return ManagementApiError(501, f"not implemented by the orginvite dev tenant: {what}", "not_implemented")


def _refuse_unsupported(body: Mapping[str, Any], names: tuple[str, ...], route: str) -> None:
    """501 for a field Auth0 takes on ``route`` that the dev tenant does not implement."""
    present = [name for name in names if name in body]
    if present:
        raise not_implemented(f"{route} with {', '.join(present)}")


def _merge_metadata(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Auth0's PATCH rule for user_metadata / app_metadata: top-level keys merge, null removes one, {} clears."""
    if not changes:
        return {}
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


_USERS_Q = re.compile(r'^\s*(email|user_id)\s*:\s*(?:"([^"\\]*)"|([^\s"():*?]+))\s*$')


def _users_matching(users: list[Record], q: str) -> list[Record]:
    """Lucene ``q`` (search engine v3), for the queries apps use around invitations: email:"..." or user_id:"..."."""
    match = _USERS_Q.match(q)
    if match is None:
        raise not_implemented('GET /api/v2/users with q other than email:"..." or user_id:"..."')
    field, value = match.group(1), match.group(2) if match.group(2) is not None else match.group(3)
    if field == "email":
        return [user for user in users if str(user.get("email", "")).lower() == value.lower()]
    return [user for user in users if user.get("user_id") == value]


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _without_none(record: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if value is not None}


def _select_fields(record: Mapping[str, Any], query: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """Auth0's ``fields`` / ``include_fields``: keep (or drop) the named top-level fields."""
    if "fields" not in query or query["fields"] == "":
        return dict(record)
    names = set(query["fields"].split(","))
    unknown = sorted(names - allowed)
    if unknown:
        raise bad_query(f"Unknown field: {unknown[0][:64]}", "fields")
    if query.get("include_fields", True):
        return {key: value for key, value in record.items() if key in names}
    return {key: value for key, value in record.items() if key not in names}


def _invitation_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """The API shape: everything but the stored-only ``send_invitation_email``, absent values omitted."""
    return {key: value for key, value in _without_none(record).items() if key in INVITATION_FIELDS}


def _ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()[:12]


class ManagementApi:
    """The Management API for one tenant; ``routes()`` is what DevTenant mounts at /api/v2."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.limiter = RateLimiter(self._rate_limit, self.tenant.now)
        self._paths: list[tuple[str, dict[str, Endpoint]]] = []
        self._define()

    def _rate_limit(self) -> int:
        value = self.tenant.settings.get("management_api_rate_limit", 0)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    @property
    def store(self) -> Store:
        return self.tenant.store

    # -- routing ---------------------------------------------------------------------------------------------------
    def _add(self, path: str, method: str, endpoint: Endpoint) -> None:
        for known, methods in self._paths:
            if known == path:
                methods[method] = endpoint
                return
        self._paths.append((path, {method: endpoint}))

    def routes(self) -> list[BaseRoute]:
        result: list[BaseRoute] = []
        for path, methods in self._paths:
            result.append(Route(path, self._endpoint_for(methods), methods=ALL_METHODS))
        # Anything else under /api/v2 is a JSON 404 (with the rate-limit headers), never a text page.
        result.append(Route("/{rest:path}", self._endpoint_for({}), methods=ALL_METHODS))
        return result

    def _endpoint_for(self, methods: dict[str, Endpoint]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self.dispatch(request, methods)

        return endpoint

    async def dispatch(self, request: Request, methods: Mapping[str, Endpoint]) -> Response:
        decision: RateDecision | None = None
        try:
            principal: Principal | None = None
            auth_error: ManagementApiError | None = None
            try:
                principal = authenticate(
                    request.headers.get("authorization"),
                    keys=self.tenant.keys,
                    audience=self.tenant.management_audience_for(request),
                    issuer=self.tenant.issuer_for(request),
                    now=self.tenant.now(),
                    client_exists=lambda client_id: self.store.get_client(client_id) is not None,
                )
            except ManagementApiError as error:
                auth_error = error
            key = (
                f"client:{principal.client_id}" if principal else f"ip:{request.client.host if request.client else '-'}"
            )
            decision = self.limiter.hit(key)
            if not decision.allowed:
                raise too_many_requests()
            if auth_error is not None:
                raise auth_error
            assert principal is not None
            endpoint = methods.get(request.method)
            if endpoint is None:
                raise _unimplemented_or_not_found(request)
            require_scope(principal, *endpoint.scopes)
            path = {
                name: check_path(PATH_NAMES.get(name, name), value, PATH_SCHEMAS.get(name, USER_ID))
                for name, value in request.path_params.items()
            }
            query = check_query(parse_query_string(request.scope.get("query_string", b"")), endpoint.query)
            response = await endpoint.handler(Call(request=request, principal=principal, path=path, query=query))
        except ManagementApiError as error:
            return _error_response(error, decision)
        assert decision is not None
        response.headers.update(decision.headers())
        response.headers["Cache-Control"] = "no-store"  # invitations carry their tickets
        return response

    # -- lookups ---------------------------------------------------------------------------------------------------
    def _organization(self, org_id: str) -> Record:
        organization = self.store.get_organization(org_id)
        if organization is None:
            raise not_found(NO_ORGANIZATION, "inexistent_organization")
        return organization

    def _user(self, user_id: str, message: str = NO_USER) -> Record:
        user = self.store.get_user(user_id)
        if user is None:
            raise not_found(message, "inexistent_user")
        return user

    def _missing_roles(self, role_ids: list[str]) -> list[str]:
        return [role_id for role_id in dict.fromkeys(role_ids) if self.store.get_role(role_id) is None]

    def _expired(self, invitation: Mapping[str, Any]) -> bool:
        expires = _parse_time(invitation.get("expires_at"))
        return expires is not None and expires <= self.tenant.now()

    def _live_invitations(self, org_id: str) -> list[Record]:
        """Newest first, expired ones left out: Auth0 deletes invitations when they expire."""
        _, total = self.store.list_invitations(org_id, 0, 1)
        items, _ = self.store.list_invitations(org_id, 0, max(total, 1))
        return [item for item in items if not self._expired(item)]

    # -- endpoint table ---------------------------------------------------------------------------------------------
    def _define(self) -> None:
        offset = dict(OFFSET_QUERY)
        self._add("/organizations", "POST", Endpoint(("create:organizations",), self.create_organization))
        self._add(
            "/organizations",
            "GET",
            Endpoint(
                ("read:organizations",),
                self.list_organizations,
                {**offset, **CHECKPOINT_QUERY, "sort": QueryParam("string", pattern=r"(name|display_name):(1|-1)")},
            ),
        )
        self._add("/organizations/name/{org_name}", "GET", Endpoint(("read:organizations",), self.get_org_by_name))
        self._add("/organizations/{org_id}", "GET", Endpoint(("read:organizations",), self.get_organization))
        self._add("/organizations/{org_id}", "DELETE", Endpoint(("delete:organizations",), self.delete_organization))
        self._add(
            "/organizations/{org_id}/enabled_connections",
            "POST",
            Endpoint(("create:organization_connections",), self.enable_connection),
        )
        self._add(
            "/organizations/{org_id}/enabled_connections",
            "GET",
            Endpoint(("read:organization_connections",), self.list_enabled_connections, offset),
        )
        self._add("/organizations/{org_id}", "PATCH", Endpoint(("update:organizations",), self.update_organization))
        connection_path = "/organizations/{org_id}/enabled_connections/{connection_id}"
        self._add(connection_path, "GET", Endpoint(("read:organization_connections",), self.get_enabled_connection))
        self._add(
            connection_path, "PATCH", Endpoint(("update:organization_connections",), self.update_enabled_connection)
        )
        self._add(connection_path, "DELETE", Endpoint(("delete:organization_connections",), self.disable_connection))
        self._add(
            "/organizations/{org_id}/members", "POST", Endpoint(("create:organization_members",), self.add_members)
        )
        self._add(
            "/organizations/{org_id}/members",
            "DELETE",
            Endpoint(("delete:organization_members",), self.remove_members),
        )
        self._add(
            "/organizations/{org_id}/members",
            "GET",
            Endpoint(("read:organization_members",), self.list_members, {**offset, **CHECKPOINT_QUERY, **FIELDS_QUERY}),
        )
        roles_path = "/organizations/{org_id}/members/{user_id}/roles"
        self._add(roles_path, "POST", Endpoint(("create:organization_member_roles",), self.add_member_roles))
        self._add(roles_path, "DELETE", Endpoint(("delete:organization_member_roles",), self.remove_member_roles))
        self._add(roles_path, "GET", Endpoint(("read:organization_member_roles",), self.list_member_roles, offset))
        self._add(
            "/organizations/{org_id}/invitations",
            "POST",
            Endpoint(("create:organization_invitations",), self.create_invitation),
        )
        self._add(
            "/organizations/{org_id}/invitations",
            "GET",
            Endpoint(
                ("read:organization_invitations",),
                self.list_invitations,
                {**offset, **FIELDS_QUERY, "sort": QueryParam("string", pattern=r"created_at:(1|-1)")},
            ),
        )
        self._add(
            "/organizations/{org_id}/invitations/{invitation_id}",
            "GET",
            Endpoint(("read:organization_invitations",), self.get_invitation, FIELDS_QUERY),
        )
        self._add(
            "/organizations/{org_id}/invitations/{invitation_id}",
            "DELETE",
            Endpoint(("delete:organization_invitations",), self.delete_invitation),
        )
        self._add("/users", "POST", Endpoint(("create:users",), self.create_user))
        self._add(
            "/users",
            "GET",
            Endpoint(
                ("read:users",),
                self.list_users,
                {
                    **offset,
                    **FIELDS_QUERY,
                    "q": QueryParam("string", max_length=1000),
                    "search_engine": QueryParam("string", pattern="v3"),
                    "sort": QueryParam("string", pattern=r"(email|name|created_at|updated_at|logins_count):(1|-1)"),
                    "connection": QueryParam("string", max_length=128),
                    "primary_order": QueryParam("boolean"),
                },
            ),
        )
        self._add(
            "/users-by-email",
            "GET",
            Endpoint(
                ("read:users",), self.users_by_email, {**FIELDS_QUERY, "email": QueryParam("string", max_length=320)}
            ),
        )
        self._add("/users/{user_id}", "GET", Endpoint(("read:users",), self.get_user, FIELDS_QUERY))
        self._add("/users/{user_id}", "PATCH", Endpoint(("update:users",), self.update_user))
        self._add(
            "/users/{user_id}/organizations",
            "GET",
            Endpoint(("read:organizations",), self.list_user_organizations, offset),
        )
        self._add("/users/{user_id}/sessions", "DELETE", Endpoint(("delete:sessions",), self.delete_user_sessions))
        self._add("/roles", "POST", Endpoint(("create:roles",), self.create_role))
        self._add(
            "/roles",
            "GET",
            Endpoint(("read:roles",), self.list_roles, {**offset, "name_filter": QueryParam("string", max_length=255)}),
        )
        self._add("/roles/{role_id}", "GET", Endpoint(("read:roles",), self.get_role))
        self._add(
            "/roles/{role_id}/users",
            "GET",
            Endpoint(
                ("read:users", "read:roles", "read:role_members"), self.list_role_users, {**offset, **CHECKPOINT_QUERY}
            ),
        )

    # -- organizations ------------------------------------------------------------------------------------------------
    async def create_organization(self, call: Call) -> Response:
        body = await call.body(CREATE_ORGANIZATION)
        connections = body.get("enabled_connections", [])
        for connection in connections:
            if self.store.get_connection(connection["connection_id"]) is None:
                raise bad_body(NO_CONNECTION, raw=True)
        try:
            organization = self.store.create_organization(
                name=body["name"],
                display_name=body.get("display_name"),
                branding=body.get("branding"),
                metadata=body.get("metadata"),
            )
        except ConflictError as exc:
            raise conflict("An organization with this name already exists.", "organization_conflict") from exc
        if connections:
            organization["enabled_connections"] = [
                self.store.enable_connection(
                    organization["id"], item["connection_id"], item.get("assign_membership_on_login", False)
                )
                for item in connections
            ]
        return JSONResponse(organization, status_code=201)

    async def list_organizations(self, call: Call) -> Response:
        checkpoint = checkpoint_from_query(call.query)
        sort = call.query.get("sort")
        if sort is None:
            if checkpoint is not None:
                start = decode_offset_checkpoint(checkpoint.from_)
                items, total = self.store.list_organizations(start, checkpoint.take)
                following = start + len(items)
                nxt = encode_offset_checkpoint(following) if following < total else None
                return JSONResponse(Checkpoint.shape("organizations", items, nxt))
            page = offset_from_query(call.query)
            items, total = self.store.list_organizations(page.offset, page.per_page)
            return JSONResponse(page.shape("organizations", items, total))
        _, total = self.store.list_organizations(0, 1)
        every, total = self.store.list_organizations(0, max(total, 1))
        key, _, order = sort.partition(":")
        every.sort(key=lambda item: str(item.get(key) or ""), reverse=order == "-1")
        if checkpoint is not None:
            start = decode_offset_checkpoint(checkpoint.from_)
            items = every[start : start + checkpoint.take]
            following = start + len(items)
            nxt = encode_offset_checkpoint(following) if following < total else None
            return JSONResponse(Checkpoint.shape("organizations", items, nxt))
        page = offset_from_query(call.query)
        return JSONResponse(page.shape("organizations", page.slice(every), total))

    async def get_organization(self, call: Call) -> Response:
        return JSONResponse(self._organization(call.path["org_id"]))

    async def get_org_by_name(self, call: Call) -> Response:
        organization = self.store.get_organization_by_name(call.path["org_name"])
        if organization is None:
            raise not_found(NO_ORGANIZATION_NAME, "inexistent_organization")
        return JSONResponse(organization)

    async def update_organization(self, call: Call) -> Response:
        body = await call.body(UPDATE_ORGANIZATION)
        _refuse_unsupported(body, UPDATE_ORGANIZATION_UNSUPPORTED, "PATCH /api/v2/organizations/{id}")
        org_id = self._organization(call.path["org_id"])["id"]
        try:
            organization = self.store.update_organization(org_id, body)
        except ConflictError as exc:
            raise conflict("An organization with this name already exists.", "organization_conflict") from exc
        except NotFoundError as exc:  # deleted concurrently
            raise not_found(NO_ORGANIZATION, "inexistent_organization") from exc
        return JSONResponse(organization)

    async def delete_organization(self, call: Call) -> Response:
        if not self.store.delete_organization(call.path["org_id"]):
            raise not_found(NO_ORGANIZATION, "inexistent_organization")
        return Response(status_code=204)

    async def enable_connection(self, call: Call) -> Response:
        body = await call.body(ENABLE_CONNECTION)
        org_id = self._organization(call.path["org_id"])["id"]
        connection_id = body["connection_id"]
        if self.store.get_connection(connection_id) is None:
            raise bad_body(NO_CONNECTION, raw=True)
        if any(item["connection_id"] == connection_id for item in self.store.list_enabled_connections(org_id)):
            raise conflict("The connection is already enabled for this organization.", "connection_conflict")
        try:
            enabled = self.store.enable_connection(org_id, connection_id, body.get("assign_membership_on_login", False))
        except NotFoundError as exc:  # deleted concurrently
            raise not_found(NO_ORGANIZATION, "inexistent_organization") from exc
        return JSONResponse(enabled, status_code=201)

    async def list_enabled_connections(self, call: Call) -> Response:
        org_id = self._organization(call.path["org_id"])["id"]
        page = offset_from_query(call.query)
        every = self.store.list_enabled_connections(org_id)
        return JSONResponse(page.shape("enabled_connections", page.slice(every), len(every)))

    def _enabled_connection(self, call: Call) -> tuple[str, Record]:
        org_id = self._organization(call.path["org_id"])["id"]
        for enabled in self.store.list_enabled_connections(org_id):
            if enabled["connection_id"] == call.path["connection_id"]:
                return org_id, enabled
        raise not_found(NO_ENABLED_CONNECTION, "inexistent_connection")

    async def get_enabled_connection(self, call: Call) -> Response:
        _, enabled = self._enabled_connection(call)
        return JSONResponse(enabled)

    async def update_enabled_connection(self, call: Call) -> Response:
        body = await call.body(UPDATE_ENABLED_CONNECTION)
        route = "PATCH /api/v2/organizations/{id}/enabled_connections/{connectionId}"
        _refuse_unsupported(body, UPDATE_ENABLED_CONNECTION_UNSUPPORTED, route)
        org_id, enabled = self._enabled_connection(call)
        assign = body.get("assign_membership_on_login", enabled["assign_membership_on_login"])
        try:
            updated = self.store.enable_connection(org_id, enabled["connection_id"], assign)
        except NotFoundError as exc:  # deleted concurrently
            raise not_found(NO_ORGANIZATION, "inexistent_organization") from exc
        return JSONResponse(updated)

    async def disable_connection(self, call: Call) -> Response:
        org_id, enabled = self._enabled_connection(call)
        self.store.disable_connection(org_id, enabled["connection_id"])
        return Response(status_code=204)

    # -- members ------------------------------------------------------------------------------------------------------
    async def add_members(self, call: Call) -> Response:
        body = await call.body(MEMBERS)
        org_id = self._organization(call.path["org_id"])["id"]
        user_ids = list(dict.fromkeys(body["members"]))
        missing = [user_id for user_id in user_ids if self.store.get_user(user_id) is None]
        if missing:
            raise bad_body(f"One or more of the specified users do not exist: {', '.join(missing)}", raw=True)
        try:
            self.store.add_members(org_id, user_ids)
        except NotFoundError as exc:  # the organization or a user vanished concurrently
            raise not_found(NO_ORGANIZATION, "inexistent_organization") from exc
        return Response(status_code=204)

    async def remove_members(self, call: Call) -> Response:
        body = await call.body(MEMBERS)
        org_id = self._organization(call.path["org_id"])["id"]
        self.store.remove_members(org_id, list(dict.fromkeys(body["members"])))
        return Response(status_code=204)

    async def list_members(self, call: Call) -> Response:
        org_id = self._organization(call.path["org_id"])["id"]
        wants_roles = self._wants_member_roles(call)
        checkpoint = checkpoint_from_query(call.query)
        if checkpoint is not None:
            try:
                items, nxt = self.store.list_members_from(org_id, checkpoint.from_, checkpoint.take)
            except InvalidCheckpointError as exc:
                raise bad_query("Invalid checkpoint", "from") from exc
            return JSONResponse(Checkpoint.shape("members", self._member_views(call, org_id, items, wants_roles), nxt))
        page = offset_from_query(call.query)
        items, total = self.store.list_members(org_id, page.offset, page.per_page)
        return JSONResponse(page.shape("members", self._member_views(call, org_id, items, wants_roles), total))

    def _wants_member_roles(self, call: Call) -> bool:
        fields = call.query.get("fields")
        if not fields:
            return False
        names = set(fields.split(","))
        unknown = sorted(names - MEMBER_FIELDS)
        if unknown:
            raise bad_query(f"Unknown field: {unknown[0][:64]}", "fields")
        wants = "roles" in names and call.query.get("include_fields", True)
        if wants:
            # Auth0 asks for the member-roles scope too before it reveals roles in the member list.
            require_scope(call.principal, "read:organization_member_roles")
        return bool(wants)

    def _member_views(self, call: Call, org_id: str, items: list[Record], wants_roles: bool) -> list[dict[str, Any]]:
        views = []
        for item in items:
            view = dict(item)
            if wants_roles:
                roles, _ = self.store.list_member_roles(org_id, item["user_id"], 0, MAX_ROLES_PER_MEMBER)
                view["roles"] = [{"id": role["id"], "name": role["name"]} for role in roles]
            views.append(_select_fields(view, call.query, MEMBER_FIELDS))
        return views

    # -- member roles ----------------------------------------------------------------------------------------------
    def _member(self, call: Call) -> tuple[str, str]:
        org_id = self._organization(call.path["org_id"])["id"]
        user_id = self._user(call.path["user_id"])["user_id"]
        if not self.store.is_member(org_id, user_id):
            raise not_found(NOT_A_MEMBER, "inexistent_member")
        return org_id, user_id

    async def add_member_roles(self, call: Call) -> Response:
        body = await call.body(MEMBER_ROLES)
        org_id, user_id = self._member(call)
        role_ids = list(dict.fromkeys(body["roles"]))
        missing = self._missing_roles(role_ids)
        if missing:
            raise bad_body(f"One or more of the specified roles do not exist: {', '.join(missing)}", raw=True)
        current, _ = self.store.list_member_roles(org_id, user_id, 0, MAX_ROLES_PER_MEMBER + 1)
        if len({role["id"] for role in current} | set(role_ids)) > MAX_ROLES_PER_MEMBER:
            raise bad_body(f"A member can have at most {MAX_ROLES_PER_MEMBER} roles in an organization.", raw=True)
        try:
            self.store.add_member_roles(org_id, user_id, role_ids)
        except NotFoundError as exc:  # membership or a role removed concurrently
            raise not_found(NOT_A_MEMBER, "inexistent_member") from exc
        return Response(status_code=204)

    async def remove_member_roles(self, call: Call) -> Response:
        body = await call.body(MEMBER_ROLES)
        org_id, user_id = self._member(call)
        self.store.remove_member_roles(org_id, user_id, list(dict.fromkeys(body["roles"])))
        return Response(status_code=204)

    async def list_member_roles(self, call: Call) -> Response:
        org_id, user_id = self._member(call)
        page = offset_from_query(call.query)
        items, total = self.store.list_member_roles(org_id, user_id, page.offset, page.per_page)
        return JSONResponse(page.shape("roles", items, total))

    # -- invitations -----------------------------------------------------------------------------------------------
    async def create_invitation(self, call: Call) -> Response:
        body = await call.body(CREATE_INVITATION)
        organization = self._organization(call.path["org_id"])
        client = self.store.get_client(body["client_id"])
        if client is None:
            raise bad_body(NO_CLIENT, raw=True)
        connection_id = body.get("connection_id")
        if connection_id is not None:
            connection = self.store.get_connection(connection_id)
            if connection is None:
                raise bad_body(NO_CONNECTION, raw=True)
            if connection.get("strategy") in PASSWORDLESS_STRATEGIES:
                raise bad_body(PASSWORDLESS, raw=True)
            enabled = self.store.list_enabled_connections(organization["id"])
            if not any(item["connection_id"] == connection_id for item in enabled):
                raise bad_body(CONNECTION_NOT_ENABLED, raw=True)
        roles = list(dict.fromkeys(body.get("roles", [])))
        missing = self._missing_roles(roles)
        if missing:
            raise bad_body(f"One or more of the specified roles do not exist: {', '.join(missing)}", raw=True)
        login_uri = self._login_route(client, organization)

        ticket = generate_ticket()
        now = self.tenant.now()
        ttl = body.get("ttl_sec") or DEFAULT_TTL_SEC
        query = urlencode(
            {"invitation": ticket, "organization": organization["id"], "organization_name": organization["name"]}
        )
        record: Record = {
            "id": generate_id("uinv_"),
            "organization_id": organization["id"],
            "inviter": {"name": body["inviter"]["name"]},
            "invitee": {"email": body["invitee"]["email"]},
            "invitation_url": f"{login_uri}{'&' if '?' in login_uri else '?'}{query}",
            "created_at": iso8601(now),
            "expires_at": iso8601(now + ttl),
            "client_id": client["client_id"],
            "connection_id": connection_id,
            "app_metadata": body.get("app_metadata"),
            "user_metadata": body.get("user_metadata"),
            "roles": roles if "roles" in body else None,
            "ticket_id": ticket,
            "send_invitation_email": body.get("send_invitation_email", True),
        }
        # Auth0 revokes older invitations of the same email to the same organization.
        revoked = self.store.delete_invitations_for_email(organization["id"], record["invitee"]["email"])
        try:
            stored = self.store.create_invitation(record)
        except NotFoundError as exc:
            raise not_found(NO_ORGANIZATION, "inexistent_organization") from exc
        log.info(
            "invitation %s created in %s (ticket #%s, %d older revoked)",
            stored["id"],
            organization["id"],
            _ticket_hash(ticket),
            revoked,
        )
        mail = getattr(self.tenant, "mail", None)  # a DevTenant's TenantMail; absent in bare test tenants
        if stored.get("send_invitation_email") and mail is not None:
            await mail.deliver(stored, ticket_hash=_ticket_hash(ticket))
        return JSONResponse(_invitation_view(stored), status_code=200)

    def _login_route(self, client: Mapping[str, Any], organization: Mapping[str, Any]) -> str:
        """The client's Application Login URI for this organization, else the tenant's login route.

        ``{organization.metadata.public_KEY}`` placeholders resolve from the organization's metadata; one that
        cannot (a missing key, a value that is not a host name) falls back to ``default_redirection_uri`` as on
        Auth0, and with neither there is no login route: Auth0's 400.
        """
        template = client.get("initiate_login_uri")
        if isinstance(template, str) and template:
            resolved = resolve_login_uri(template, organization.get("metadata"))
            if resolved is not None:
                return resolved
            log.warning(
                "initiate_login_uri of %s has a placeholder %s's metadata cannot fill; using default_redirection_uri",
                client.get("client_id"),
                organization.get("id"),
            )
        fallback = self.tenant.settings.get("default_redirection_uri")
        if not isinstance(fallback, str) or not fallback:
            raise bad_body(NO_LOGIN_ROUTE, raw=True)
        return fallback

    async def list_invitations(self, call: Call) -> Response:
        org_id = self._organization(call.path["org_id"])["id"]
        page = offset_from_query(call.query)
        every = self._live_invitations(org_id)
        if call.query.get("sort") == "created_at:1":
            every.reverse()
        items = [_select_fields(_invitation_view(item), call.query, INVITATION_FIELDS) for item in page.slice(every)]
        # Auth0 gives start and limit but no total for invitations ("we do not yet support returning the total").
        return JSONResponse(page.shape("invitations", items, None))

    def _invitation(self, call: Call) -> Record:
        org_id = self._organization(call.path["org_id"])["id"]
        invitation = self.store.get_invitation(org_id, call.path["invitation_id"])
        if invitation is None or self._expired(invitation):
            raise not_found(NO_INVITATION, "inexistent_invitation")
        return invitation

    async def get_invitation(self, call: Call) -> Response:
        invitation = self._invitation(call)
        return JSONResponse(_select_fields(_invitation_view(invitation), call.query, INVITATION_FIELDS))

    async def delete_invitation(self, call: Call) -> Response:
        invitation = self._invitation(call)
        self.store.delete_invitation(invitation["organization_id"], invitation["id"])
        return Response(status_code=204)

    # -- users --------------------------------------------------------------------------------------------------------
    async def create_user(self, call: Call) -> Response:
        body = await call.body(CREATE_USER)
        connection = self.store.get_connection_by_name(body["connection"])
        if connection is None:
            raise bad_body("The connection does not exist.", raw=True)
        if "email" not in body:
            raise bad_body("Missing required property: email")
        if connection.get("strategy", "auth0") == "auth0" and "password" not in body:
            raise bad_body("Missing required property: password")
        user_id = body.get("user_id")
        try:
            # The password KDF is deliberately slow: hash in a worker thread, not on the event loop.
            user = await run_in_threadpool(
                self.store.create_user,
                email=body["email"],
                password=body.get("password"),
                name=body.get("name"),
                user_metadata=body.get("user_metadata"),
                app_metadata=body.get("app_metadata"),
                user_id=f"auth0|{user_id}" if user_id else None,
                connection=connection["name"],
                email_verified=body.get("email_verified", False),
            )
        except ConflictError as exc:
            raise conflict("The user already exists.", "auth0_idp_error") from exc
        return JSONResponse(user, status_code=201)

    async def get_user(self, call: Call) -> Response:
        user = self._user(call.path["user_id"])
        return JSONResponse(_select_fields(user, call.query, frozenset(user)))

    def _every_user(self) -> list[Record]:
        _, total = self.store.list_users(0, 1)
        users, _ = self.store.list_users(0, max(total, 1))
        return users

    async def delete_user_sessions(self, call: Call) -> Response:
        """Auth0's "Delete sessions for user": every hosted session ends, and the apps they signed in to get a
        back-channel logout token. 202 and no body: Auth0's reference gives the one answer "Session deletion
        request accepted." (auth0.com/docs/api/management/v2/users/delete-sessions-for-user), without a schema."""
        user = self._user(call.path["user_id"])
        end_user_sessions(self.tenant, str(user["user_id"]), self.tenant.issuer_for(call.request))
        return Response(status_code=202)

    async def list_users(self, call: Call) -> Response:
        page = offset_from_query(call.query)  # Auth0's 1000-record window applies here too
        users = self._every_user()
        if call.query.get("q"):
            users = _users_matching(users, call.query["q"])
        connection = call.query.get("connection")
        if connection:
            users = [
                user for user in users if any(i.get("connection") == connection for i in user.get("identities") or [])
            ]
        sort = call.query.get("sort")
        if sort:
            key, _, order = sort.partition(":")
            users.sort(key=lambda user: (user.get(key) is None, str(user.get(key) or "")), reverse=order == "-1")
        items = [_select_fields(user, call.query, USER_FIELDS) for user in page.slice(users)]
        return JSONResponse(page.shape("users", items, len(users)))

    async def users_by_email(self, call: Call) -> Response:
        email = call.query.get("email")
        if not email:
            raise bad_query("Missing required property: email")
        user = self.store.get_user_by_email(email)
        return JSONResponse([_select_fields(user, call.query, USER_FIELDS)] if user else [])

    async def update_user(self, call: Call) -> Response:
        body = await call.body(UPDATE_USER)
        _refuse_unsupported(body, UPDATE_USER_UNSUPPORTED, "PATCH /api/v2/users/{id}")
        user = self._user(call.path["user_id"])
        changes = dict(body)
        for key in ("user_metadata", "app_metadata"):
            if key in changes:
                changes[key] = _merge_metadata(user.get(key) or {}, changes[key])
        try:
            updated = self.store.update_user(user["user_id"], changes)
        except NotFoundError as exc:  # deleted concurrently
            raise not_found(NO_USER, "inexistent_user") from exc
        return JSONResponse(updated)

    async def list_user_organizations(self, call: Call) -> Response:
        user_id = self._user(call.path["user_id"], USER_NOT_FOUND)["user_id"]
        page = offset_from_query(call.query)
        items, total = self.store.list_user_organizations(user_id, page.offset, page.per_page)
        return JSONResponse(page.shape("organizations", items, total))

    # -- roles --------------------------------------------------------------------------------------------------------
    async def create_role(self, call: Call) -> Response:
        body = await call.body(CREATE_ROLE)
        try:
            role = self.store.create_role(body["name"], body.get("description", ""))
        except ConflictError as exc:
            raise conflict("Role name already exists.", "role_conflict") from exc
        return JSONResponse(role, status_code=200)

    async def list_roles(self, call: Call) -> Response:
        page = offset_from_query(call.query)
        name_filter = call.query.get("name_filter")
        if not name_filter:
            items, total = self.store.list_roles(page.offset, page.per_page)
            return JSONResponse(page.shape("roles", items, total))
        _, total = self.store.list_roles(0, 1)
        every, _ = self.store.list_roles(0, max(total, 1))
        matching = [role for role in every if name_filter.lower() in str(role.get("name", "")).lower()]
        return JSONResponse(page.shape("roles", page.slice(matching), len(matching)))

    async def get_role(self, call: Call) -> Response:
        role = self.store.get_role(call.path["role_id"])
        if role is None:
            raise not_found(NO_ROLE, "inexistent_role")
        return JSONResponse(role)

    async def list_role_users(self, call: Call) -> Response:
        """Users with the role assigned directly. Auth0 lists only direct assignments here, never organization
        member roles; the dev tenant has no direct assignments, so the list is empty, as it would be on Auth0 for
        a tenant that assigns roles only within organizations."""
        if self.store.get_role(call.path["role_id"]) is None:
            raise not_found(NO_ROLE, "inexistent_role")
        users: list[Record] = []
        checkpoint = checkpoint_from_query(call.query)
        if checkpoint is not None:
            return JSONResponse(Checkpoint.shape("users", users, None))
        page = offset_from_query(call.query)
        return JSONResponse(page.shape("users", page.slice(users), len(users)))


def routes(tenant: Tenant) -> list[BaseRoute]:
    """Routes relative to /api/v2 (DevTenant mounts them)."""
    return ManagementApi(tenant).routes()
