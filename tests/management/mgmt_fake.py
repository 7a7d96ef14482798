"""A small fake of Auth0's Management API and token endpoint, served over real loopback HTTP.

It mimics Auth0's shapes (records, paging with include_totals, error bodies with statusCode/error/message/errorCode),
scopes (403 insufficient_scope), tokens (401 once revoked or expired), and rate limits (X-RateLimit-* headers, 429
with Retry-After) on a clock shared with the client under test, so rate-limit waits are deterministic and instant.
Tests can also script raw answers (garbage bodies, 500s, HTML) for the next requests.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orginvite.management import ManagementClient

ALL_SCOPES = frozenset(
    {
        "read:organizations",
        "create:organizations",
        "delete:organizations",
        "read:organization_members",
        "create:organization_members",
        "delete:organization_members",
        "read:organization_member_roles",
        "create:organization_member_roles",
        "delete:organization_member_roles",
        "read:organization_invitations",
        "create:organization_invitations",
        "delete:organization_invitations",
        "read:roles",
        "read:users",
        "create:users",
    }
)

M2M_ID = "m2m-client"
M2M_SECRET = "m2m-secret-value-0123456789"
APP_CLIENT_ID = "app-client"


def _rid(prefix: str) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(16))


class FakeClock:
    """Wall clock for both sides; ``sleep`` advances it instead of waiting and records every wait."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


@dataclass
class Scripted:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    path_contains: str = ""


class FakeAuth0:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.scopes: set[str] = set(ALL_SCOPES)
        self.token_ttl = 86400
        self.tokens: dict[str, float] = {}  # token -> expiry
        self.token_requests: list[dict[str, str]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.scripted: list[Scripted] = []
        self.rate_limit = 0  # requests per 1-second window; 0 = unlimited
        self._window = (0, 0)  # (window start second, count)
        self.organizations: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}
        self.member_roles: dict[tuple[str, str], list[str]] = {}
        self.invitations: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.app = Starlette(routes=self._routes())

    # -- seeding
    def add_org(self, name: str, display_name: str | None = None, metadata: dict[str, str] | None = None) -> dict:
        org = {"id": _rid("org_"), "name": name, "display_name": display_name or name.title()}
        if metadata:
            org["metadata"] = metadata
        self.organizations[org["id"]] = org
        self.members[org["id"]] = []
        return org

    def add_role(self, name: str, description: str = "") -> dict:
        role = {"id": _rid("rol_"), "name": name, "description": description}
        self.roles[role["id"]] = role
        return role

    def add_user(self, email: str, name: str = "") -> dict:
        user = {"user_id": "auth0|" + secrets.token_hex(12), "email": email, "name": name or email}
        self.users[user["user_id"]] = user
        return user

    def script(self, status: int, body: bytes | str | dict = b"", headers: dict[str, str] | None = None,
               *, times: int = 1, path_contains: str = "") -> None:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body.encode() if isinstance(body, str) else body
        for _ in range(times):
            self.scripted.append(Scripted(status, raw, dict(headers or {}), path_contains))

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def invitations_for(self, org_id: str) -> list[dict]:
        return [i for i in self.invitations.values() if i["organization_id"] == org_id]

    # -- helpers
    @staticmethod
    def error(status: int, error: str, message: str, code: str | None = None,
              headers: dict[str, str] | None = None) -> JSONResponse:
        body: dict[str, Any] = {"statusCode": status, "error": error, "message": message}
        if code:
            body["errorCode"] = code
        return JSONResponse(body, status_code=status, headers=headers)

    def _rate_headers(self) -> tuple[dict[str, str], bool]:
        if not self.rate_limit:
            return {}, True
        second = int(self.clock.time())
        start, count = self._window
        if start != second:
            start, count = second, 0
        allowed = count < self.rate_limit
        count += 1 if allowed else 0
        self._window = (start, count)
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - count)),
            "X-RateLimit-Reset": str(start + 1),
        }
        return headers, allowed

    def _routes(self) -> list[Route]:
        return [
            Route("/oauth/token", self.token, methods=["POST"]),
            Route("/api/v2/{path:path}", self.api, methods=["GET", "POST", "DELETE", "PATCH"]),
        ]

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))  # no python-multipart in the venv
        self.token_requests.append({k: str(v) for k, v in form.items()})
        for index, item in enumerate(self.scripted):
            if item.path_contains == "/oauth/token":
                del self.scripted[index]
                return Response(item.body, status_code=item.status, headers=item.headers)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type", "error_description": "bad grant"}, 400)
        if form.get("client_id") != M2M_ID or form.get("client_secret") != M2M_SECRET:
            return JSONResponse({"error": "access_denied", "error_description": "Unauthorized"}, 401)
        if form.get("audience") != str(request.base_url) + "api/v2/":
            return JSONResponse(
                {"error": "access_denied", "error_description": "Service not enabled within domain"}, 403
            )
        token = secrets.token_urlsafe(24)
        self.tokens[token] = self.clock.time() + self.token_ttl
        return JSONResponse(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl,
             "scope": " ".join(sorted(self.scopes))}
        )

    async def api(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        self.requests.append((request.method, path, dict(request.query_params)))
        rate_headers, allowed = self._rate_headers()
        for index, item in enumerate(self.scripted):
            if item.path_contains != "/oauth/token" and item.path_contains in path:
                del self.scripted[index]
                return Response(item.body, status_code=item.status, headers={**rate_headers, **item.headers})
        if not allowed:
            return self.error(
                429, "Too Many Requests", "Global limit has been reached", "too_many_requests",
                headers={**rate_headers, "Retry-After": "1"},
            )
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or self.tokens.get(token, 0) <= self.clock.time():
            return self.error(401, "Unauthorized", "Invalid token")
        body: Any = None
        if request.method in {"POST", "DELETE", "PATCH"}:
            raw = await request.body()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self.error(400, "Bad Request", "Invalid request payload JSON format", "invalid_body")
        with self.lock:
            response = self.dispatch(request.method, path.rstrip("/").split("/")[1:], dict(request.query_params), body)
        response.headers.update(rate_headers)
        return response

    def need(self, scope: str) -> Response | None:
        if scope in self.scopes:
            return None
        return self.error(403, "Forbidden", f"Insufficient scope, expected any of: {scope}", "insufficient_scope")

    def paged(self, key: str, items: list[dict], query: dict[str, str], total: bool = True) -> Response:
        page = int(query.get("page", 0))
        per_page = int(query.get("per_page", 50))
        chunk = items[page * per_page : (page + 1) * per_page]
        if query.get("include_totals") != "true":
            return JSONResponse(chunk)
        body: dict[str, Any] = {key: chunk, "start": page * per_page, "limit": per_page}
        if total:
            body["total"] = len(items)
        return JSONResponse(body)

    def dispatch(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> Response:
        not_found = self.error(404, "Not Found", "Not found")
        match (method, parts):
            case ("GET", ["roles"]):
                return self.need("read:roles") or self.paged("roles", list(self.roles.values()), query)
            case ("GET", ["organizations"]):
                return self.need("read:organizations") or self.paged(
                    "organizations", list(self.organizations.values()), query
                )
            case ("POST", ["organizations"]):
                if denied := self.need("create:organizations"):
                    return denied
                if any(o["name"] == body.get("name") for o in self.organizations.values()):
                    return self.error(409, "Conflict", "An organization with this name already exists.",
                                      "organization_conflict")
                org = self.add_org(body["name"], body.get("display_name"), body.get("metadata"))
                return JSONResponse(org, status_code=201)
            case ("GET", ["organizations", "name", name]):
                if denied := self.need("read:organizations"):
                    return denied
                for org in self.organizations.values():
                    if org["name"] == name:
                        return JSONResponse(org)
                return self.error(404, "Not Found", "No organization found by that name.", "inexistent_organization")
            case ("GET", ["organizations", org_id]):
                if denied := self.need("read:organizations"):
                    return denied
                if org_id not in self.organizations:
                    return self.error(404, "Not Found", "No organization found by that id.", "inexistent_organization")
                return JSONResponse(self.organizations[org_id])
            case ("DELETE", ["organizations", org_id]):
                if denied := self.need("delete:organizations"):
                    return denied
                self.organizations.pop(org_id, None)
                return Response(status_code=204)
            case ("GET", ["organizations", org_id, "members"]):
                if denied := self.need("read:organization_members"):
                    return denied
                ids = sorted(self.members.get(org_id, []))
                items = [{k: self.users[u][k] for k in ("user_id", "email", "name")} for u in ids]
                if "take" in query:
                    take = int(query["take"])
                    start = int(query.get("from", 0) or 0)
                    chunk = items[start : start + take]
                    result: dict[str, Any] = {"members": chunk}
                    if start + take < len(items):
                        result["next"] = str(start + take)
                    return JSONResponse(result)
                return self.paged("members", items, query)
            case ("POST" | "DELETE", ["organizations", org_id, "members"]):
                scope = "create:organization_members" if method == "POST" else "delete:organization_members"
                if denied := self.need(scope):
                    return denied
                if org_id not in self.organizations:
                    return not_found
                if not isinstance(body, dict) or not isinstance(body.get("members"), list):
                    return self.error(400, "Bad Request", "Payload validation error: 'Missing required property: "
                                      "members'.", "invalid_body")
                for user_id in body["members"]:
                    if user_id not in self.users:
                        return self.error(400, "Bad Request", f"User {user_id} does not exist", "invalid_body")
                    current = self.members[org_id]
                    if method == "POST" and user_id not in current:
                        current.append(user_id)
                    if method == "DELETE" and user_id in current:
                        current.remove(user_id)
                return Response(status_code=204)
            case (_, ["organizations", org_id, "members", user_id, "roles"]):
                verb = {"GET": "read", "POST": "create", "DELETE": "delete"}[method]
                if denied := self.need(f"{verb}:organization_member_roles"):
                    return denied
                key = (org_id, user_id)
                current = self.member_roles.setdefault(key, [])
                if method == "GET":
                    return self.paged("roles", [self.roles[r] for r in current], query)
                for role_id in body["roles"]:
                    if role_id not in self.roles:
                        return self.error(400, "Bad Request", f"One or more of the specified roles do not exist: "
                                          f"{role_id}", "invalid_body")
                    if method == "POST" and role_id not in current:
                        current.append(role_id)
                    if method == "DELETE" and role_id in current:
                        current.remove(role_id)
                return Response(status_code=204)
            case ("POST", ["organizations", org_id, "invitations"]):
                if denied := self.need("create:organization_invitations"):
                    return denied
                org = self.organizations.get(org_id)
                if org is None:
                    return self.error(404, "Not Found", "No organization found by that id.", "inexistent_organization")
                if body.get("client_id") != APP_CLIENT_ID:
                    return self.error(400, "Bad Request", "The specified client_id does not exist.", "invalid_body")
                unknown = [r for r in body.get("roles", []) if r not in self.roles]
                if unknown:
                    return self.error(400, "Bad Request", "One or more of the specified roles do not exist: "
                                      + ", ".join(unknown), "invalid_body")
                email = body["invitee"]["email"]
                for old in [i for i in self.invitations_for(org_id) if i["invitee"]["email"] == email]:
                    del self.invitations[old["id"]]
                ticket = secrets.token_urlsafe(24)
                now = self.clock.time()
                invitation = {
                    "id": _rid("uinv_"),
                    "organization_id": org_id,
                    "inviter": body["inviter"],
                    "invitee": body["invitee"],
                    "invitation_url": "http://127.0.0.1:9/login?"
                    + urlencode({"invitation": ticket, "organization": org_id, "organization_name": org["name"]}),
                    "created_at": _iso(now),
                    "expires_at": _iso(now + (body.get("ttl_sec") or 604800)),
                    "client_id": body["client_id"],
                    "app_metadata": body.get("app_metadata", {}),
                    "user_metadata": body.get("user_metadata", {}),
                    "roles": body.get("roles", []),
                    "ticket_id": ticket,
                    "send_invitation_email": body.get("send_invitation_email"),
                }
                if body.get("connection_id"):
                    invitation["connection_id"] = body["connection_id"]
                self.invitations[invitation["id"]] = invitation
                shown = {k: v for k, v in invitation.items() if k != "send_invitation_email"}
                return JSONResponse(shown, status_code=201)
            case ("GET", ["organizations", org_id, "invitations"]):
                if denied := self.need("read:organization_invitations"):
                    return denied
                items = [{k: v for k, v in i.items() if k != "send_invitation_email"}
                         for i in self.invitations_for(org_id)]
                return self.paged("invitations", items, query, total=False)
            case ("GET", ["organizations", org_id, "invitations", inv_id]):
                if denied := self.need("read:organization_invitations"):
                    return denied
                inv = self.invitations.get(inv_id)
                if inv is None or inv["organization_id"] != org_id:
                    return self.error(404, "Not Found", "The invitation does not exist", "inexistent_invitation")
                return JSONResponse({k: v for k, v in inv.items() if k != "send_invitation_email"})
            case ("DELETE", ["organizations", org_id, "invitations", inv_id]):
                if denied := self.need("delete:organization_invitations"):
                    return denied
                self.invitations.pop(inv_id, None)
                return Response(status_code=204)
            case ("GET", ["users", user_id]):
                if denied := self.need("read:users"):
                    return denied
                if user_id not in self.users:
                    return self.error(404, "Not Found", "The user does not exist.", "inexistent_user")
                return JSONResponse(self.users[user_id])
            case ("POST", ["users"]):
                if denied := self.need("create:users"):
                    return denied
                if any(u["email"] == body.get("email") for u in self.users.values()):
                    return self.error(409, "Conflict", "The user already exists.", "auth0_idp_error")
                user = self.add_user(body["email"], body.get("name", ""))
                user["user_metadata"] = body.get("user_metadata", {})
                return JSONResponse(user, status_code=201)
            case ("GET", ["users", user_id, "organizations"]):
                if denied := self.need("read:organizations"):
                    return denied
                orgs = [self.organizations[o] for o, members in self.members.items() if user_id in members]
                return self.paged("organizations", orgs, query)
        return not_found


def _iso(timestamp: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def make_client(base_url: str, clock: FakeClock, **options: Any) -> ManagementClient:
    return ManagementClient(base_url, M2M_ID, M2M_SECRET, clock=clock.time, sleep=clock.sleep, **options)


class RecordingSender:
    """An InvitationSender that renders with the real EmailRenderer and keeps the result instead of mailing it.

    ``fail_for`` makes the server refuse those recipients; ``down`` makes every send fail to connect;
    ``interrupt_for`` raises KeyboardInterrupt (Ctrl-C in the middle of a run).
    """

    def __init__(self, fail_for: set[str] | None = None, interrupt_for: set[str] | None = None) -> None:
        from orginvite.emails import EmailRenderer

        self.renderer = EmailRenderer()
        self.sent: list[dict[str, Any]] = []
        self.fail_for = fail_for or set()
        self.interrupt_for = interrupt_for or set()
        self.down = False

    async def send_invitation(self, invitation: Any, *, to_name: str | None = None,
                              message_key: str | None = None) -> Any:
        from orginvite.management.invite import SentEmail

        if invitation.invitee_email in self.interrupt_for:
            raise KeyboardInterrupt
        if invitation.invitee_email in self.fail_for:
            from orginvite.emails.sender import SMTPRecipientRefusedError

            refused = {invitation.invitee_email: (550, "5.1.1 mailbox unavailable")}
            raise SMTPRecipientRefusedError("SMTP server refused the recipient", refused)
        if self.down:
            from orginvite.emails.sender import SMTPConnectionError

            raise SMTPConnectionError("cannot connect to SMTP server 127.0.0.1:1: Connection refused")
        rendered = self.renderer.render(invitation)
        message_id = f"<{len(self.sent) + 1}.test@orginvite>"
        self.sent.append({"to": invitation.invitee_email, "to_name": to_name, "subject": rendered.subject,
                          "text": rendered.text, "locale": rendered.locale, "url": invitation.url,
                          "roles": [r["name"] for r in invitation.roles], "message_id": message_id})
        return SentEmail(message_id, rendered.locale)
