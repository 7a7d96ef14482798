"""The error hierarchy.

Every error orginvite raises derives from :class:`OrgInviteError`, so host apps can catch one class.
Subsystems subclass the branch that fits instead of inventing parallel roots.
"""

from __future__ import annotations


class OrgInviteError(Exception):
    """Base class of every orginvite error."""


class ConfigurationError(OrgInviteError, ValueError):
    """A setting is missing or malformed; raised at start-up, naming the setting."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")


class InvalidLinkError(OrgInviteError, ValueError):
    """The login query (invitation link) is malformed: answered with a 400 page, never a redirect.

    ``code`` is stable and machine-readable (``missing_organization``, ``repeated_parameter``, ...);
    ``field`` names the query parameter at fault. The message never contains the ticket.
    """

    def __init__(self, code: str, field: str | None, message: str) -> None:
        self.code = code
        self.field = field
        super().__init__(message)


class InvalidCookieError(OrgInviteError):
    """A signed cookie is missing, tampered with, signed by an unknown key or expired."""

    def __init__(self, reason: str) -> None:
        self.reason = reason  # "missing" | "tampered" | "expired" | "malformed"
        super().__init__(f"cookie {reason}")


class SessionTooLarge(OrgInviteError):
    """The session would not fit in a cookie that browsers keep and the reader accepts, even after shedding the
    picture and most roles; the callback answers a page instead of a cookie the browser would drop."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"session cookie of {size} bytes, over the {limit} a browser keeps")


class ProviderError(OrgInviteError):
    """The identity provider is unreachable, slow, or answered with something we cannot use (a 502 page)."""


class TokenError(OrgInviteError):
    """The ID token failed verification (signature, iss, aud, azp, exp, iat, nonce)."""


class OrganizationClaimError(TokenError):
    """The ID token's organization claim is missing or names another organization than the one bound at login."""

    def __init__(self, expected: str | None, actual: str | None, message: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class CallbackError(OrgInviteError):
    """The provider sent the invitee back with ``error=``; ``kind`` says what the invitee should do.

    Kinds: ``invitation_invalid``, ``wrong_account``, ``not_a_member``, ``organization_required``,
    ``organization_invalid``, ``access_denied``, ``other``. The provider's description is kept for logs only.
    """

    def __init__(self, kind: str, error: str, description: str = "") -> None:
        self.kind = kind
        self.error = error
        self.description = description
        super().__init__(f"{kind} ({error})")


class SessionExpired(OrgInviteError):
    """The session can no longer give an access token: none was kept and it expired, the provider refused the
    refresh (``invalid_grant``: revoked, expired, reused), or the refresh came back for another organization.
    The session is cleared (the response drops its cookie); the app sends the user to sign in again.
    ``reason``: ``"no_session"``, ``"no_refresh_token"``, ``"refresh_refused"``, ``"organization_changed"``."""

    def __init__(self, reason: str, message: str = "") -> None:
        self.reason = reason
        super().__init__(message or f"session expired ({reason})")


class SessionStoreError(OrgInviteError):
    """The configured session store (SQLite, Redis) is unreachable or failed: a 503 page, never an anonymous
    user and never a 500."""
