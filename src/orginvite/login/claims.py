"""The organization rules for ID tokens, as pure functions.

Auth0 puts ``org_id`` (and ``org_name`` when names are allowed) in the ID token of a login through an
organization: https://auth0.com/docs/manage-users/organizations/using-tokens

Auth0's SDKs forward ``organization`` to ``/authorize`` and then forget to check what comes back, so a token for
another organization is accepted. The login flow binds the expected organization into the transaction and calls
:func:`check_organization` at the callback; there is no other way to a session.

The claims come from a verified token, but their *shape* is still untrusted (another provider, a custom Action):
a list, a number or ``None`` where a string is expected is a failed check, never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orginvite.errors import OrganizationClaimError

__all__ = ["check_host_organization", "check_organization", "organization_of"]

_SHOWN = 100  # longest claim value kept on the error (for logs); claims are not secrets but may be huge


def _text(value: Any) -> str | None:
    """A claim value when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def organization_of(claims: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(org_id, org_name)`` from the claims; ``None`` for a missing, empty or non-string claim."""
    if not isinstance(claims, Mapping):
        return None, None
    return _text(claims.get("org_id")), _text(claims.get("org_name"))


def check_organization(claims: Mapping[str, Any], expected: str | None, *, require: bool = False) -> None:
    """Raise :class:`OrganizationClaimError` unless the token belongs to the expected organization.

    ``expected`` is what was sent to ``/authorize`` (an ID when it starts with ``org_``, otherwise a name);
    ``None`` means no organization was requested, which passes unless ``require`` asks every login to carry an
    ``org_id``. An empty or non-string ``expected`` is a programming error (``ValueError``): silently treating it as
    "no organization" would turn a bug into a bypass.
    """
    if expected is not None and (not isinstance(expected, str) or not expected):
        raise ValueError("expected organization must be a non-empty string or None")
    org_id, org_name = organization_of(claims)
    if expected is None:
        if require and org_id is None:
            raise OrganizationClaimError(
                None, None, "The ID token carries no organization, but this application requires one."
            )
        return
    if expected.startswith("org_"):
        if org_id is None:
            raise OrganizationClaimError(expected, None, "The ID token carries no organization ID (org_id claim).")
        if org_id != expected:
            raise OrganizationClaimError(
                expected, org_id[:_SHOWN], "The ID token belongs to another organization than the one requested."
            )
        return
    wanted = expected.lower()
    if org_name is None:
        raise OrganizationClaimError(
            expected, None, "The ID token carries no organization name (org_name claim)."
        )
    if org_name != wanted:
        raise OrganizationClaimError(
            expected, org_name[:_SHOWN], "The ID token belongs to another organization than the one requested."
        )


def check_host_organization(claims: Mapping[str, Any], name: str, org_id: str | None = None) -> None:
    """Raise :class:`OrganizationClaimError` unless the token belongs to the organization whose host (or path) the
    login started on (multi-tenant routing): a session made on ``acme.myapp.com`` must be an Acme session.

    ``org_id`` is the host's organization ID when it was looked up (Management API); then ``org_id`` must match.
    The ``org_name`` claim, when present, must equal ``name``. With neither an ID to compare nor an ``org_name``
    claim the token cannot be tied to the host, which is a failure, not a pass.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("the host's organization name must be a non-empty string")
    token_id, token_name = organization_of(claims)
    if org_id is not None and token_id != org_id:
        raise OrganizationClaimError(
            org_id, None if token_id is None else token_id[:_SHOWN],
            "The ID token belongs to another organization than the host it was requested on.",
        )
    if token_name is not None and token_name != name.lower():
        raise OrganizationClaimError(
            name, token_name[:_SHOWN], "The ID token belongs to another organization than the host it was requested on."
        )
    if org_id is None and token_name is None:
        raise OrganizationClaimError(
            name, None, "The ID token carries no organization name (org_name claim) to compare with the host's."
        )
