"""The login flow's invitation events: ``invitation.accepted`` when a callback that finishes an invitation
signs the invitee in, ``invitation.failed`` when it ends in an error page (see :mod:`orginvite.events`).

Delivered to ``Settings.on_invitation_event`` in the background: a sink that is slow or down never delays the
redirect into the app. One emitter per mounted login flow, kept beside its :class:`LoginContext`.
"""

from __future__ import annotations

import weakref

from orginvite.events import EventEmitter, InvitationEvent
from orginvite.login.context import LoginContext
from orginvite.login.transactions import Transaction
from orginvite.sessions.user import OrgUser

__all__ = ["accepted", "emitter", "failed"]

_EMITTERS: weakref.WeakKeyDictionary[LoginContext, EventEmitter] = weakref.WeakKeyDictionary()


def emitter(ctx: LoginContext) -> EventEmitter:
    found = _EMITTERS.get(ctx)
    if found is None:
        found = _EMITTERS[ctx] = EventEmitter(ctx.settings.on_invitation_event)
    return found


def accepted(ctx: LoginContext, transaction: Transaction, user: OrgUser, org_id: str | None) -> None:
    """The invitee is signed in to the organization of the invitation."""
    if not transaction.invitation or ctx.settings.on_invitation_event is None:
        return
    emitter(ctx).emit(InvitationEvent(
        "invitation.accepted", org_id or transaction.organization, getattr(transaction, "invitation_id", None),
        email=user.email, actor=user.sub,
    ))


def failed(ctx: LoginContext, transaction: Transaction, reason: str) -> None:
    """The callback of an invitation ended in an error page; ``reason`` is its kind (``invitation_invalid``,
    ``wrong_account``, ``not_a_member``...) or the local refusal (``forbidden_organization``...)."""
    if not transaction.invitation or ctx.settings.on_invitation_event is None:
        return
    emitter(ctx).emit(InvitationEvent(
        "invitation.failed", transaction.organization, getattr(transaction, "invitation_id", None),
        email=getattr(transaction, "invitee_email", None), reason=reason,
    ))
