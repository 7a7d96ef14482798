"""Send validated bulk invitations, one person at a time, resumable and without inviting anyone twice.

Per person: skip when the state file says done; when the state file says "created, email not sent" send that
invitation's email instead of creating a second one; skip (by default) when the organization already has a
pending invitation for the email that this run did not create; otherwise record the intent, create, record, send,
record. The state is written (and fsynced) before and after every step, so an interruption at any point, kill -9
included, loses at most the step in flight: an invitation whose create was in flight is recognised by the marker
its intent put in ``app_metadata`` (:meth:`~orginvite.management.bulk.InviteState.adopt`) and gets its email; an email
in flight is sent again, with the same Message-ID (a mail system that saw the first one can tell it is the same).

Failures of one person (a 400, a refused address) are recorded and the run goes on; failures that would hit
everyone (bad credentials, missing scope, rate limit exhausted, tenant unreachable, SMTP server down or refusing
our login, a broken template) stop the run, and the rest is reported as not attempted. Pacing is the client's
job (see :class:`~orginvite.management.ManagementClient`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orginvite.emails.message import MessageError
from orginvite.emails.sender import SMTPRecipientRefusedError
from orginvite.management.bulk import INTENT_MARKER, InviteRow, InviteState
from orginvite.management.client import ManagementClient
from orginvite.management.errors import (
    ForbiddenError,
    InvitationEmailError,
    ManagementAPIError,
    ManagementConnectionError,
    NotFoundError,
    RateLimitError,
    UnauthorizedError,
)
from orginvite.management.invite import (
    InvitationFields,
    InvitationSender,
    create_invitation,
    emit_created,
    post_invitation,
    send_invitation,
)

__all__ = [
    "BulkOptions",
    "BulkOutcome",
    "Failure",
    "Outcome",
    "Skip",
    "invite_rows",
    "pending_by_email",
    "pending_invitations",
    "pending_records",
]

# Errors that say nothing about one person but about the run: stop instead of failing every row the same way.
_FATAL = (UnauthorizedError, ForbiddenError, RateLimitError, ManagementConnectionError)


@dataclass(frozen=True)
class BulkOptions:
    client_id: str
    inviter_name: str
    connection_id: str | None = None
    ttl_sec: int = 0
    reinvite_pending: bool = False
    auth0_sends_email: bool = False  # send_invitation_email=true: Auth0's own email, no sender needed
    application: Mapping[str, Any] | None = None
    tenant: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Outcome:
    line: int
    email: str
    status: str  # "invited" | "skipped" | "failed"
    detail: str = ""
    invitation_id: str | None = None


@dataclass(frozen=True)
class Failure:
    line: int
    email: str
    stage: str  # "create" | "email" | "not_attempted"
    message: str
    error: str | None = None  # exception class
    status_code: int | None = None
    error_code: str | None = None
    invitation_id: str | None = None  # set when the invitation exists (email stage): it can be re-sent

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "email": self.email,
            "stage": self.stage,
            "error": self.error,
            "status_code": self.status_code,
            "error_code": self.error_code,
            "message": self.message,
            "invitation_id": self.invitation_id,
        }


@dataclass(frozen=True)
class Skip:
    line: int
    email: str
    reason: str  # "already_invited" | "pending_invitation"
    invitation_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "email": self.email, "reason": self.reason, "invitation_id": self.invitation_id}


@dataclass
class BulkOutcome:
    total: int
    invited: list[Outcome] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early, if it did

    @property
    def done(self) -> int:
        return len(self.invited) + len(self.skipped) + len(self.failures)

    def summary(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "invited": len(self.invited),
            "skipped": len(self.skipped),
            "failed": len([f for f in self.failures if f.stage != "not_attempted"]),
            "not_attempted": len([f for f in self.failures if f.stage == "not_attempted"]),
            "stopped": self.stopped,
        }


Progress = Callable[[BulkOutcome, Outcome], None]


async def pending_records(client: ManagementClient, org_id: str) -> list[dict[str, Any]]:
    """The organization's pending invitations, as the Management API lists them (tickets included: keep in memory)."""
    return [invitation async for invitation in client.iter_invitations(org_id, per_page=100)]


def pending_by_email(invitations: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Case-folded invitee email -> invitation ID."""
    pending: dict[str, str] = {}
    for invitation in invitations:
        email = (invitation.get("invitee") or {}).get("email")
        if isinstance(email, str) and isinstance(invitation.get("id"), str):
            pending.setdefault(email.casefold(), invitation["id"])
    return pending


async def pending_invitations(client: ManagementClient, org_id: str) -> dict[str, str]:
    """Case-folded invitee email -> invitation ID, for the organization's pending invitations."""
    return pending_by_email(await pending_records(client, org_id))


def _one_recipient_problem(cause: BaseException) -> bool:
    """True when an email failure concerns this recipient only (a refused or malformed address).

    Anything else (SMTP down, wrong password, TLS, a broken template) would fail every next email too, while
    creating an invitation for each: the run stops instead.
    """
    return isinstance(cause, SMTPRecipientRefusedError | MessageError)


def _failure(row: InviteRow, stage: str, exc: BaseException, invitation_id: str | None = None) -> Failure:
    if isinstance(exc, ManagementAPIError):
        return Failure(row.line, row.email, stage, exc.message, type(exc).__name__, exc.status_code, exc.error_code,
                       invitation_id)
    if isinstance(exc, InvitationEmailError):
        return Failure(row.line, row.email, stage, f"{type(exc.cause).__name__}: {exc.cause}", type(exc).__name__,
                       invitation_id=exc.invitation_id)
    return Failure(row.line, row.email, stage, str(exc), type(exc).__name__, invitation_id=invitation_id)


async def invite_rows(
    client: ManagementClient,
    organization: Mapping[str, Any],
    rows: Sequence[InviteRow],
    *,
    options: BulkOptions,
    state: InviteState,
    sender: InvitationSender | None,
    roles: Mapping[str, Mapping[str, Any]],
    pending: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    outcome: BulkOutcome | None = None,
) -> BulkOutcome:
    """Invite ``rows`` (roles already resolved to IDs; ``roles`` maps role ID -> record for the email).

    ``outcome`` may be passed in so that the caller still holds the partial result after a KeyboardInterrupt.
    """
    if sender is None and not options.auth0_sends_email:
        raise ValueError("a sender is required unless Auth0 sends the emails")
    result = outcome if outcome is not None else BulkOutcome(total=len(rows))
    pending = pending or {}

    def note(item: Outcome) -> None:
        if progress is not None:
            progress(result, item)

    for index, row in enumerate(rows):
        if state.is_invited(row):
            skip = Skip(row.line, row.email, "already_invited", state.invited[row.key].get("invitation_id"))
            result.skipped.append(skip)
            note(Outcome(row.line, row.email, "skipped", "already invited by an earlier run", skip.invitation_id))
            continue
        existing_id = state.created_invitation(row)
        if existing_id is None and row.key in pending and not options.reinvite_pending:
            skip = Skip(row.line, row.email, "pending_invitation", pending[row.key])
            result.skipped.append(skip)
            note(Outcome(row.line, row.email, "skipped", "already has a pending invitation", skip.invitation_id))
            continue
        try:
            item = await _invite_one(client, organization, row, options, state, sender, roles, existing_id)
        except _FATAL as exc:
            failure = _failure(row, "create", exc)
            stop = f"{type(exc).__name__}: {exc.message}"
        except InvitationEmailError as exc:
            failure = _failure(row, "email", exc)
            stop = None if _one_recipient_problem(exc.cause) else f"{type(exc.cause).__name__}: {exc.cause}"
        except (ManagementAPIError, ValueError) as exc:
            failure = _failure(row, "create", exc)
            stop = None
        else:
            result.invited.append(item)
            note(item)
            continue
        result.failures.append(failure)
        note(Outcome(row.line, row.email, "failed", failure.message, failure.invitation_id))
        if stop is not None:
            result.stopped = stop
            for later in rows[index + 1 :]:
                if not state.is_invited(later):
                    result.failures.append(Failure(later.line, later.email, "not_attempted", "the run stopped early"))
            return result
    return result


async def _invite_one(
    client: ManagementClient,
    organization: Mapping[str, Any],
    row: InviteRow,
    options: BulkOptions,
    state: InviteState,
    sender: InvitationSender | None,
    roles: Mapping[str, Mapping[str, Any]],
    existing_id: str | None,
) -> Outcome:
    org_id = str(organization["id"])
    invitation: dict[str, Any] | None = None
    detail = "email sent" if not options.auth0_sends_email else "Auth0 sends the email"
    if existing_id is not None:  # created by an earlier run whose email did not go out
        try:
            invitation = await client.get_invitation(org_id, existing_id)
            detail = "email re-sent for the invitation created by an earlier run"
            if state.created.get(row.key, {}).get("recovered"):
                detail = "email sent for the invitation an earlier run created (its answer was lost)"
        except NotFoundError:
            invitation = None  # expired or revoked since: create a fresh one
        if invitation is not None and options.auth0_sends_email:
            detail = "invitation created by an earlier run"
    if invitation is None:
        # Durably before the call: if this process dies with the call in flight, the next run finds the
        # invitation by this marker instead of taking it for someone else's and never sending its email.
        marker = {INTENT_MARKER: state.mark_intent(row)}
        fields = InvitationFields(client_id=options.client_id, inviter_name=options.inviter_name, name=row.name,
                                  roles=row.roles, language=row.language, connection_id=options.connection_id,
                                  ttl_sec=options.ttl_sec, app_metadata=marker)
        if options.auth0_sends_email:  # Auth0's own email (send_invitation_email=true), no sender
            invitation = await post_invitation(client, org_id, row.email, fields, send_invitation_email=True)
            emit_created(client.events, invitation, org_id, fields.inviter_name)
        else:
            invitation = await create_invitation(client, organization, row.email, fields)
        state.mark_created(row, str(invitation["id"]))
    invitation_id = str(invitation["id"])
    message_id: str | None = None
    if not options.auth0_sends_email:
        assert sender is not None
        records = [roles[r] for r in invitation.get("roles") or [] if r in roles]
        sent = await send_invitation(
            invitation,
            organization=organization,
            sender=sender,
            roles=records,
            to_name=row.name,
            application=options.application,
            tenant=options.tenant,
            message_key=f"invitation.{invitation_id}",  # one invitation, one Message-ID, however often sent
            events=client.events,
        )
        message_id = sent.message_id
        detail = f"{detail} ({sent.locale})"
    state.mark_invited(row, invitation_id, message_id)
    return Outcome(row.line, row.email, "invited", detail, invitation_id)

