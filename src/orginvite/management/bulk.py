"""Bulk invitations from a CSV file: validation, role resolution and the resumable state file.

Validation is all-or-nothing on purpose: an admin who fixes row 3 and re-runs should not discover row 40 an hour
later, after half the team was invited. :func:`parse_people_csv` reads the whole file and returns every problem
with its line number; :func:`resolve_roles` adds the problems only the tenant can reveal (unknown roles). Nothing
here talks to the network or sends anything; the command (``orginvite.management.cli``) drives the sending.

The CSV has a header row naming its columns, in any order: ``email`` (required), ``name``, ``roles`` and
``language``. Several roles go in one cell separated by ``;`` (or ``|``). The delimiter is a comma, or a semicolon
or tab when the header uses one (spreadsheets in many locales export semicolons). The file must be UTF-8 (a BOM is
fine).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import secrets
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orginvite.errors import OrgInviteError
from orginvite.i18n import locales
from orginvite.text import has_hidden_characters

__all__ = [
    "COLUMNS",
    "INTENT_MARKER",
    "InviteRow",
    "InviteState",
    "RowError",
    "StateFileError",
    "StateLock",
    "StateLockedError",
    "counted",
    "describe_holder",
    "is_valid_email",
    "parse_people_csv",
    "resolve_roles",
]

COLUMNS = ("email", "name", "roles", "language")
MAX_ROLES = 50  # Auth0: at most 50 roles per invitation
MAX_NAME = 300
MAX_EMAIL = 254

_EMAIL_RE = re.compile(
    r"^(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}))"
)
_ROLE_SPLIT = re.compile(r"[;|]")


@dataclass(frozen=True)
class RowError:
    """One problem in the file: ``line`` is the 1-based line in the file (the header is line 1)."""

    line: int
    column: str | None
    message: str
    value: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "message": self.message, "value": self.value}


@dataclass(frozen=True)
class InviteRow:
    """One person to invite. ``roles`` are as written until :func:`resolve_roles` turns them into role IDs."""

    line: int
    email: str
    name: str | None = None
    roles: tuple[str, ...] = ()
    language: str | None = None

    @property
    def key(self) -> str:
        """The identity used for duplicates and for the state file: email addresses are case-insensitive."""
        return self.email.casefold()


def is_valid_email(value: str) -> bool:
    """A deliberately plain check (ASCII, one @, dotted domain with a letter TLD): what Auth0 will accept."""
    if len(value) > MAX_EMAIL:
        return False
    found = _EMAIL_RE.fullmatch(value)
    return bool(found) and len(found["local"]) <= 64


def counted(count: int, singular: str, plural: str) -> str:
    """``"1 person"``, ``"2 people"``: a count and the noun that agrees with it (the command speaks English)."""
    return f"{count} {singular if count == 1 else plural}"


def _invalid_utf8_lines(data: bytes) -> list[RowError]:
    errors = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte = raw[exc.start : exc.start + 1].hex().upper()
            errors.append(
                RowError(number, None, f"not valid UTF-8 (byte 0x{byte} at column {exc.start + 1}); "
                         "save the file as UTF-8")
            )
    return errors


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_people_csv(
    data: bytes,
    *,
    available_locales: Sequence[str],
) -> tuple[list[InviteRow], list[RowError]]:
    """Every valid row and every problem of the file, each problem with its line number.

    Checks: encoding, header (``email`` present, no unknown or repeated column), field counts, email syntax,
    duplicate emails (case-insensitive), name length and control characters, role count, and language tags
    (valid BCP 47 and served by one of ``available_locales``). Rows are only trustworthy when the error list
    is empty.
    """
    errors: list[RowError] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return [], [RowError(1, None, "the file is UTF-16; save it as UTF-8 (CSV UTF-8 in spreadsheet programs)")]
    encoding_errors = _invalid_utf8_lines(data)
    errors.extend(encoding_errors)
    bad_lines = {e.line for e in encoding_errors}
    text = data.decode("utf-8-sig", errors="replace")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line), strict=True)

    header: list[str] | None = None
    header_line = 0
    rows: list[InviteRow] = []
    seen: dict[str, int] = {}
    available = tuple(available_locales)
    try:
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            if not record or all(not cell.strip() for cell in record):
                continue
            if header is None:
                header_line = start
                header = [cell.strip().lower() for cell in record]
                errors.extend(_check_header(header, start))
                if "email" not in header:
                    return [], errors
                continue
            if start in bad_lines:
                continue  # already reported; its text is mangled
            row, row_errors = _parse_row(record, header, start, available)
            errors.extend(row_errors)
            if row is None:
                continue
            if row.key in seen:
                errors.append(RowError(start, "email", f"duplicate of line {seen[row.key]}", row.email))
                continue
            seen[row.key] = start
            rows.append(row)
    except csv.Error as exc:
        errors.append(RowError(reader.line_num or 1, None, f"unreadable CSV: {exc}"))
    if header is None:
        errors.append(RowError(1, None, "the file is empty: expected a header row with an 'email' column"))
    elif not rows and not errors:
        errors.append(RowError(header_line, None, "no people to invite below the header row"))
    errors.sort(key=lambda e: e.line)
    return rows, errors


def _check_header(header: list[str], line: int) -> list[RowError]:
    errors = []
    if "email" not in header:
        errors.append(RowError(line, None, f"missing column 'email' (columns: {', '.join(COLUMNS)})"))
    for name in header:
        if not name:
            errors.append(RowError(line, None, "a column has no name"))
        elif name not in COLUMNS:
            errors.append(RowError(line, name, f"unknown column {name!r} (expected: {', '.join(COLUMNS)})"))
    for name in sorted({n for n in header if n and header.count(n) > 1}):
        errors.append(RowError(line, name, f"column {name!r} appears more than once"))
    return errors


def _parse_row(
    record: list[str], header: list[str], line: int, available: tuple[str, ...]
) -> tuple[InviteRow | None, list[RowError]]:
    errors: list[RowError] = []
    if len(record) < len(header):
        absent = header[len(record) :]
        missing = ", ".join(repr(h) for h in absent)
        return None, [RowError(line, None, f"missing {'field' if len(absent) == 1 else 'fields'} {missing}: "
                                           f"expected {counted(len(header), 'field', 'fields')}, found {len(record)}")]
    if len(record) > len(header) and any(cell.strip() for cell in record[len(header) :]):
        return None, [RowError(line, None, f"expected {counted(len(header), 'field', 'fields')}, found "
                                           f"{len(record)} (quote cells that contain the delimiter)")]
    cells = {name: record[index].strip() for index, name in enumerate(header) if name}

    email = cells.get("email", "")
    if not email:
        errors.append(RowError(line, "email", "the email is empty"))
    elif not is_valid_email(email):
        errors.append(RowError(line, "email", "not a valid email address", email[:MAX_EMAIL]))

    name = cells.get("name") or None
    if name is not None:
        if len(name) > MAX_NAME:
            errors.append(RowError(line, "name", f"longer than {MAX_NAME} characters"))
        elif has_hidden_characters(name):
            errors.append(RowError(line, "name", "contains control characters", name))

    roles: list[str] = []
    for role in _ROLE_SPLIT.split(cells.get("roles", "")):
        role = role.strip()
        if role and role not in roles:
            roles.append(role)
    if len(roles) > MAX_ROLES:
        errors.append(RowError(line, "roles", f"{len(roles)} roles; at most {MAX_ROLES} per invitation"))

    language_value = cells.get("language") or None
    language: str | None = None
    if language_value is not None:
        normalized = locales.normalize(language_value)
        if normalized is None:
            errors.append(RowError(line, "language", "not a language tag (e.g. fr, pt-BR)", language_value))
        elif locales.match(normalized, available) is None:
            errors.append(
                RowError(line, "language", f"unsupported language (available: {', '.join(available)})",
                         language_value)
            )
        else:
            language = normalized
    if errors:
        return None, errors
    return InviteRow(line=line, email=email, name=name, roles=tuple(roles), language=language), []


def resolve_roles(
    rows: Sequence[InviteRow], tenant_roles: Sequence[Mapping[str, Any]], *, by_name: bool
) -> tuple[list[InviteRow], list[RowError]]:
    """Rows with role IDs in place of what the file says, and an error per unknown role.

    Without ``by_name`` the file holds role IDs (``rol_...``); a value that is a role's name gets a hint to pass
    ``--roles-by-name``. With ``by_name`` the file holds role names (exact match first, then case-insensitive).
    """
    by_id = {str(r.get("id")): r for r in tenant_roles}
    names: dict[str, str] = {}
    folded: dict[str, list[str]] = {}
    for role in tenant_roles:
        names[str(role.get("name"))] = str(role.get("id"))
        folded.setdefault(str(role.get("name")).casefold(), []).append(str(role.get("id")))
    known = ", ".join(sorted(names)[:20]) or "none"
    resolved: list[InviteRow] = []
    errors: list[RowError] = []
    for row in rows:
        ids: list[str] = []
        row_errors: list[RowError] = []
        for value in row.roles:
            if by_name:
                role_id = names.get(value)
                if role_id is None and len(folded.get(value.casefold(), [])) == 1:
                    role_id = folded[value.casefold()][0]
                if role_id is None:
                    row_errors.append(RowError(row.line, "roles", f"unknown role name (roles: {known})", value))
            else:
                role_id = value if value in by_id else None
                if role_id is None:
                    hint = " (it is a role name: pass --roles-by-name)" if value in names else ""
                    row_errors.append(RowError(row.line, "roles", f"unknown role ID{hint}", value))
            if role_id is not None and role_id not in ids:
                ids.append(role_id)
        if row_errors:
            errors.extend(row_errors)
        else:
            resolved.append(InviteRow(row.line, row.email, row.name, tuple(ids), row.language))
    return resolved, errors


class StateFileError(OrgInviteError):
    """The state file cannot be read, or belongs to another organization."""


# The key of the marker every bulk invitation carries in its app_metadata: the intent's random nonce, so that a
# re-run can tell the invitation an interrupted create left behind from anyone else's (see InviteState.adopt).
INTENT_MARKER = "orginvite_intent"


@dataclass
class InviteState:
    """What a bulk run has done, saved after every step so an interrupted run resumes without double invites.

    ``intents`` holds people about to be invited: each gets a random marker, written to disk before the create
    call and sent along in the invitation's ``app_metadata``. A run killed while the call is in flight leaves an
    invitation whose response it never saw; the next run finds it among the pending invitations by that marker
    (and the invitee's email) and sends its email instead of taking it for someone else's (:meth:`adopt`).
    ``created`` holds invitations that exist but whose email is not confirmed sent (a crash or an SMTP failure
    between the two); a re-run sends their email instead of creating a second invitation. ``invited`` holds the
    finished ones, which a re-run skips. Keys are case-folded emails; the file holds no ticket.
    """

    path: Path | None
    organization_id: str
    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    invited: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None, organization_id: str) -> InviteState:
        if path is None:
            return cls(None, organization_id)
        path = Path(path)
        if not path.exists():
            return cls(path, organization_id)
        try:
            payload = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise StateFileError(f"{path}: cannot read the state file ({exc})") from exc
        if not isinstance(payload, dict) or payload.get("version") != 1:
            raise StateFileError(f"{path}: not an orginvite state file (version 1)")
        if payload.get("organization_id") != organization_id:
            raise StateFileError(
                f"{path}: this state file belongs to organization {payload.get('organization_id')!r}, "
                f"not {organization_id!r}; use another --state file"
            )
        created, invited = payload.get("created", {}), payload.get("invited", {})
        intents = payload.get("intents", {})  # absent in files of earlier versions
        if not isinstance(created, dict) or not isinstance(invited, dict) or not isinstance(intents, dict):
            raise StateFileError(f"{path}: malformed state file")
        return cls(path, organization_id, dict(created), dict(invited), dict(intents))

    def is_invited(self, row: InviteRow) -> bool:
        return row.key in self.invited

    def created_invitation(self, row: InviteRow) -> str | None:
        entry = self.created.get(row.key)
        return str(entry["invitation_id"]) if entry and entry.get("invitation_id") else None

    def mark_intent(self, row: InviteRow) -> str:
        """Record, durably, that ``row`` is about to be invited; returns the marker to put in ``app_metadata``."""
        marker = secrets.token_hex(16)
        self.intents[row.key] = {"marker": marker, "line": row.line, "at": _now()}
        self.save()
        return marker

    def adopt(self, invitations: Iterable[Mapping[str, Any]]) -> list[str]:
        """Move to ``created`` every intent whose invitation exists among ``invitations`` (the pending ones).

        An invitation is this state's own when it belongs to this organization, its invitee is the intent's
        email and its ``app_metadata`` carries the intent's marker: a random value only this file knows, so
        neither another admin's invitation for the same person nor clock skew can make a false match (a match on
        the creation time would need both). Returns the keys adopted; an intent left unmatched means the create
        never reached the provider (or its invitation is gone), and the person is invited afresh.
        """
        markers = {str(entry.get("marker")): key for key, entry in self.intents.items() if entry.get("marker")}
        adopted: list[str] = []
        for invitation in invitations:
            metadata = invitation.get("app_metadata")
            marker = metadata.get(INTENT_MARKER) if isinstance(metadata, Mapping) else None
            key = markers.get(marker) if isinstance(marker, str) else None
            email = (invitation.get("invitee") or {}).get("email")
            if (
                key is None
                or not isinstance(email, str)
                or email.casefold() != key
                or invitation.get("organization_id", self.organization_id) != self.organization_id
                or not isinstance(invitation.get("id"), str)
            ):
                continue
            intent = self.intents.pop(key)
            self.created[key] = {"invitation_id": invitation["id"], "line": intent.get("line"), "at": _now(),
                                 "recovered": True}
            adopted.append(key)
        if adopted:
            self.save()
        return adopted

    def mark_created(self, row: InviteRow, invitation_id: str) -> None:
        self.intents.pop(row.key, None)
        self.created[row.key] = {"invitation_id": invitation_id, "line": row.line, "at": _now()}
        self.save()

    def mark_invited(self, row: InviteRow, invitation_id: str, message_id: str | None) -> None:
        self.intents.pop(row.key, None)
        self.created.pop(row.key, None)
        self.invited[row.key] = {"invitation_id": invitation_id, "message_id": message_id, "line": row.line,
                                 "at": _now()}
        self.save()

    def save(self) -> None:
        """Atomic: a temporary file in the same directory, flushed to disk, then renamed over the old one."""
        if self.path is None:
            return
        payload = {"version": 1, "organization_id": self.organization_id, "intents": self.intents,
                   "created": self.created, "invited": self.invited}
        write_json_atomic(self.path, payload)


class StateLockedError(StateFileError):
    """Another run holds the state file: ``holder`` is what it wrote in the lock file (pid, host, started)."""

    def __init__(self, message: str, holder: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.holder = dict(holder)


class StateLock:
    """An exclusive lock on a state file for a whole run, so that two runs never invite the same people twice.

    It is ``flock`` on ``<state>.lock`` beside the state file. The kernel releases it when the holder's process
    ends, however it ends (kill -9 and crashes included), so there is never a stale lock to clean up; and the file
    is never deleted, since deleting a lock file races with a run that has just opened it. The holder writes its
    pid, host and start time into it for the message of the run that finds the lock taken (on network filesystems
    without ``flock`` semantics, keep the state file on a local disk).
    """

    def __init__(self, state_path: Path) -> None:
        self.path = state_path.with_name(state_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self, *, wait: bool = False, on_wait: Callable[[dict[str, Any]], None] | None = None) -> bool:
        """Take the lock, or raise :class:`StateLockedError` naming the holder (``wait``: block until it is free).

        False, without locking, where the platform has no ``flock`` (Windows). OSError when the lock file cannot
        be created (a missing or read-only directory).
        """
        try:
            import fcntl
        except ImportError:
            return False
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # no O_TRUNC: the holder's details stay readable
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self.holder()
                if not wait:
                    raise StateLockedError(f"another run holds {self.path} ({describe_holder(holder)})",
                                           holder) from None
                if on_wait is not None:
                    on_wait(holder)
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            me = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now()}
            os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def holder(self, attempts: int = 20) -> dict[str, Any]:
        """What the holder wrote; it writes just after locking, so an empty file is read again for a moment."""
        for attempt in range(attempts):
            try:
                found = json.loads(self.path.read_text("utf-8"))
            except (OSError, UnicodeDecodeError, ValueError):
                found = None
            if isinstance(found, dict):
                return found
            if attempt + 1 < attempts:
                time.sleep(0.05)
        return {}

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def describe_holder(holder: Mapping[str, Any]) -> str:
    """``pid 1234 on host build-1, started 2026-12-03T12:00:00Z`` (or ``pid unknown``)."""
    pid, host, started = holder.get("pid"), holder.get("host"), holder.get("started")
    text = f"pid {pid}" if isinstance(pid, int) else "pid unknown"
    if isinstance(host, str) and host:
        text += f" on host {host[:100]}"
    if isinstance(started, str) and started:
        text += f", started {started[:40]}"
    return text


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write ``payload`` so that ``path`` holds either the old or the new JSON, whatever stops the process.

    The data is fsynced before the rename and the directory after it, so the new content also survives a power
    failure once this returns (a kill -9 needs only the rename).
    """
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # platforms without directory handles (Windows): the rename is as durable as they allow
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the data itself is already on disk
    finally:
        os.close(fd)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
