"""The dev tenant's state, in SQLite through the standard library.

CONTRACT (written before the implementation so the OIDC side and the Management API side can be built in
parallel): the public method names, arguments and return shapes below are fixed. Records are plain dicts in
Auth0's JSON shape (the Management API returns them as they are), never with password hashes. Lists return
``(items, total)`` so that the API layer does Auth0's paging. Every method is thread-safe (one connection, one
lock; WAL for files) and every multi-row change is one SQL transaction, so concurrent invitation acceptances
lose nothing. ``path=":memory:"`` for tests, a file otherwise; nothing is lost across a restart.

Extensions beyond the contract: ``Store(path, clock=...)`` (the clock that dates records and expires
transients, so tests can move time), ``update_user``, ``set_password``, ``list_users``, ``delete_user``,
``get_role_by_name``, ``delete_role``, ``delete_client``, ``disable_connection``, ``count_attempt``, and the helpers
``generate_id``, ``generate_user_id``, ``generate_ticket`` and ``iso8601``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Record = dict[str, Any]

__all__ = [
    "ConflictError",
    "InvalidCheckpointError",
    "NotFoundError",
    "Record",
    "Store",
    "StoreError",
    "generate_id",
    "generate_ticket",
    "generate_user_id",
    "iso8601",
]


class StoreError(Exception):
    """Base of the store's errors."""


class ConflictError(StoreError):
    """A unique field (organization name, user email, role name, id) is taken."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class NotFoundError(StoreError):
    """A referenced record does not exist."""

    def __init__(self, message: str, *, kind: str | None = None, id: str | None = None) -> None:
        self.kind = kind
        self.id = id
        super().__init__(message)


class InvalidCheckpointError(StoreError, ValueError):
    """A ``from`` checkpoint was not one this store handed out (the API answers 400 invalid_query_string)."""


_ALPHANUMERIC = string.ascii_letters + string.digits


def generate_id(prefix: str, length: int = 16) -> str:
    """Auth0-shaped ID: ``org_``, ``rol_``, ``uinv_``, ``con_`` followed by random alphanumerics."""
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def generate_user_id() -> str:
    """A database-connection user ID, ``auth0|`` + 24 hex digits, like Auth0's."""
    return "auth0|" + secrets.token_hex(12)


def generate_ticket() -> str:
    """An invitation ticket: opaque, URL-safe, unguessable."""
    return secrets.token_urlsafe(24)


def iso8601(timestamp: float) -> str:
    """Auth0's timestamp format: UTC with milliseconds and a ``Z``."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# scrypt cost: ~16 MiB and tens of milliseconds per hash, the interactive-login parameters the scrypt paper suggests
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_DKLEN = 2**14, 8, 1, 32


def _hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=_SCRYPT_DKLEN
    )
    encode = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"


def _check_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = encoded.split("$")
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


# A hash to check against when the email is unknown, so that a missing user costs as much time as a wrong password.
_DUMMY_HASH = _hash_password("orginvite-dummy-password", salt=b"\x00" * 16)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS connections (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, strategy TEXT NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS organizations (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
    branding TEXT NOT NULL, metadata TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS organization_connections (
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    assign_membership_on_login INTEGER NOT NULL,
    PRIMARY KEY (org_id, connection_id)
);
CREATE TABLE IF NOT EXISTS roles (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, user_id)
);
CREATE TABLE IF NOT EXISTS member_roles (
    org_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, user_id, role_id),
    FOREIGN KEY (org_id, user_id) REFERENCES members(org_id, user_id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS invitations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    ticket_id TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invitations_by_org ON invitations (org_id, seq);
CREATE TABLE IF NOT EXISTS transients (
    kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS resource_servers (
    identifier TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS role_permissions (
    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    resource_server_identifier TEXT NOT NULL,
    permission_name TEXT NOT NULL,
    PRIMARY KEY (role_id, resource_server_identifier, permission_name)
);
CREATE TABLE IF NOT EXISTS refresh_families (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, user_id TEXT NOT NULL, data TEXT NOT NULL,
    created_at REAL NOT NULL, expires_at REAL, generation INTEGER NOT NULL, rotated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES refresh_families(id) ON DELETE CASCADE,
    generation INTEGER NOT NULL, issued_at REAL NOT NULL, last_used_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS refresh_tokens_by_family ON refresh_tokens (family_id);
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _normalize_email(email: str) -> str:
    # Auth0 database connections store emails lower-cased; comparing invitees to users relies on it.
    return email.strip().lower()


class Store:
    def __init__(self, path: str | Path = ":memory:", *, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self._clock = clock
        self._lock = threading.RLock()
        # One connection shared by all threads: the RLock serializes use, so check_same_thread is not needed.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA busy_timeout = 10000")
            if self.path != ":memory:" and not self.path.startswith("file::memory:"):
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One SQL transaction under the lock; IMMEDIATE so a second process cannot interleave its writes."""
        with self._lock:
            if self._db.in_transaction:  # nested use inside another method's transaction
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchone()

    def _all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def _count(self, sql: str, params: Iterable[Any] = ()) -> int:
        row = self._one(sql, params)
        return int(row[0]) if row else 0

    def _now_iso(self) -> str:
        return iso8601(self._clock())

    @staticmethod
    def _page(offset: int, limit: int) -> tuple[int, int]:
        return max(0, int(offset)), max(0, int(limit))

    # -- tenant settings: friendly_name, support_email, support_url, default_locale,
    #    allow_organization_name_in_authentication_api, plus anything else the config adds
    def get_tenant(self) -> Record:
        row = self._one("SELECT value FROM meta WHERE key = 'tenant'")
        return json.loads(row["value"]) if row else {}

    def set_tenant(self, settings: Record) -> None:
        """Replaces the settings as a whole (the config is the source of truth)."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('tenant', ?)", (_dumps(dict(settings)),))

    # -- clients (applications): client_id, client_secret, name, app_type ("regular_web" | "non_interactive"),
    #    callbacks, allowed_logout_urls, initiate_login_uri, organization_usage, organization_require_behavior,
    #    grant_types, scopes (Management API scopes a machine-to-machine client is granted)
    def put_client(self, client: Record) -> None:
        """Insert or replace by client_id."""
        client_id = client.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise StoreError("a client needs a client_id")
        with self._tx() as db:
            db.execute(
                "INSERT INTO clients (client_id, seq, data)"
                " VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM clients), ?)"
                " ON CONFLICT (client_id) DO UPDATE SET data = excluded.data",
                (client_id, _dumps(dict(client))),
            )

    def get_client(self, client_id: str) -> Record | None:
        row = self._one("SELECT data FROM clients WHERE client_id = ?", (client_id,))
        return json.loads(row["data"]) if row else None

    def list_clients(self) -> list[Record]:
        return [json.loads(row["data"]) for row in self._all("SELECT data FROM clients ORDER BY seq")]

    def delete_client(self, client_id: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM clients WHERE client_id = ?", (client_id,)).rowcount > 0

    # -- connections: id ("con_..."), name, strategy ("auth0")
    def put_connection(self, connection: Record) -> None:
        """Insert or update by id (an id is generated when missing); the name must stay unique."""
        record = dict(connection)
        record["id"] = record.get("id") or generate_id("con_")
        record.setdefault("strategy", "auth0")
        name = record.get("name")
        if not isinstance(name, str) or not name:
            raise StoreError("a connection needs a name")
        with self._tx() as db:
            taken = db.execute("SELECT id FROM connections WHERE name = ? AND id != ?", (name, record["id"])).fetchone()
            if taken:
                raise ConflictError(f"a connection named {name!r} already exists", field="name")
            # An upsert, not INSERT OR REPLACE: a replace would delete the row and cascade to organizations.
            db.execute(
                "INSERT INTO connections (id, name, strategy, data) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE"
                " SET name = excluded.name, strategy = excluded.strategy, data = excluded.data",
                (record["id"], name, record["strategy"], _dumps(record)),
            )

    def get_connection(self, connection_id: str) -> Record | None:
        row = self._one("SELECT data FROM connections WHERE id = ?", (connection_id,))
        return json.loads(row["data"]) if row else None

    def get_connection_by_name(self, name: str) -> Record | None:
        row = self._one("SELECT data FROM connections WHERE name = ?", (name,))
        return json.loads(row["data"]) if row else None

    def list_connections(self) -> list[Record]:
        return [json.loads(row["data"]) for row in self._all("SELECT data FROM connections ORDER BY name")]

    # -- organizations: id ("org_" + 16 alphanumerics, generated when None), name, display_name,
    #    branding {logo_url, colors {primary, page_background}}, metadata
    @staticmethod
    def _organization(row: sqlite3.Row) -> Record:
        record: Record = {"id": row["id"], "name": row["name"], "display_name": row["display_name"]}
        branding = json.loads(row["branding"])
        if branding:
            record["branding"] = branding
        record["metadata"] = json.loads(row["metadata"])
        return record

    def create_organization(
        self,
        name: str,
        display_name: str | None = None,
        branding: Record | None = None,
        metadata: dict[str, str] | None = None,
        id: str | None = None,
    ) -> Record:
        """Raises ConflictError when the name or id is taken. ``display_name`` defaults to the name."""
        org_id = id or generate_id("org_")
        with self._tx() as db:
            if db.execute("SELECT 1 FROM organizations WHERE id = ?", (org_id,)).fetchone():
                raise ConflictError(f"an organization with id {org_id!r} already exists", field="id")
            if db.execute("SELECT 1 FROM organizations WHERE name = ?", (name,)).fetchone():
                raise ConflictError(f"an organization named {name!r} already exists", field="name")
            db.execute(
                "INSERT INTO organizations (id, name, display_name, branding, metadata) VALUES (?, ?, ?, ?, ?)",
                (org_id, name, display_name or name, _dumps(branding or {}), _dumps(metadata or {})),
            )
            row = db.execute("SELECT * FROM organizations WHERE id = ?", (org_id,)).fetchone()
        return self._organization(row)

    def get_organization(self, org_id: str) -> Record | None:
        row = self._one("SELECT * FROM organizations WHERE id = ?", (org_id,))
        return self._organization(row) if row else None

    def get_organization_by_name(self, name: str) -> Record | None:
        row = self._one("SELECT * FROM organizations WHERE name = ?", (name,))
        return self._organization(row) if row else None

    def list_organizations(self, offset: int = 0, limit: int = 50) -> tuple[list[Record], int]:
        """Ordered by name."""
        offset, limit = self._page(offset, limit)
        with self._lock:
            total = self._count("SELECT COUNT(*) AS n FROM organizations")
            rows = self._all("SELECT * FROM organizations ORDER BY name LIMIT ? OFFSET ?", (limit, offset))
        return [self._organization(row) for row in rows], total

    def update_organization(self, org_id: str, changes: Record) -> Record:
        """Replaces name, display_name, branding or metadata; NotFoundError, or ConflictError for a taken name."""
        allowed = {"name", "display_name", "branding", "metadata"}
        unknown = set(changes) - allowed
        if unknown:
            raise StoreError(f"cannot update {', '.join(sorted(unknown))}")
        with self._tx() as db:
            row = db.execute("SELECT * FROM organizations WHERE id = ?", (org_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"organization {org_id!r} not found", kind="organization", id=org_id)
            name = changes.get("name", row["name"])
            if name != row["name"] and db.execute("SELECT 1 FROM organizations WHERE name = ?", (name,)).fetchone():
                raise ConflictError(f"an organization named {name!r} already exists", field="name")
            db.execute(
                "UPDATE organizations SET name = ?, display_name = ?, branding = ?, metadata = ? WHERE id = ?",
                (
                    name,
                    changes.get("display_name", row["display_name"]),
                    _dumps(changes["branding"] or {}) if "branding" in changes else row["branding"],
                    _dumps(changes["metadata"] or {}) if "metadata" in changes else row["metadata"],
                    org_id,
                ),
            )
            row = db.execute("SELECT * FROM organizations WHERE id = ?", (org_id,)).fetchone()
        return self._organization(row)

    def delete_organization(self, org_id: str) -> bool:
        """Also removes its memberships, member roles, invitations and enabled connections."""
        with self._tx() as db:
            return db.execute("DELETE FROM organizations WHERE id = ?", (org_id,)).rowcount > 0

    def enable_connection(self, org_id: str, connection_id: str, assign_membership_on_login: bool = False) -> Record:
        """Returns {connection_id, assign_membership_on_login, connection: {name, strategy}}.

        Enabling an enabled connection again updates ``assign_membership_on_login``.
        """
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM organizations WHERE id = ?", (org_id,)).fetchone():
                raise NotFoundError(f"organization {org_id!r} not found", kind="organization", id=org_id)
            if not db.execute("SELECT 1 FROM connections WHERE id = ?", (connection_id,)).fetchone():
                raise NotFoundError(f"connection {connection_id!r} not found", kind="connection", id=connection_id)
            db.execute(
                "INSERT INTO organization_connections (org_id, connection_id, assign_membership_on_login)"
                " VALUES (?, ?, ?) ON CONFLICT (org_id, connection_id)"
                " DO UPDATE SET assign_membership_on_login = excluded.assign_membership_on_login",
                (org_id, connection_id, int(bool(assign_membership_on_login))),
            )
        return next(c for c in self.list_enabled_connections(org_id) if c["connection_id"] == connection_id)

    def disable_connection(self, org_id: str, connection_id: str) -> bool:
        with self._tx() as db:
            return (
                db.execute(
                    "DELETE FROM organization_connections WHERE org_id = ? AND connection_id = ?",
                    (org_id, connection_id),
                ).rowcount
                > 0
            )

    def list_enabled_connections(self, org_id: str) -> list[Record]:
        rows = self._all(
            "SELECT oc.connection_id, oc.assign_membership_on_login, c.name, c.strategy"
            " FROM organization_connections oc JOIN connections c ON c.id = oc.connection_id"
            " WHERE oc.org_id = ? ORDER BY c.name",
            (org_id,),
        )
        return [
            {
                "connection_id": row["connection_id"],
                "assign_membership_on_login": bool(row["assign_membership_on_login"]),
                "connection": {"name": row["name"], "strategy": row["strategy"]},
            }
            for row in rows
        ]

    # -- roles: id ("rol_" + 16 alphanumerics, generated when None), name, description
    @staticmethod
    def _role(row: sqlite3.Row) -> Record:
        return {"id": row["id"], "name": row["name"], "description": row["description"]}

    def create_role(self, name: str, description: str = "", id: str | None = None) -> Record:
        """Raises ConflictError when the name or id is taken."""
        role_id = id or generate_id("rol_")
        with self._tx() as db:
            if db.execute("SELECT 1 FROM roles WHERE id = ?", (role_id,)).fetchone():
                raise ConflictError(f"a role with id {role_id!r} already exists", field="id")
            if db.execute("SELECT 1 FROM roles WHERE name = ?", (name,)).fetchone():
                raise ConflictError(f"a role named {name!r} already exists", field="name")
            db.execute("INSERT INTO roles (id, name, description) VALUES (?, ?, ?)", (role_id, name, description))
        return {"id": role_id, "name": name, "description": description}

    def get_role(self, role_id: str) -> Record | None:
        row = self._one("SELECT * FROM roles WHERE id = ?", (role_id,))
        return self._role(row) if row else None

    def get_role_by_name(self, name: str) -> Record | None:
        row = self._one("SELECT * FROM roles WHERE name = ?", (name,))
        return self._role(row) if row else None

    def list_roles(self, offset: int = 0, limit: int = 50) -> tuple[list[Record], int]:
        """Ordered by name."""
        offset, limit = self._page(offset, limit)
        with self._lock:
            total = self._count("SELECT COUNT(*) AS n FROM roles")
            rows = self._all("SELECT * FROM roles ORDER BY name LIMIT ? OFFSET ?", (limit, offset))
        return [self._role(row) for row in rows], total

    def delete_role(self, role_id: str) -> bool:
        """Also takes the role away from every member who had it."""
        with self._tx() as db:
            return db.execute("DELETE FROM roles WHERE id = ?", (role_id,)).rowcount > 0

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
        """Raises ConflictError when the email or user_id is taken. The email is stored lower-cased."""
        email = _normalize_email(email)
        user_id = user_id or generate_user_id()
        # Hash outside the lock: scrypt is deliberately slow and must not stall every other request.
        password_hash = _hash_password(password) if password is not None else None
        now = self._now_iso()
        record: Record = {
            "user_id": user_id,
            "email": email,
            "email_verified": bool(email_verified),
            "name": name or email,
            "nickname": email.split("@", 1)[0],
            "picture": "https://s.gravatar.com/avatar/"
            + hashlib.md5(email.encode(), usedforsecurity=False).hexdigest()
            + "?s=480&r=pg&d=identicon",
            "user_metadata": dict(user_metadata or {}),
            "app_metadata": dict(app_metadata or {}),
            "created_at": now,
            "updated_at": now,
            "logins_count": 0,
            "identities": [
                {
                    "connection": connection,
                    "provider": "auth0",
                    "user_id": user_id.split("|", 1)[-1],
                    "isSocial": False,
                }
            ],
        }
        with self._tx() as db:
            if db.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone():
                raise ConflictError(f"a user with id {user_id!r} already exists", field="user_id")
            if db.execute("SELECT 1 FROM users WHERE email = ?", (email,)).fetchone():
                raise ConflictError("the user already exists", field="email")
            db.execute(
                "INSERT INTO users (user_id, email, password_hash, data) VALUES (?, ?, ?, ?)",
                (user_id, email, password_hash, _dumps(record)),
            )
        return record

    def get_user(self, user_id: str) -> Record | None:
        row = self._one("SELECT data FROM users WHERE user_id = ?", (user_id,))
        return json.loads(row["data"]) if row else None

    def get_user_by_email(self, email: str) -> Record | None:
        row = self._one("SELECT data FROM users WHERE email = ?", (_normalize_email(email),))
        return json.loads(row["data"]) if row else None

    def has_password(self, user_id: str) -> bool:
        row = self._one("SELECT password_hash FROM users WHERE user_id = ?", (user_id,))
        return bool(row and row["password_hash"])

    def list_users(self, offset: int = 0, limit: int = 50) -> tuple[list[Record], int]:
        """Ordered by email."""
        offset, limit = self._page(offset, limit)
        with self._lock:
            total = self._count("SELECT COUNT(*) AS n FROM users")
            rows = self._all("SELECT data FROM users ORDER BY email LIMIT ? OFFSET ?", (limit, offset))
        return [json.loads(row["data"]) for row in rows], total

    def update_user(self, user_id: str, changes: Record) -> Record:
        """Changes name, nickname, picture, given/family name, email_verified, blocked, user_metadata or app_metadata
        (replaced, not merged: merging is the Management API's rule, not the store's)."""
        allowed = {
            "name",
            "nickname",
            "picture",
            "given_name",
            "family_name",
            "email_verified",
            "blocked",
            "user_metadata",
            "app_metadata",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise StoreError(f"cannot update {', '.join(sorted(unknown))}")
        with self._tx() as db:
            row = db.execute("SELECT data FROM users WHERE user_id = ?", (user_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"user {user_id!r} not found", kind="user", id=user_id)
            record = json.loads(row["data"])
            record.update(changes)
            record["updated_at"] = self._now_iso()
            db.execute("UPDATE users SET data = ? WHERE user_id = ?", (_dumps(record), user_id))
        return record

    def set_password(self, user_id: str, password: str) -> None:
        password_hash = _hash_password(password)
        with self._tx() as db:
            if db.execute("UPDATE users SET password_hash = ? WHERE user_id = ?", (password_hash, user_id)).rowcount:
                return
        raise NotFoundError(f"user {user_id!r} not found", kind="user", id=user_id)

    def delete_user(self, user_id: str) -> bool:
        """Also removes the user's memberships and member roles."""
        with self._tx() as db:
            return db.execute("DELETE FROM users WHERE user_id = ?", (user_id,)).rowcount > 0

    def verify_password(self, email: str, password: str) -> Record | None:
        """The user when the password matches (constant-time compare), else None."""
        row = self._one("SELECT password_hash, data FROM users WHERE email = ?", (_normalize_email(email),))
        if row is None or not row["password_hash"]:
            _check_password(password, _DUMMY_HASH)  # same cost as a wrong password: no user enumeration by timing
            return None
        return json.loads(row["data"]) if _check_password(password, row["password_hash"]) else None

    def record_login(self, user_id: str) -> None:
        """Sets last_login and increments logins_count."""
        with self._tx() as db:
            row = db.execute("SELECT data FROM users WHERE user_id = ?", (user_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"user {user_id!r} not found", kind="user", id=user_id)
            record = json.loads(row["data"])
            record["last_login"] = self._now_iso()
            record["logins_count"] = int(record.get("logins_count", 0)) + 1
            db.execute("UPDATE users SET data = ? WHERE user_id = ?", (_dumps(record), user_id))

    # -- memberships and member roles
    def _require_organization(self, db: sqlite3.Connection, org_id: str) -> None:
        if not db.execute("SELECT 1 FROM organizations WHERE id = ?", (org_id,)).fetchone():
            raise NotFoundError(f"organization {org_id!r} not found", kind="organization", id=org_id)

    def add_members(self, org_id: str, user_ids: Iterable[str]) -> None:
        """Idempotent. Raises NotFoundError naming the first unknown organization or user."""
        user_ids = list(user_ids)
        with self._tx() as db:
            self._require_organization(db, org_id)
            for user_id in user_ids:
                if not db.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone():
                    raise NotFoundError(f"user {user_id!r} not found", kind="user", id=user_id)
            db.executemany(
                "INSERT OR IGNORE INTO members (org_id, user_id) VALUES (?, ?)",
                [(org_id, user_id) for user_id in user_ids],
            )

    def remove_members(self, org_id: str, user_ids: Iterable[str]) -> None:
        """Also removes those members' roles in that organization."""
        with self._tx() as db:
            db.executemany(
                "DELETE FROM members WHERE org_id = ? AND user_id = ?", [(org_id, user_id) for user_id in user_ids]
            )

    def is_member(self, org_id: str, user_id: str) -> bool:
        return self._one("SELECT 1 FROM members WHERE org_id = ? AND user_id = ?", (org_id, user_id)) is not None

    @staticmethod
    def _member(row: sqlite3.Row) -> Record:
        user = json.loads(row["data"])
        return {"user_id": user["user_id"], "email": user["email"], "picture": user["picture"], "name": user["name"]}

    def list_members(self, org_id: str, offset: int = 0, limit: int = 50) -> tuple[list[Record], int]:
        """Items: {user_id, email, picture, name}, ordered by user_id."""
        offset, limit = self._page(offset, limit)
        with self._lock:
            total = self._count("SELECT COUNT(*) AS n FROM members WHERE org_id = ?", (org_id,))
            rows = self._all(
                "SELECT u.data FROM members m JOIN users u ON u.user_id = m.user_id WHERE m.org_id = ?"
                " ORDER BY m.user_id LIMIT ? OFFSET ?",
                (org_id, limit, offset),
            )
        return [self._member(row) for row in rows], total

    def list_members_from(self, org_id: str, from_: str | None, take: int) -> tuple[list[Record], str | None]:
        """Checkpoint paging: items after the opaque checkpoint ``from_``, and the next checkpoint or None.

        The checkpoint is the last user_id handed out, base64url-encoded; a value this store could not have
        produced raises InvalidCheckpointError. The next checkpoint is None when nothing follows.
        """
        after = ""
        if from_:
            try:
                after = base64.urlsafe_b64decode(from_ + "=" * (-len(from_) % 4)).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
                raise InvalidCheckpointError("from: not a valid checkpoint") from exc
            if not after:
                raise InvalidCheckpointError("from: not a valid checkpoint")
        take = max(0, int(take))
        rows = self._all(
            "SELECT u.data FROM members m JOIN users u ON u.user_id = m.user_id WHERE m.org_id = ? AND m.user_id > ?"
            " ORDER BY m.user_id LIMIT ?",
            (org_id, after, take + 1),
        )
        items = [self._member(row) for row in rows[:take]]
        if len(rows) > take and items:
            checkpoint = base64.urlsafe_b64encode(items[-1]["user_id"].encode()).decode().rstrip("=")
            return items, checkpoint
        return items, None

    def list_user_organizations(self, user_id: str, offset: int = 0, limit: int = 50) -> tuple[list[Record], int]:
        """Ordered by organization name."""
        offset, limit = self._page(offset, limit)
        with self._lock:
            total = self._count("SELECT COUNT(*) AS n FROM members WHERE user_id = ?", (user_id,))
            rows = self._all(
                "SELECT o.* FROM members m JOIN organizations o ON o.id = m.org_id WHERE m.user_id = ?"
                " ORDER BY o.name LIMIT ? OFFSET ?",
                (user_id, limit, offset),
            )
        return [self._organization(row) for row in rows], total

    def add_member_roles(self, org_id: str, user_id: str, role_ids: Iterable[str]) -> None:
        """Idempotent. Raises NotFoundError for an unknown role or a user who is not a member."""
        role_ids = list(role_ids)
        with self._tx() as db:
            self._require_organization(db, org_id)
            if not db.execute("SELECT 1 FROM members WHERE org_id = ? AND user_id = ?", (org_id, user_id)).fetchone():
                raise NotFoundError(
                    f"user {user_id!r} is not a member of organization {org_id!r}", kind="member", id=user_id
                )
            for role_id in role_ids:
                if not db.execute("SELECT 1 FROM roles WHERE id = ?", (role_id,)).fetchone():
                    raise NotFoundError(f"role {role_id!r} not found", kind="role", id=role_id)
            db.executemany(
                "INSERT OR IGNORE INTO member_roles (org_id, user_id, role_id) VALUES (?, ?, ?)",
                [(org_id, user_id, role_id) for role_id in role_ids],
            )

    def remove_member_roles(self, org_id: str, user_id: str, role_ids: Iterable[str]) -> None:
        with self._tx() as db:
            db.executemany(
                "DELETE FROM member_roles WHERE org_id = ? AND user_id = ? AND role_id = ?",
                [(org_id, user_id, role_id) for role_id in role_ids],
            )

    def list_member_roles(
        self, org_id: str, user_id: str, offset: int = 0, limit: int = 50
    ) -> tuple[list[Record], int]:
        """Items: {id, name, description}, ordered by name."""
        offset, limit = self._page(offset, limit)
        with self._lock:
            total = self._count(
                "SELECT COUNT(*) AS n FROM member_roles WHERE org_id = ? AND user_id = ?", (org_id, user_id)
            )
            rows = self._all(
                "SELECT r.* FROM member_roles mr JOIN roles r ON r.id = mr.role_id"
                " WHERE mr.org_id = ? AND mr.user_id = ? ORDER BY r.name LIMIT ? OFFSET ?",
                (org_id, user_id, limit, offset),
            )
        return [self._role(row) for row in rows], total

    # -- invitations, in the Management API's shape: id ("uinv_..."), organization_id, inviter {name},
    #    invitee {email}, invitation_url, created_at, expires_at (ISO 8601 "Z"), client_id, connection_id,
    #    app_metadata, user_metadata, roles [role ids], ticket_id, plus send_invitation_email (stored, not
    #    returned by the API). The API layer generates ids, tickets and the URL; the store keeps them.
    def create_invitation(self, invitation: Record) -> Record:
        """Stores the record as given; ``id``, ``ticket_id`` and ``created_at`` are filled in when missing.

        Raises NotFoundError for an unknown organization_id and ConflictError for a taken id or ticket.
        """
        record = dict(invitation)
        record["id"] = record.get("id") or generate_id("uinv_")
        record["ticket_id"] = record.get("ticket_id") or generate_ticket()
        record.setdefault("created_at", self._now_iso())
        org_id = record.get("organization_id")
        email = (record.get("invitee") or {}).get("email")
        if not isinstance(org_id, str) or not isinstance(email, str):
            raise StoreError("an invitation needs organization_id and invitee.email")
        with self._tx() as db:
            self._require_organization(db, org_id)
            if db.execute("SELECT 1 FROM invitations WHERE id = ?", (record["id"],)).fetchone():
                raise ConflictError(f"an invitation with id {record['id']!r} already exists", field="id")
            if db.execute("SELECT 1 FROM invitations WHERE ticket_id = ?", (record["ticket_id"],)).fetchone():
                raise ConflictError("the ticket is taken", field="ticket_id")
            db.execute(
                "INSERT INTO invitations (id, org_id, ticket_id, email, seq, data)"
                " VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM invitations), ?)",
                (record["id"], org_id, record["ticket_id"], _normalize_email(email), _dumps(record)),
            )
        return record

    def get_invitation(self, org_id: str, invitation_id: str) -> Record | None:
        row = self._one("SELECT data FROM invitations WHERE org_id = ? AND id = ?", (org_id, invitation_id))
        return json.loads(row["data"]) if row else None

    def get_invitation_by_ticket(self, ticket_id: str) -> Record | None:
        """Whatever its expiry: the caller decides what an expired invitation means."""
        row = self._one("SELECT data FROM invitations WHERE ticket_id = ?", (ticket_id,))
        return json.loads(row["data"]) if row else None

    def list_invitations(self, org_id: str, offset: int = 0, limit: int = 50) -> tuple[list[Record], int]:
        """Newest first (expired ones included: the caller filters)."""
        offset, limit = self._page(offset, limit)
        with self._lock:
            total = self._count("SELECT COUNT(*) AS n FROM invitations WHERE org_id = ?", (org_id,))
            rows = self._all(
                "SELECT data FROM invitations WHERE org_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
                (org_id, limit, offset),
            )
        return [json.loads(row["data"]) for row in rows], total

    def delete_invitation(self, org_id: str, invitation_id: str) -> bool:
        with self._tx() as db:
            return (
                db.execute("DELETE FROM invitations WHERE org_id = ? AND id = ?", (org_id, invitation_id)).rowcount > 0
            )

    def delete_invitations_for_email(self, org_id: str, email: str) -> int:
        """A new invitation for the same email revokes the older ones (Auth0's behaviour)."""
        with self._tx() as db:
            return db.execute(
                "DELETE FROM invitations WHERE org_id = ? AND email = ?", (org_id, _normalize_email(email))
            ).rowcount

    def accept_invitation(self, invitation_id: str, user_id: str) -> bool:
        """In one transaction: make the user a member, give the invitation's roles, delete the invitation.

        False when the invitation was already gone (used concurrently), and then nothing changes. Roles deleted
        since the invitation was created are skipped. Raises NotFoundError for an unknown user.
        """
        with self._tx() as db:
            row = db.execute("DELETE FROM invitations WHERE id = ? RETURNING org_id, data", (invitation_id,)).fetchone()
            if row is None:
                return False
            if not db.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone():
                raise NotFoundError(f"user {user_id!r} not found", kind="user", id=user_id)  # rolls back
            org_id = row["org_id"]
            db.execute("INSERT OR IGNORE INTO members (org_id, user_id) VALUES (?, ?)", (org_id, user_id))
            role_ids = json.loads(row["data"]).get("roles") or []
            db.executemany(
                "INSERT OR IGNORE INTO member_roles (org_id, user_id, role_id) SELECT ?, ?, id FROM roles WHERE id = ?",
                [(org_id, user_id, role_id) for role_id in role_ids],
            )
            return True

    # -- transient single-use records (authorization codes, refresh tokens, pending /authorize requests,
    #    hosted-page CSRF state): JSON values with an expiry; expired ones behave as absent
    def put_transient(self, kind: str, key: str, value: Record, ttl_seconds: float) -> None:
        """Insert or replace; also sweeps expired records so the table does not grow without bound."""
        now = self._clock()
        with self._tx() as db:
            db.execute("DELETE FROM transients WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO transients (kind, key, value, expires_at) VALUES (?, ?, ?, ?)",
                (kind, key, _dumps(value), now + float(ttl_seconds)),
            )

    def get_transient(self, kind: str, key: str) -> Record | None:
        row = self._one(
            "SELECT value FROM transients WHERE kind = ? AND key = ? AND expires_at > ?", (kind, key, self._clock())
        )
        return json.loads(row["value"]) if row else None

    def take_transient(self, kind: str, key: str) -> Record | None:
        """Atomic get-and-delete: of two concurrent takers exactly one gets the value (single-use codes)."""
        with self._tx() as db:
            row = db.execute(
                "DELETE FROM transients WHERE kind = ? AND key = ? RETURNING value, expires_at", (kind, key)
            ).fetchone()
        if row is None or row["expires_at"] <= self._clock():
            return None
        return json.loads(row["value"])

    def count_attempt(self, kind: str, key: str, limit: int, ttl_seconds: float) -> bool:
        """Count one attempt against ``limit`` in one transaction: False (nothing written) when ``limit`` attempts
        are already counted, else the count goes up and its window restarts. Callers count BEFORE the work the
        limit protects (a password check), so concurrent attempts cannot all read the same old count."""
        now = self._clock()
        with self._tx() as db:
            row = db.execute(
                "SELECT value FROM transients WHERE kind = ? AND key = ? AND expires_at > ?", (kind, key, now)
            ).fetchone()
            count = int(json.loads(row["value"]).get("count", 0)) if row else 0
            if count >= limit:
                return False
            db.execute(
                "INSERT OR REPLACE INTO transients (kind, key, value, expires_at) VALUES (?, ?, ?, ?)",
                (kind, key, _dumps({"count": count + 1}), now + float(ttl_seconds)),
            )
        return True

    def take_transients(self, kind: str, field: str, value: str) -> list[Record]:
        """Atomic get-and-delete of every live ``kind`` record whose ``field`` is ``value`` (a user's sessions)."""
        now = self._clock()
        with self._tx() as db:
            rows = db.execute(
                "DELETE FROM transients WHERE kind = ? AND json_extract(value, ?) = ? RETURNING value, expires_at",
                (kind, "$." + field, value),
            ).fetchall()
        return [json.loads(row["value"]) for row in rows if row["expires_at"] > now]

    def delete_transient(self, kind: str, key: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM transients WHERE kind = ? AND key = ?", (kind, key))

    # -- APIs (Auth0 "resource servers"): identifier, name, scopes [{value, description}], token_lifetime,
    #    allow_offline_access, enforce_policies, token_dialect, signing_alg; the config is their source of truth
    def set_resource_servers(self, apis: Iterable[Record]) -> None:
        """Replaces every API with these, in this order."""
        apis = list(apis)
        with self._tx() as db:
            db.execute("DELETE FROM resource_servers")
            db.executemany(
                "INSERT INTO resource_servers (identifier, seq, data) VALUES (?, ?, ?)",
                [(api["identifier"], index, _dumps(dict(api))) for index, api in enumerate(apis)],
            )

    def get_resource_server(self, identifier: str) -> Record | None:
        row = self._one("SELECT data FROM resource_servers WHERE identifier = ?", (identifier,))
        return json.loads(row["data"]) if row else None

    def list_resource_servers(self) -> list[Record]:
        return [json.loads(row["data"]) for row in self._all("SELECT data FROM resource_servers ORDER BY seq")]

    # -- role permissions, in Auth0's shape {resource_server_identifier, permission_name}
    def add_role_permissions(self, role_id: str, permissions: Iterable[Record]) -> None:
        """Idempotent. Raises NotFoundError for an unknown role."""
        permissions = list(permissions)
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM roles WHERE id = ?", (role_id,)).fetchone():
                raise NotFoundError(f"role {role_id!r} not found", kind="role", id=role_id)
            db.executemany(
                "INSERT OR IGNORE INTO role_permissions (role_id, resource_server_identifier, permission_name)"
                " VALUES (?, ?, ?)",
                [(role_id, p["resource_server_identifier"], p["permission_name"]) for p in permissions],
            )

    def list_role_permissions(self, role_id: str) -> list[Record]:
        rows = self._all(
            "SELECT resource_server_identifier, permission_name FROM role_permissions WHERE role_id = ?"
            " ORDER BY resource_server_identifier, permission_name",
            (role_id,),
        )
        return [dict(row) for row in rows]

    def member_permissions(self, org_id: str, user_id: str, identifier: str) -> list[str]:
        """The permission names of one API that the member holds in this organization, through its roles there."""
        rows = self._all(
            "SELECT DISTINCT rp.permission_name FROM member_roles mr"
            " JOIN role_permissions rp ON rp.role_id = mr.role_id"
            " WHERE mr.org_id = ? AND mr.user_id = ? AND rp.resource_server_identifier = ?"
            " ORDER BY rp.permission_name",
            (org_id, user_id, identifier),
        )
        return [str(row["permission_name"]) for row in rows]

    # -- refresh tokens, kept by SHA-256 hash only. A family is every token descended from one login; its data
    #    is the grant (client, user, scope, audience, organization, sid, auth_time) and the rotation settings.
    def create_refresh_family(self, token_hash: str, data: Record, *, expires_at: float | None) -> str:
        """A new family whose first token (generation 1) has ``token_hash``; sweeps absolutely expired families."""
        now = self._clock()
        family_id = secrets.token_hex(16)
        with self._tx() as db:
            db.execute("DELETE FROM refresh_families WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO refresh_families (id, client_id, user_id, data, created_at, expires_at, generation,"
                " rotated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
                (family_id, data["client_id"], data["user_id"], _dumps(data), now, expires_at, now),
            )
            db.execute(
                "INSERT INTO refresh_tokens (token_hash, family_id, generation, issued_at, last_used_at)"
                " VALUES (?, ?, 1, ?, ?)",
                (token_hash, family_id, now, now),
            )
        return family_id

    def exchange_refresh_token(
        self, token_hash: str, new_hash: str, decide: Callable[[Record, Record], str]
    ) -> tuple[str, Record | None]:
        """One atomic use of a refresh token: ``(action, family)``; ``family`` is None for an unknown token.

        ``decide(family, token)`` (family: id, client_id, user_id, data, created_at, expires_at, generation,
        rotated_at; token: generation, issued_at, last_used_at) answers ``"keep"`` (use it, no new token),
        ``"rotate"`` (``new_hash`` becomes the next generation), ``"reuse"`` (``new_hash`` joins the current
        generation), ``"refuse"`` (nothing changes) or ``"revoke"`` (the whole family is deleted). Two concurrent
        rotations of one token cannot both advance the family: the generation is advanced under a guard.
        """
        now = self._clock()
        with self._tx() as db:
            row = db.execute(
                "SELECT t.generation AS token_generation, t.issued_at, t.last_used_at, f.* FROM refresh_tokens t"
                " JOIN refresh_families f ON f.id = t.family_id WHERE t.token_hash = ?",
                (token_hash,),
            ).fetchone()
            if row is None:
                return "unknown", None
            family = {
                key: row[key]
                for key in ("id", "client_id", "user_id", "created_at", "expires_at", "generation", "rotated_at")
            }
            family["data"] = json.loads(row["data"])
            token = {"generation": row["token_generation"], "issued_at": row["issued_at"]}
            token["last_used_at"] = row["last_used_at"]
            action = decide(family, token)
            if action == "revoke":
                db.execute("DELETE FROM refresh_families WHERE id = ?", (family["id"],))
                return action, family
            if action == "refuse":
                return action, family
            generation = family["generation"]
            if action == "rotate":
                advanced = db.execute(
                    "UPDATE refresh_families SET generation = generation + 1, rotated_at = ?"
                    " WHERE id = ? AND generation = ?",
                    (now, family["id"], generation),
                ).rowcount
                if advanced != 1:  # cannot happen under the transaction; refuse rather than fork the family
                    return "refuse", family
                generation += 1
                family["generation"], family["rotated_at"] = generation, now
            db.execute("UPDATE refresh_tokens SET last_used_at = ? WHERE token_hash = ?", (now, token_hash))
            if action in ("rotate", "reuse"):
                db.execute(
                    "INSERT INTO refresh_tokens (token_hash, family_id, generation, issued_at, last_used_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (new_hash, family["id"], generation, now, now),
                )
            return action, family

    def revoke_refresh_family(self, token_hash: str, *, client_id: str | None = None) -> bool:
        """Deletes the family of this token (of this client only, when given); False when there was none."""
        with self._tx() as db:
            row = db.execute(
                "SELECT f.id, f.client_id FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id"
                " WHERE t.token_hash = ?",
                (token_hash,),
            ).fetchone()
            if row is None or (client_id is not None and row["client_id"] != client_id):
                return False
            db.execute("DELETE FROM refresh_families WHERE id = ?", (row["id"],))
            return True

    def count_refresh_tokens(self) -> int:
        """Live refresh tokens (tests: what a revocation or a breach left)."""
        return self._count("SELECT COUNT(*) FROM refresh_tokens")

    # -- signing keys (private JWKs as dicts, newest first) so that a restart keeps issued tokens valid
    def save_signing_keys(self, keys: list[Record]) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('signing_keys', ?)", (_dumps(list(keys)),))

    def load_signing_keys(self) -> list[Record]:
        row = self._one("SELECT value FROM meta WHERE key = 'signing_keys'")
        return json.loads(row["value"]) if row else []
