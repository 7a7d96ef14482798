"""The Management API's error answers, in Auth0's body shape.

Auth0 answers failures with ``{"statusCode", "error", "message", "errorCode"}``, except its 401s, which carry no
``errorCode`` (``{"statusCode": 401, "error": "Unauthorized", "message": "Invalid token"}``, as reported in
auth0/node-auth0#831 and auth0/auth0-authorization-extension#231): code that branched on an ``errorCode`` there
would work here and never fire on Auth0. Every failure is one :class:`ManagementApiError` raised from anywhere in
a handler and turned into that body in one place.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from orginvite.errors import OrgInviteError

__all__ = [
    "ManagementApiError",
    "bad_body",
    "bad_path",
    "bad_query",
    "conflict",
    "forbidden_scope",
    "invalid_paging",
    "not_found",
    "too_many_requests",
    "unauthorized",
]


class ManagementApiError(OrgInviteError):
    """One Auth0-shaped error response; ``headers`` are added to the response (e.g. ``WWW-Authenticate``)."""

    def __init__(
        self,
        status_code: int,
        message: str,
        error_code: str | None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status_code = status_code
        self.message = message
        self.error_code = error_code
        self.headers = dict(headers or {})
        super().__init__(f"{status_code} {error_code or self.error}: {message}")

    @property
    def error(self) -> str:
        """The reason phrase Auth0 puts in ``error`` ("Bad Request", "Too Many Requests", ...)."""
        try:
            return HTTPStatus(self.status_code).phrase
        except ValueError:
            return "Error"

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"statusCode": self.status_code, "error": self.error, "message": self.message}
        if self.error_code is not None:
            body["errorCode"] = self.error_code
        return body


def _located(prefix: str, problem: str, location: str | None) -> str:
    # Auth0 (z-schema): "Payload validation error: 'Missing required property: email' on property invitee."
    if location:
        return f"{prefix} validation error: '{problem}' on property {location}."
    return f"{prefix} validation error: '{problem}'."


def bad_body(problem: str, location: str | None = None, *, raw: bool = False) -> ManagementApiError:
    """400 ``invalid_body``; ``raw`` messages (the seeds' fixed sentences) are used as they are."""
    message = problem if raw else _located("Payload", problem, location)
    return ManagementApiError(400, message, "invalid_body")


def bad_query(problem: str, location: str | None = None) -> ManagementApiError:
    return ManagementApiError(400, _located("Query", problem, location), "invalid_query_string")


def bad_path(problem: str, location: str | None = None) -> ManagementApiError:
    return ManagementApiError(400, _located("Path", problem, location), "invalid_uri")


def invalid_paging() -> ManagementApiError:
    return ManagementApiError(400, "Requesting page exceeds the allowed maximum of 1000 records.", "invalid_paging")


def unauthorized(message: str) -> ManagementApiError:
    # RFC 6750 asks for a challenge on 401; the body is Auth0's, without an errorCode (see the module docstring).
    return ManagementApiError(401, message, None, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def forbidden_scope(*scopes: str) -> ManagementApiError:
    return ManagementApiError(403, f"Insufficient scope, expected any of: {','.join(scopes)}", "insufficient_scope")


def not_found(message: str, error_code: str) -> ManagementApiError:
    return ManagementApiError(404, message, error_code)


def conflict(message: str, error_code: str) -> ManagementApiError:
    return ManagementApiError(409, message, error_code)


def too_many_requests() -> ManagementApiError:
    return ManagementApiError(429, "Global limit has been reached", "too_many_requests")
