"""The Management API wing: the client (:mod:`~orginvite.management.client`), its errors, inviting people one at a
time (:mod:`~orginvite.management.invite`, :mod:`~orginvite.management.mailer`) or from a CSV
(:mod:`~orginvite.management.bulk`, :mod:`~orginvite.management.bulk_runner`, the ``orginvite invite`` command in
:mod:`~orginvite.management.cli`).

Rule of the wing: it knows nothing of ASGI requests and imports nothing of :mod:`orginvite.login` or
:mod:`orginvite.sessions`. The names below are its public API (``from orginvite.management import invite``).
"""

from orginvite.management.client import ManagementClient, Page, normalize_issuer
from orginvite.management.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InvalidResponseError,
    InvitationEmailError,
    ManagementAPIError,
    ManagementConnectionError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnauthorizedError,
)
from orginvite.management.invite import InviteResult, invite, resend_invitation, revoke_invitation

__all__ = [
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "InvalidResponseError",
    "InvitationEmailError",
    "InviteResult",
    "ManagementAPIError",
    "ManagementClient",
    "ManagementConnectionError",
    "NotFoundError",
    "Page",
    "RateLimitError",
    "ServerError",
    "UnauthorizedError",
    "invite",
    "normalize_issuer",
    "resend_invitation",
    "revoke_invitation",
]
