"""The dev tenant's state, in SQLite through the standard library.

CONTRACT (written before the implementation so the OIDC side and the Management API side can be built in
parallel): the public method names, arguments and return shapes below are fixed. Records are plain dicts in
Auth0's JSON shape (the Management API returns them as they are), never with password hashes. Lists return
``(items, total)`` so that the API layer does Auth0's paging. Every method is thread-safe (one connection, one
lock; WAL for files) and every multi-row change is one SQL transaction, so concurrent invitation acceptances
lose nothing. ``path=":memory:"`` for tests, a file otherwise; nothing is lost across a restart.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

Record = dict[str, Any]


class StoreError(Exception):
    """Base of the store's errors."""


class ConflictError(StoreError):
    """A unique field (organization name, user email, role name, id) is taken."""


class NotFoundError(StoreError):
    """A referenced record does not exist."""


class Store:
    def __init__(self, path: str | Path = ":memory:") -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # -- tenant settings: friendly_name, support_email, support_url, default_locale,
    #    allow_organization_name_in_authentication_api, plus anything else the config adds
    def get_tenant(self) -> Record:
        raise NotImplementedError

    def set_tenant(self, settings: Record) -> None:
        raise NotImplementedError

    # -- clients (applications): client_id, client_secret, name, app_type ("regular_web" | "non_interactive"),
    #    callbacks, allowed_logout_urls, initiate_login_uri, organization_usage, organization_require_behavior,
    #    grant_types, scopes (Management API scopes a machine-to-machine client is granted)
    def put_client(self, client: Record) -> None:
        """Insert or replace by client_id."""
        raise NotImplementedError

    def get_client(self, client_id: str) -> Record | None:
        raise NotImplementedError

    def list_clients(self) -> list[Record]:
        raise NotImplementedError

    # -- connections: id ("con_..."), name, strategy ("auth0")
    def put_connection(self, connection: Record) -> None:
        raise NotImplementedError

    def get_connection(self, connection_id: str) -> Record | None:
        raise NotImplementedError

    def get_connection_by_name(self, name: str) -> Record | None:
        raise NotImplementedError

    def list_connections(self) -> list[Record]:
        raise NotImplementedError

    # -- organizations: id ("org_" + 16 alphanumerics, generated when None), name, display_name,
    #    branding {logo_url, colors {primary, page_background}}, metadata
    def create_organization(
        self,
        name: str,
        display_name: str | None = None,
        branding: Record | None = None,
        metadata: dict[str, str] | None = None,
        id: str | None = None,
    ) -> Record:
        """Raises ConflictError when the name or id is taken."""
        raise NotImplementedError

    def get_organization(self, org_id: str) -> Record | None:
        raise NotImplementedError

    def get_organization_by_name(self, name: str) -> Record | None:
        raise NotImplementedError

    def list_organizations(self, offset: int = 0, limit: int = 50) -> tuple[list[Record], int]:
        raise NotImplementedError

    def delete_organization(self, org_id: str) -> bool:
        """Also removes its memberships, member roles, invitations and enabled connections."""
        raise NotImplementedError

    def enable_connection(self, org_id: str, connection_id: str, assign_membership_on_login: bool = False) -> Record:
        """Returns {connection_id, assign_membership_on_login, connection: {name, strategy}}."""
        raise NotImplementedError

    def list_enabled_connections(self, org_id: str) -> list[Record]:
        raise NotImplementedError

    # -- roles: id ("rol_" + 16 alphanumerics, generated when None), name, description
    def create_role(self, name: str, description: str = "", id: str | None = None) -> Record:
        raise NotImplementedError

    def get_role(self, role_id: str) -> Record | None:
        raise NotImplementedError

    def list_roles(self, offset: int = 0, limit: int = 50) -> tuple[list[Record], int]:
        raise NotImplementedError

    # -- users: user_id ("auth0|" + 24 hex, generated when None), email (unique, case-insensitive), email_verified,
    #    name, nickname, picture, user_metadata, app_metadata, created_at, updated_at, last_login, logins_count,
    #    identities [{connection, provider: "auth0", user_id, isSocial: false}]. Passwords are stored as a
    #    standard KDF hash (hashlib.scrypt with a per-user salt) and never returned.
    def create_user(
        self,
        email: str,
        password: str | None = None,
        name: str | None = None,
        user_metadata: Record | None = None,
        app_metadata: Record | None = None,
        user_id: str | None = None,
        connection: str = "Username-Password-Authentication",
        email_verified: bool = False,
    ) -> Record:
        """Raises ConflictError when the email or user_id is taken."""
        raise NotImplementedError

    def get_user(self, user_id: str) -> Record | None:
        raise NotImplementedError

    def get_user_by_email(self, email: str) -> Record | None:
        raise NotImplementedError

    def verify_password(self, email: str, password: str) -> Record | None:
        """The user when the password matches (constant-time compare), else None."""
        raise NotImplementedError

    def record_login(self, user_id: str) -> None:
        """Sets last_login and increments logins_count."""
        raise NotImplementedError

    # -- memberships and member roles
    def add_members(self, org_id: str, user_ids: Iterable[str]) -> None:
        """Idempotent. Raises NotFoundError naming the first unknown organization or user."""
        raise NotImplementedError

    def remove_members(self, org_id: str, user_ids: Iterable[str]) -> None:
        """Also removes those members' roles in that organization."""
        raise NotImplementedError

    def is_member(self, org_id: str, user_id: str) -> bool:
        raise NotImplementedError

    def list_members(self, org_id: str, offset: int = 0, limit: int = 50) -> tuple[list[Record], int]:
        """Items: {user_id, email, picture, name}, ordered by user_id."""
        raise NotImplementedError

    def list_members_from(self, org_id: str, from_: str | None, take: int) -> tuple[list[Record], str | None]:
        """Checkpoint paging: items after the opaque checkpoint ``from_``, and the next checkpoint or None."""
        raise NotImplementedError

    def list_user_organizations(self, user_id: str, offset: int = 0, limit: int = 50) -> tuple[list[Record], int]:
        raise NotImplementedError

    def add_member_roles(self, org_id: str, user_id: str, role_ids: Iterable[str]) -> None:
        """Idempotent. Raises NotFoundError for an unknown role or a user who is not a member."""
        raise NotImplementedError

    def remove_member_roles(self, org_id: str, user_id: str, role_ids: Iterable[str]) -> None:
        raise NotImplementedError

    def list_member_roles(
        self, org_id: str, user_id: str, offset: int = 0, limit: int = 50
    ) -> tuple[list[Record], int]:
        """Items: {id, name, description}."""
        raise NotImplementedError

    # -- invitations, in the Management API's shape: id ("uinv_..."), organization_id, inviter {name},
    #    invitee {email}, invitation_url, created_at, expires_at (ISO 8601 "Z"), client_id, connection_id,
    #    app_metadata, user_metadata, roles [role ids], ticket_id, plus send_invitation_email (stored, not
    #    returned by the API). The API layer generates ids, tickets and the URL; the store keeps them.
    def create_invitation(self, invitation: Record) -> Record:
        raise NotImplementedError

    def get_invitation(self, org_id: str, invitation_id: str) -> Record | None:
        raise NotImplementedError

    def get_invitation_by_ticket(self, ticket_id: str) -> Record | None:
        """Whatever its expiry: the caller decides what an expired invitation means."""
        raise NotImplementedError

    def list_invitations(self, org_id: str, offset: int = 0, limit: int = 50) -> tuple[list[Record], int]:
        """Newest first."""
        raise NotImplementedError

    def delete_invitation(self, org_id: str, invitation_id: str) -> bool:
        raise NotImplementedError

    def delete_invitations_for_email(self, org_id: str, email: str) -> int:
        """A new invitation for the same email revokes the older ones (Auth0's behaviour)."""
        raise NotImplementedError

    def accept_invitation(self, invitation_id: str, user_id: str) -> bool:
        """In one transaction: make the user a member, give the invitation's roles, delete the invitation.

        False when the invitation was already gone (used concurrently), and then nothing changes.
        """
        raise NotImplementedError

    # -- transient single-use records (authorization codes, refresh tokens, pending /authorize requests,
    #    hosted-page CSRF state): JSON values with an expiry; expired ones behave as absent
    def put_transient(self, kind: str, key: str, value: Record, ttl_seconds: float) -> None:
        raise NotImplementedError

    def get_transient(self, kind: str, key: str) -> Record | None:
        raise NotImplementedError

    def take_transient(self, kind: str, key: str) -> Record | None:
        """Atomic get-and-delete: of two concurrent takers exactly one gets the value (single-use codes)."""
        raise NotImplementedError

    def delete_transient(self, kind: str, key: str) -> None:
        raise NotImplementedError

    # -- signing keys (private JWKs as dicts, newest first) so that a restart keeps issued tokens valid
    def save_signing_keys(self, keys: list[Record]) -> None:
        raise NotImplementedError

    def load_signing_keys(self) -> list[Record]:
        raise NotImplementedError
