"""Errors of the Management API client.

Auth0 answers failures with ``{"statusCode": 404, "error": "Not Found", "message": "...", "errorCode": "..."}``
and the token endpoint with ``{"error": "access_denied", "error_description": "..."}``. Both are kept on the
exception as they came (``status_code``, ``error``, ``message``, ``error_code``) so callers can branch on Auth0's
stable ``errorCode`` rather than on prose, and the class says what kind of failure it is without a status table.
Messages never contain an access token, a client secret or an invitation ticket.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orginvite.errors import OrgInviteError

__all__ = [
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "InvalidResponseError",
    "InvitationEmailError",
    "ManagementAPIError",
    "ManagementConnectionError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "UnauthorizedError",
    "error_from_response",
]

_MAX_MESSAGE = 500  # an HTML error page from a proxy must not become a 50 kB exception message


class ManagementAPIError(OrgInviteError):
    """The Management API (or its token endpoint) refused a request, or answered with something unusable."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error: str | None = None,
        error_code: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.error = error
        self.message = message
        self.error_code = error_code
        self.method = method
        self.path = path
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = []
        if self.method and self.path:
            parts.append(f"{self.method} {self.path}")
        if self.status_code is not None:
            parts.append(f"{self.status_code}" + (f" {self.error}" if self.error else ""))
        head = " -> ".join(parts)
        code = f" [{self.error_code}]" if self.error_code else ""
        return f"{head}: {self.message}{code}" if head else f"{self.message}{code}"


class BadRequestError(ManagementAPIError):
    """400: the body or query string was invalid (``invalid_body``, ``invalid_query_string``, unknown role...)."""


class UnauthorizedError(ManagementAPIError):
    """401: bad client credentials, or a token the API does not accept even after one refresh."""


class ForbiddenError(ManagementAPIError):
    """403: usually ``insufficient_scope``: the machine-to-machine app lacks a Management API scope."""


class NotFoundError(ManagementAPIError):
    """404: no such organization, user, invitation or role."""


class ConflictError(ManagementAPIError):
    """409: a unique field (organization name, user email) is taken."""


class RateLimitError(ManagementAPIError):
    """429 after the bounded retries, or a reset time further away than the client is willing to wait.

    ``retry_after`` is the number of seconds the API asked for (None when it gave no hint).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(ManagementAPIError):
    """5xx: the API failed; the request may be retried later."""


class InvalidResponseError(ManagementAPIError):
    """The API answered with a body that is not the JSON we expect (an HTML page from a proxy, garbage...)."""


class ManagementConnectionError(ManagementAPIError):
    """The API could not be reached (DNS, refused connection, TLS, timeout)."""


class InvitationEmailError(OrgInviteError):
    """The invitation was created but its email could not be rendered or sent.

    The invitation is NOT lost: ``invitation_id`` and ``organization_id`` name it, and the email can be sent again
    with :func:`orginvite.management.invite.resend_invitation`, which renews it (or the invitation revoked).
    """

    def __init__(self, invitation_id: str, organization_id: str, email: str, cause: BaseException) -> None:
        self.invitation_id = invitation_id
        self.organization_id = organization_id
        self.email = email
        self.cause = cause
        super().__init__(
            f"invitation {invitation_id} for {email} exists in organization {organization_id}, but its email "
            f"could not be sent ({type(cause).__name__}: {_truncate(str(cause))}); it can be re-sent"
        )


_BY_STATUS: dict[int, type[ManagementAPIError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def error_class_for(status_code: int) -> type[ManagementAPIError]:
    if status_code in _BY_STATUS:
        return _BY_STATUS[status_code]
    if status_code >= 500:
        return ServerError
    return ManagementAPIError


def _truncate(text: str, limit: int = _MAX_MESSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def error_from_response(
    status_code: int,
    body: bytes,
    *,
    method: str | None = None,
    path: str | None = None,
    retry_after: float | None = None,
) -> ManagementAPIError:
    """Build the typed error for a failed response, whatever its body looks like.

    Understands Auth0's Management API shape and the OAuth token endpoint shape; anything else (HTML, text,
    invalid JSON, JSON of another shape) still gives an error of the right class with a readable message.
    """
    cls = error_class_for(status_code)
    kwargs: dict[str, Any] = {"status_code": status_code, "method": method, "path": path}
    if cls is RateLimitError:
        kwargs["retry_after"] = retry_after
    payload: Any = None
    try:
        payload = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError, RecursionError):  # nested past ~1000 levels: RecursionError
        payload = None
    if isinstance(payload, Mapping):
        message = (
            _str_or_none(payload.get("message"))
            or _str_or_none(payload.get("error_description"))
            or _str_or_none(payload.get("error"))
            or "no message"
        )
        error = _str_or_none(payload.get("error"))
        error_code = _str_or_none(payload.get("errorCode"))
        if error_code is None and "error_description" in payload:
            error_code = error  # OAuth shape: "error" is the machine-readable code (access_denied, ...)
        return cls(_truncate(message), error=error, error_code=error_code, **kwargs)
    if body:
        snippet = _truncate(body.decode("utf-8", "replace"), 200)
        return cls(f"unexpected non-JSON error body: {snippet!r}", **kwargs)
    return cls("empty error body", **kwargs)
