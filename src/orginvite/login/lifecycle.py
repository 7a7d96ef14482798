"""The login flow's invitation events: ``invitation.accepted`` when a callback that finishes an invitation
signs the invitee in, ``invitation.failed`` when it ends in an error page (see :mod:`orginvite.events`).

Delivered to ``Settings.on_invitation_event`` in the background: a sink that is slow or down never delays the
redirect into the app. One emitter per mounted login flow, kept beside its :class:`LoginContext`.
"""

from __future__ import annotations

import weakref

from orginvite.events import EventEmitter, InvitationEvent
from orginvite.login import preflight
from orginvite.login.context import LoginContext
from orginvite.login.transactions import Transaction
from orginvite.sessions.user import OrgUser

__all__ = ["accepted", "aclose", "dead_link", "emitter", "failed"]

_EMITTERS: weakref.WeakKeyDictionary[LoginContext, EventEmitter] = weakref.WeakKeyDictionary()


def emitter(ctx: LoginContext) -> EventEmitter:
    found = _EMITTERS.get(ctx)
    if found is None:
        found = _EMITTERS[ctx] = EventEmitter(ctx.settings.on_invitation_event)
    return found


async def aclose(ctx: LoginContext) -> None:
    """At shutdown: deliver what is still queued (bounded), so that a restart loses no event of a finished login."""
    found = _EMITTERS.pop(ctx, None)
    if found is not None:
        await found.aclose()


def _finished(ctx: LoginContext, transaction: Transaction) -> None:
    """Whatever the outcome, the provider has seen this invitation: the preflight forgets it (used up or dead)."""
    if transaction.invitation_id is not None and transaction.organization is not None:
        found = preflight.preflight_for(ctx)
        if found is not None:
            found.forget(transaction.organization, transaction.invitation_id)


def accepted(ctx: LoginContext, transaction: Transaction, user: OrgUser, org_id: str | None) -> None:
    """The invitee is signed in to the organization of the invitation."""
    _finished(ctx, transaction)
    if not transaction.invitation or ctx.settings.on_invitation_event is None:
        return
    emitter(ctx).emit(InvitationEvent(
        "invitation.accepted", org_id or transaction.organization, transaction.invitation_id,
        email=user.email, actor=user.sub,
    ))


def failed(ctx: LoginContext, transaction: Transaction, reason: str) -> None:
    """The callback of an invitation ended in an error page; ``reason`` is its kind (``invitation_invalid``,
    ``wrong_account``, ``not_a_member``...) or the local refusal (``forbidden_organization``...)."""
    _finished(ctx, transaction)
    if not transaction.invitation or ctx.settings.on_invitation_event is None:
        return
    emitter(ctx).emit(InvitationEvent(
        "invitation.failed", transaction.organization, transaction.invitation_id,
        email=transaction.invitee_email, reason=reason,
    ))


def dead_link(ctx: LoginContext, organization: str | None) -> None:
    """The invitation preflight answered a link whose invitation is gone (no provider round trip)."""
    if ctx.settings.on_invitation_event is None:
        return
    emitter(ctx).emit(InvitationEvent("invitation.failed", organization, None, reason="invitation_invalid"))
