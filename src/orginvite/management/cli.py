"""``orginvite invite --org ORG --csv people.csv``: invite a list of people, safely re-runnable.

Credentials come from the environment, never from the command line (where ``ps`` would show them):

- ``ORGINVITE_MANAGEMENT_DOMAIN`` (else ``ORGINVITE_ISSUER``, else ``AUTH0_DOMAIN``): the tenant, a bare domain or
  a base URL; ``--domain`` overrides it.
- ``ORGINVITE_MANAGEMENT_CLIENT_ID`` / ``ORGINVITE_MANAGEMENT_CLIENT_SECRET`` (else ``AUTH0_M2M_CLIENT_ID`` /
  ``AUTH0_M2M_CLIENT_SECRET``): the machine-to-machine application.
- ``ORGINVITE_MANAGEMENT_AUDIENCE`` (optional): only when a custom domain is used for the API.
- ``ORGINVITE_CLIENT_ID`` (else ``AUTH0_CLIENT_ID``): the application invitees sign in to; ``--client-id``.
- SMTP settings for orginvite's own emails (see ``orginvite.management.mailer``), unless ``--auth0-email``.

Exit status: 0 everyone invited or skipped, 1 some invitations failed or the run stopped, 2 nothing sent because
the file, the options or the environment are wrong, 75 nothing sent because another run is using the same state
file (``--wait`` waits for it instead), 130 interrupted (re-run the same command to resume).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from orginvite.config import env_value
from orginvite.errors import ConfigurationError
from orginvite.management.bulk import (
    InviteState,
    RowError,
    StateFileError,
    StateLock,
    StateLockedError,
    counted,
    describe_holder,
    parse_people_csv,
    resolve_roles,
)
from orginvite.management.bulk import write_json_atomic as _write_json
from orginvite.management.bulk_runner import (
    BulkOptions,
    BulkOutcome,
    Outcome,
    invite_rows,
    pending_by_email,
    pending_records,
)
from orginvite.management.client import ManagementClient
from orginvite.management.errors import ForbiddenError, ManagementAPIError, NotFoundError
from orginvite.management.invite import InvitationSender

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILURES, EXIT_INVALID, EXIT_BUSY, EXIT_INTERRUPTED = 0, 1, 2, 75, 130  # 75: EX_TEMPFAIL, retry later


#: Where every credential comes from (the environment only: ``ps`` shows a command line), for ``--help``.
CREDENTIALS_HELP = """\
credentials (from the environment, never from the command line):
  ORGINVITE_MANAGEMENT_DOMAIN         the tenant, a domain or a base URL (else
                                      ORGINVITE_ISSUER, else AUTH0_DOMAIN;
                                      --domain overrides them)
  ORGINVITE_MANAGEMENT_CLIENT_ID      the machine-to-machine application's
                                      client ID (else AUTH0_M2M_CLIENT_ID)
  ORGINVITE_MANAGEMENT_CLIENT_SECRET  its client secret (else
                                      AUTH0_M2M_CLIENT_SECRET)
  ORGINVITE_MANAGEMENT_AUDIENCE       the Management API audience, only with a
                                      custom domain (optional)
  ORGINVITE_CLIENT_ID                 the application invitees sign in to (else
                                      AUTH0_CLIENT_ID; --client-id overrides it)
  ORGINVITE_SMTP_URL                  the SMTP server of orginvite's own emails:
                                      smtp://user:pass@host:587, smtps://...
                                      (not needed with --auth0-email, --dry-run)
  ORGINVITE_EMAIL_FROM                their From: "Acme <no-reply@acme.example>"
  ORGINVITE_EMAIL_REPLY_TO            where replies go (optional)"""


class UsageError(Exception):
    """A problem to report before anything is sent (exit 2)."""


class _Busy(Exception):
    """Another run holds the state file (exit 75): nothing was sent."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orginvite invite",
        description=textwrap.fill(
            "Invite the people listed in a CSV file (columns: email, name, roles, language) to an organization. "
            "The whole file is checked first; nothing is sent while any row is wrong.", 79),
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keeps the credentials table as it is written
        epilog=CREDENTIALS_HELP + "\n\n" + textwrap.fill(
            "Exit status: 0 everyone invited or skipped; 1 some failed or the run stopped; 2 nothing sent (the "
            "file, options or environment are wrong); 75 nothing sent (another run holds the state file: see "
            "--wait); 130 interrupted. Re-running the same command resumes where a run stopped, however it "
            "stopped.", 79),
    )
    parser.add_argument("--org", required=True, help="organization ID (org_...) or name")
    parser.add_argument("--csv", type=Path, help="UTF-8 CSV file with a header row")
    parser.add_argument("--resend", action="append", metavar="INVITATION_ID", default=[],
                        help="instead of --csv: renew this pending invitation (uinv_...; repeatable): a fresh one "
                        "with a new expiry, its email sent, the old link dead")
    parser.add_argument("--inviter", help="inviter name shown in the email (default: the organization's name)")
    parser.add_argument("--client-id", help="application the invitees sign in to (env ORGINVITE_CLIENT_ID)")
    parser.add_argument("--app-name", help="application name shown in the email (\"... to join Acme on NAME\")")
    parser.add_argument("--connection-id", help="connection the invitees must use (con_...)")
    parser.add_argument("--roles-by-name", action="store_true", help="the roles column holds role names, not IDs")
    parser.add_argument("--ttl", type=int, default=0, metavar="SECONDS",
                        help="invitation lifetime (0: 7 days, at most 2592000)")
    parser.add_argument("--state", type=Path, help="resume file (default: <csv>.invite-state.json); one run at a "
                        "time may use it (it is locked for the run)")
    parser.add_argument("--wait", action="store_true",
                        help="when another run is using the state file, wait for it to finish instead of refusing "
                        "to start (exit 75); then go on with whoever it left")
    parser.add_argument("--report", type=Path, help="write a JSON report of failures (and skips) here")
    parser.add_argument("--reinvite-pending", action="store_true",
                        help="also invite people who already have a pending invitation (revokes it)")
    parser.add_argument("--auth0-email", action="store_true",
                        help="let Auth0 send its own email instead of orginvite's localized one (no SMTP)")
    parser.add_argument("--dry-run", action="store_true", help="check everything, send nothing")
    parser.add_argument("--max-rps", type=float, default=2.0,
                        help="Management API requests per second at most (default 2, a conservative pace; 0: "
                        "only the X-RateLimit-* headers and 429s pace the run)")
    parser.add_argument("--domain", help="Auth0 domain or base URL (env ORGINVITE_MANAGEMENT_DOMAIN)")
    return parser



def _client_from_env(args: argparse.Namespace, environ: Mapping[str, str]) -> ManagementClient:
    domain = args.domain or env_value(environ, "ORGINVITE_MANAGEMENT_DOMAIN", "ORGINVITE_ISSUER", "AUTH0_DOMAIN")
    client_id = env_value(environ, "ORGINVITE_MANAGEMENT_CLIENT_ID", "AUTH0_M2M_CLIENT_ID")
    secret = env_value(environ, "ORGINVITE_MANAGEMENT_CLIENT_SECRET", "AUTH0_M2M_CLIENT_SECRET")
    missing = [
        name
        for name, value in (
            ("ORGINVITE_MANAGEMENT_DOMAIN (or ORGINVITE_ISSUER, or AUTH0_DOMAIN, or --domain)", domain),
            ("ORGINVITE_MANAGEMENT_CLIENT_ID (or AUTH0_M2M_CLIENT_ID)", client_id),
            ("ORGINVITE_MANAGEMENT_CLIENT_SECRET (or AUTH0_M2M_CLIENT_SECRET)", secret),
        )
        if not value
    ]
    if missing:
        raise UsageError("missing Management API settings: " + "; ".join(missing))
    assert domain and client_id and secret
    try:
        return ManagementClient(
            domain,
            client_id,
            secret,
            audience=env_value(environ, "ORGINVITE_MANAGEMENT_AUDIENCE"),
            requests_per_second=args.max_rps or None,
        )
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from exc


def _default_sender(environ: Mapping[str, str]) -> InvitationSender:
    from orginvite.management.mailer import sender_from_env

    try:
        return sender_from_env(environ)
    except ConfigurationError as exc:
        raise UsageError(f"{exc} (or pass --auth0-email to let Auth0 send its own emails)") from exc


class _Progress:
    """A one-line bar on a terminal, one plain line per person otherwise (logs, CI)."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = total
        self.tty = stream.isatty()

    def __call__(self, outcome: BulkOutcome, item: Outcome) -> None:
        done = outcome.done
        if self.tty:
            width = 30
            filled = int(width * done / self.total) if self.total else width
            bar = "#" * filled + "-" * (width - filled)
            counts = f"{len(outcome.invited)} invited, {len(outcome.skipped)} skipped, {len(outcome.failures)} failed"
            self.stream.write(f"\r[{bar}] {done}/{self.total}  {counts} ")
            if item.status == "failed":
                self.stream.write(f"\n  line {item.line} {item.email}: {item.detail}\n")
        else:
            self.stream.write(f"[{done}/{self.total}] line {item.line} {item.email}: {item.status}"
                              f"{' - ' + item.detail if item.detail else ''}\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _print_errors(errors: Sequence[RowError], stream: TextIO, csv_path: Path) -> None:
    stream.write(f"{csv_path}: {counted(len(errors), 'problem', 'problems')}; nothing was sent:\n")
    for error in errors:
        value = f" ({error.value!r})" if error.value is not None else ""
        stream.write(f"  {error}{value}\n")


def _report(
    path: Path | None,
    *,
    organization: Mapping[str, Any] | None,
    csv_path: Path,
    outcome: BulkOutcome | None = None,
    errors: Sequence[RowError] = (),
    interrupted: bool = False,
) -> None:
    if path is None:
        return
    payload: dict[str, Any] = {
        "version": 1,
        "csv": str(csv_path),
        "organization": {"id": organization.get("id"), "name": organization.get("name")} if organization else None,
        "validation_errors": [e.as_dict() for e in errors],
        "summary": outcome.summary() if outcome else None,
        "interrupted": interrupted,
        "failures": [f.as_dict() for f in outcome.failures] if outcome else [],
        "skipped": [s.as_dict() for s in outcome.skipped] if outcome else [],
    }
    try:
        _write_json(path, payload)
    except OSError as exc:
        sys.stderr.write(f"orginvite invite: cannot write the report {path}: {exc.strerror or exc}\n")


async def _run(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    client_factory: Callable[[argparse.Namespace, Mapping[str, str]], ManagementClient],
    sender: InvitationSender | None,
    holder: dict[str, Any],
) -> int:
    from orginvite.i18n.translations import AVAILABLE_LOCALES

    if bool(args.resend) == (args.csv is not None):
        raise UsageError("give --csv FILE to invite, or --resend INVITATION_ID to renew invitations (not both)")
    if args.resend:
        return await _resend(args, environ, out, err, client_factory, sender)
    try:
        data = args.csv.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.csv}: {exc.strerror or exc}") from exc
    rows, errors = parse_people_csv(data, available_locales=AVAILABLE_LOCALES)
    if not 0 <= args.ttl <= 2592000:
        raise UsageError("--ttl must be from 0 to 2592000 seconds (30 days)")
    if args.inviter is not None and not 0 < len(args.inviter.strip()) <= 300:
        raise UsageError("--inviter must be 1 to 300 characters (Auth0's limit)")
    try:
        client = client_factory(args, environ)
    except UsageError:
        if errors:  # the file's problems are worth showing even without credentials
            _print_errors(errors, err, args.csv)
            _report(args.report, organization=None, csv_path=args.csv, errors=errors)
        raise
    async with client:
        try:
            organization = await client.resolve_organization(args.org)
        except NotFoundError as exc:
            raise UsageError(f"no organization {args.org!r} in {client.issuer}") from exc
        holder["organization"] = organization
        tenant_roles = [role async for role in client.iter_roles()] if any(r.roles for r in rows) else []
        rows, role_errors = resolve_roles(rows, tenant_roles, by_name=args.roles_by_name)
        errors = sorted([*errors, *role_errors], key=lambda e: e.line)
        if errors:
            _print_errors(errors, err, args.csv)
            _report(args.report, organization=organization, csv_path=args.csv, errors=errors)
            return EXIT_INVALID
        client_id = args.client_id or env_value(environ, "ORGINVITE_CLIENT_ID", "AUTH0_CLIENT_ID")
        if not client_id:
            raise UsageError("--client-id (or ORGINVITE_CLIENT_ID) is required: the application invitees sign in to")
        if not args.auth0_email and sender is None and not args.dry_run:
            sender = _default_sender(environ)
        state_path = args.state or args.csv.with_name(args.csv.name + ".invite-state.json")
        if not args.dry_run:  # a dry run writes nothing: it may look while a run goes on
            holder["lock"] = _lock_state(state_path, wait=args.wait, err=err)
        try:
            state = InviteState.load(state_path, str(organization["id"]))
        except StateFileError as exc:
            raise UsageError(str(exc)) from exc
        try:
            invitations = await pending_records(client, str(organization["id"]))
        except ForbiddenError as exc:
            err.write(f"warning: cannot list pending invitations ({exc.message}); relying on the state file only\n")
            if state.intents:
                count = len(state.intents)
                err.write(f"warning: {counted(count, 'invitation', 'invitations')} of an interrupted run cannot be "
                          f"recognised without read:organization_invitations; {'it is' if count == 1 else 'they are'} "
                          "created again (which revokes any the interrupted run left)\n")
            invitations = []
        pending = pending_by_email(invitations)
        if args.dry_run:
            state.path = None  # a dry run writes nothing, not even what it recognises
        state.adopt(invitations)
        del invitations  # they hold tickets: keep them no longer than needed
        options = BulkOptions(
            client_id=client_id,
            inviter_name=args.inviter or str(organization.get("display_name") or organization.get("name")),
            connection_id=args.connection_id,
            ttl_sec=args.ttl,
            reinvite_pending=args.reinvite_pending,
            auth0_sends_email=args.auth0_email,
            application={"name": args.app_name, "client_id": client_id} if args.app_name else None,
        )
        shown = organization.get("display_name") or organization["name"]
        out.write(f"{counted(len(rows), 'person', 'people')} to invite to {shown} ({organization['id']}); "
                  f"state file {state_path}\n")
        if args.dry_run:
            todo = [r for r in rows if not state.is_invited(r)
                    and (r.key not in pending or args.reinvite_pending or state.created_invitation(r))]
            out.write(f"dry run: {len(todo)} would be invited, {len(rows) - len(todo)} skipped; nothing sent\n")
            return EXIT_OK
        try:
            state.save()  # a state file that cannot be written must stop us before the first invitation
        except OSError as exc:
            raise UsageError(f"cannot write the state file {state_path}: {exc.strerror or exc}") from exc
        outcome = BulkOutcome(total=len(rows))
        holder["outcome"] = outcome
        progress = _Progress(out, len(rows))
        try:
            await invite_rows(
                client,
                organization,
                rows,
                options=options,
                state=state,
                sender=sender,
                roles={str(r["id"]): r for r in tenant_roles},
                pending=pending,
                progress=progress,
                outcome=outcome,
            )
        finally:
            progress.finish()
    summary = outcome.summary()
    line = f"done: {summary['invited']} invited, {summary['skipped']} skipped, {summary['failed']} failed"
    if summary["not_attempted"]:
        line += f", {summary['not_attempted']} not attempted"
    out.write(f"{line} (of {summary['total']})\n")
    if outcome.stopped:
        err.write(f"stopped early: {outcome.stopped}; fix it and re-run the same command to continue\n")
    for failure in outcome.failures:
        if failure.stage == "email":
            err.write(f"  line {failure.line} {failure.email}: invitation {failure.invitation_id} exists but its "
                      "email failed; re-running the same command sends it again\n")
    _report(args.report, organization=organization, csv_path=args.csv, outcome=outcome)
    if args.report:
        out.write(f"report: {args.report}\n")
    return EXIT_OK if not outcome.failures else EXIT_FAILURES


async def _resend(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    client_factory: Callable[[argparse.Namespace, Mapping[str, str]], ManagementClient],
    sender: InvitationSender | None,
) -> int:
    """``--resend``: renew each invitation with :func:`~orginvite.management.invite.resend_invitation`. One that
    no longer exists (expired, used, revoked) is reported and the exit status is 1; the others are renewed."""
    from orginvite.management.errors import InvitationEmailError
    from orginvite.management.invite import resend_invitation

    bad = [i for i in args.resend if not i.startswith("uinv_") or not 5 < len(i) <= 50 or not i.isascii()
           or not i.replace("_", "").isalnum()]
    if bad:
        raise UsageError(f"not an invitation ID (uinv_...): {bad[0]!r}")
    if sender is None:
        sender = _default_sender(environ)
    failed = 0
    async with client_factory(args, environ) as client:
        try:
            organization = await client.resolve_organization(args.org)
        except NotFoundError as exc:
            raise UsageError(f"no organization {args.org!r} in {client.issuer}") from exc
        application = {"name": args.app_name} if args.app_name else None
        for invitation_id in args.resend:
            try:
                result = await resend_invitation(client, organization, invitation_id, sender=sender,
                                                 application=application, actor=args.inviter)
            except NotFoundError:
                failed += 1
                err.write(f"{invitation_id}: no such pending invitation (accepted, expired or revoked): invite the "
                          "person again\n")
                continue
            except InvitationEmailError as exc:
                failed += 1
                err.write(f"{invitation_id}: renewed as {exc.invitation_id}, but its email failed: {exc}\n")
                continue
            out.write(f"{invitation_id}: renewed as {result.invitation_id} for {result.email}, email sent "
                      f"({result.locale}), expires {result.expires_at}\n")
    return EXIT_FAILURES if failed else EXIT_OK


def _lock_state(state_path: Path, *, wait: bool, err: TextIO) -> StateLock:
    """The run's lock on its state file, taken before the file is read; the kernel drops it when the process ends."""
    lock = StateLock(state_path)

    def waiting(holder: Mapping[str, Any]) -> None:
        err.write(f"waiting for the run that holds {state_path} ({describe_holder(holder)}) to finish...\n")
        err.flush()

    try:
        locked = lock.acquire(wait=wait, on_wait=waiting)
    except StateLockedError as exc:
        raise _Busy(f"another run is using the state file {state_path} ({describe_holder(exc.holder)}); nothing "
                    "was sent. Wait for it to finish, or re-run with --wait") from exc
    except OSError as exc:
        raise UsageError(f"cannot write the state file {state_path} (its lock {lock.path}: "
                         f"{exc.strerror or exc})") from exc
    if not locked:
        err.write("warning: this platform cannot lock the state file; do not start two runs on it at once\n")
    return lock


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    client_factory: Callable[[argparse.Namespace, Mapping[str, str]], ManagementClient] | None = None,
    sender: InvitationSender | None = None,
) -> int:
    """Entry point of ``orginvite invite``. The keyword arguments exist for tests and embedding."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    holder: dict[str, Any] = {}
    try:
        return asyncio.run(
            _run(args, os.environ if environ is None else environ, out, err, client_factory or _client_from_env,
                 sender, holder)
        )
    except UsageError as exc:
        err.write(f"orginvite invite: {exc}\n")
        return EXIT_INVALID
    except _Busy as exc:
        err.write(f"orginvite invite: {exc}\n")
        return EXIT_BUSY
    except ManagementAPIError as exc:
        err.write(f"orginvite invite: the Management API refused: {exc}\n")
        return EXIT_INVALID if "outcome" not in holder else EXIT_FAILURES
    except KeyboardInterrupt:
        outcome: BulkOutcome | None = holder.get("outcome")
        done = len(outcome.invited) if outcome else 0
        err.write(f"\ninterrupted after {counted(done, 'invitation', 'invitations')}; every finished one is "
                  "recorded: re-run the same command to continue without inviting anyone twice\n")
        _report(args.report, organization=holder.get("organization"), csv_path=args.csv, outcome=outcome,
                interrupted=True)
        return EXIT_INTERRUPTED
    finally:
        if "lock" in holder:
            holder["lock"].release()

