"""Invite one person: create the invitation without Auth0's email, then send orginvite's localized email.

The order matters. The invitation is created first with ``send_invitation_email=false`` and the invitee's language
in ``user_metadata["lang"]`` (Auth0's pattern for a language chosen by the inviter: its own email template sees it
as ``user_metadata.lang``, and so does the email renderer here). Only then is the email rendered and sent. If
sending fails, the invitation is not rolled back: the error
(:class:`~orginvite.management.errors.InvitationEmailError`) names it, and :func:`resend_invitation` sends its
email again. Everything that can be checked before creating anything (the organization, the roles, the language)
is checked first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from orginvite.events import EventEmitter, InvitationEvent
from orginvite.i18n import locales
from orginvite.management.errors import InvitationEmailError

if TYPE_CHECKING:
    from orginvite.emails.model import Invitation
    from orginvite.management.client import ManagementClient

__all__ = [
    "InvitationSender",
    "InviteResult",
    "SentEmail",
    "create_invitation",
    "invite",
    "normalize_language",
    "resend_invitation",
    "revoke_invitation",
    "role_records",
    "send_invitation",
]

logger = logging.getLogger("orginvite.management")

Record = dict[str, Any]


@dataclass(frozen=True)
class SentEmail:
    """What a sender reports: the Message-ID it used and the locale the email was rendered in."""

    message_id: str
    locale: str


class InvitationSender(Protocol):
    """Renders and delivers one invitation email (see ``orginvite.management.mailer`` for the SMTP one).

    ``message_key``, when given (bulk runs give it), names the email stably: the same key must give the same
    Message-ID, so that an email sent again after a crash is recognisably the message that may have gone out.
    """

    async def send_invitation(
        self, invitation: Invitation, *, to_name: str | None = None, message_key: str | None = None
    ) -> SentEmail: ...


@dataclass(frozen=True)
class InviteResult:
    """The outcome of :func:`invite`. Holds no ticket: safe to log and to store."""

    invitation_id: str
    organization_id: str
    email: str
    message_id: str
    locale: str
    expires_at: str | None = None


async def role_records(client: ManagementClient, role_ids: Sequence[str], *, strict: bool = True) -> list[Record]:
    """The full records (id, name, description) of ``role_ids``, in order.

    The email lists roles by name, and an unknown role is better refused (ValueError, when ``strict``) before
    the invitation exists; when re-sending, a role deleted since is just left out of the email.
    """
    if not role_ids:
        return []
    known = {str(role.get("id")): role async for role in client.iter_roles()}
    unknown = [role_id for role_id in role_ids if role_id not in known]
    if unknown and strict:
        raise ValueError(f"unknown role ID(s): {', '.join(unknown)}")
    return [known[role_id] for role_id in role_ids if role_id in known]


def normalize_language(language: str | None) -> str | None:
    """The BCP 47 spelling stored in ``user_metadata["lang"]`` (``pt_br`` -> ``pt-BR``); ValueError if no tag."""
    if language is None or not language.strip():
        return None
    normalized = locales.normalize(language)
    if normalized is None:
        raise ValueError(f"{language!r} is not a language tag (e.g. fr, pt-BR)")
    return locales.to_bcp47(normalized)  # "pt-BR": the web's spelling, what Auth0 rules and templates compare


async def create_invitation(
    client: ManagementClient,
    organization: Mapping[str, Any],
    email: str,
    *,
    client_id: str,
    inviter_name: str,
    name: str | None = None,
    roles: Sequence[str] = (),
    language: str | None = None,
    connection_id: str | None = None,
    ttl_sec: int = 0,
    user_metadata: Mapping[str, Any] | None = None,
    app_metadata: Mapping[str, Any] | None = None,
) -> Record:
    """The first half of :func:`invite`: the invitation, created with ``send_invitation_email=false``.

    ``inviter_name`` is stored as :func:`~orginvite.emails.model.one_line` leaves it (no line breaks, controls
    or bidi overrides): the provider's own emails and every admin's list of pending invitations show it.
    """
    from orginvite.emails.model import one_line

    metadata: Record = dict(user_metadata or {})
    lang = normalize_language(language)
    if lang is not None:
        metadata["lang"] = lang
    if name:
        metadata.setdefault("name", name)
    inviter = one_line(inviter_name, limit=300)
    created = await client.create_invitation(
        str(organization["id"]),
        inviter_name=inviter,
        invitee_email=email,
        client_id=client_id,
        connection_id=connection_id,
        ttl_sec=ttl_sec,
        roles=list(roles),
        send_invitation_email=False,
        app_metadata=app_metadata,
        user_metadata=metadata,
    )
    emit_created(client.events, created, str(organization["id"]), inviter)
    return created


def emit_created(events: EventEmitter, invitation: Mapping[str, Any], org_id: str, actor: str | None) -> None:
    """``invitation.created`` for a record the Management API just returned."""
    events.emit(InvitationEvent(
        "invitation.created", org_id, str(invitation.get("id", "")) or None,
        email=_invitee(invitation) or None, actor=actor, expires_at=_text(invitation.get("expires_at")),
    ))


def _invitee(invitation: Mapping[str, Any]) -> str:
    invitee = invitation.get("invitee")
    return str(invitee.get("email", "")) if isinstance(invitee, Mapping) else ""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def send_invitation(
    invitation: Mapping[str, Any],
    *,
    organization: Mapping[str, Any],
    sender: InvitationSender,
    roles: Sequence[Mapping[str, Any]] = (),
    to_name: str | None = None,
    application: Mapping[str, Any] | None = None,
    tenant: Mapping[str, Any] | None = None,
    message_key: str | None = None,
    events: EventEmitter | None = None,
) -> InviteResult:
    """The second half of :func:`invite`: render and send the email of an existing invitation.

    Any failure is an :class:`InvitationEmailError` that names the invitation, which still exists.
    ``message_key`` goes to the sender (see :class:`InvitationSender`); only then is it passed.
    ``events`` (the client's ``events``) receives ``invitation.email_sent`` or ``invitation.email_failed``.
    """
    from orginvite.emails.model import Invitation

    invitation_id = str(invitation.get("id", ""))
    org_id = str(organization.get("id", ""))
    email = _invitee(invitation)
    try:
        model = Invitation.from_management_api(
            invitation, organization=organization, roles=roles, application=application, tenant=tenant
        )
        keyed = {"message_key": message_key} if message_key is not None else {}
        sent = await sender.send_invitation(model, to_name=to_name, **keyed)
    except Exception as exc:
        logger.warning("invitation %s created but its email failed: %s", invitation_id, type(exc).__name__)
        if events is not None:
            events.emit(InvitationEvent("invitation.email_failed", org_id, invitation_id or None, email=email or None,
                                        reason=type(exc).__name__))
        raise InvitationEmailError(invitation_id, org_id, email, exc) from exc
    logger.info("invitation %s sent in %s", invitation_id, sent.locale)
    if events is not None:
        events.emit(InvitationEvent("invitation.email_sent", org_id, invitation_id or None, email=email or None,
                                    expires_at=_text(invitation.get("expires_at"))))
    return InviteResult(
        invitation_id=invitation_id,
        organization_id=org_id,
        email=email,
        message_id=sent.message_id,
        locale=sent.locale,
        expires_at=invitation.get("expires_at"),
    )


async def invite(
    client: ManagementClient,
    organization: str | Mapping[str, Any],
    email: str,
    *,
    client_id: str,
    inviter_name: str,
    sender: InvitationSender,
    name: str | None = None,
    roles: Sequence[str] = (),
    language: str | None = None,
    connection_id: str | None = None,
    ttl_sec: int = 0,
    user_metadata: Mapping[str, Any] | None = None,
    app_metadata: Mapping[str, Any] | None = None,
    application: Mapping[str, Any] | None = None,
    tenant: Mapping[str, Any] | None = None,
) -> InviteResult:
    """Invite ``email`` to ``organization`` (its ID, its name, or its record) and send the localized email.

    ``client_id`` is the application the invitee will sign in to; ``roles`` are role IDs given on acceptance;
    ``language`` (a BCP 47 tag) is stored as ``user_metadata["lang"]`` and picks the email's language (else the
    organization's ``metadata.lang``, else English). ``application`` (``name``...) and ``tenant``
    (``friendly_name``, ``support_email``, ``support_url``) only feed the email's text.

    Raises :class:`~orginvite.management.errors.ManagementAPIError` subclasses when the invitation cannot be
    created (nothing exists then), ValueError for a bad language or unknown role, and
    :class:`~orginvite.management.errors.InvitationEmailError` when it exists but the email failed.
    """
    normalize_language(language)  # refuse a bad tag before anything is created
    org = dict(organization) if isinstance(organization, Mapping) else await client.resolve_organization(organization)
    records = await role_records(client, list(roles))
    created = await create_invitation(
        client,
        org,
        email,
        client_id=client_id,
        inviter_name=inviter_name,
        name=name,
        roles=roles,
        language=language,
        connection_id=connection_id,
        ttl_sec=ttl_sec,
        user_metadata=user_metadata,
        app_metadata=app_metadata,
    )
    return await send_invitation(
        created, organization=org, sender=sender, roles=records, to_name=name, application=application, tenant=tenant,
        events=client.events,
    )


async def resend_invitation(
    client: ManagementClient,
    organization: str | Mapping[str, Any],
    invitation_id: str,
    *,
    sender: InvitationSender,
    application: Mapping[str, Any] | None = None,
    tenant: Mapping[str, Any] | None = None,
) -> InviteResult:
    """Send the email of an invitation that exists (after an :class:`InvitationEmailError`, or on request).

    Raises :class:`~orginvite.management.errors.NotFoundError` when it expired, was used or was revoked.
    """
    org = dict(organization) if isinstance(organization, Mapping) else await client.resolve_organization(organization)
    invitation = await client.get_invitation(str(org["id"]), invitation_id)
    records = await role_records(client, [str(r) for r in invitation.get("roles") or []], strict=False)
    metadata = invitation.get("user_metadata") or {}
    to_name = metadata.get("name") if isinstance(metadata, Mapping) and isinstance(metadata.get("name"), str) else None
    return await send_invitation(
        invitation, organization=org, sender=sender, roles=records, to_name=to_name, application=application,
        tenant=tenant, events=client.events,
    )


async def revoke_invitation(
    client: ManagementClient, organization: str | Mapping[str, Any], invitation_id: str, *, actor: str | None = None
) -> None:
    """Delete a pending invitation (its link stops working) and emit ``invitation.revoked`` naming ``actor``.

    Raises :class:`~orginvite.management.errors.NotFoundError` when it no longer exists (expired, used, revoked).
    """
    org_id = organization if isinstance(organization, str) and organization.startswith("org_") else None
    if org_id is None:
        org = dict(organization) if isinstance(organization, Mapping) else await client.resolve_organization(
            organization)
        org_id = str(org["id"])
    await client.delete_invitation(org_id, invitation_id)
    logger.info("invitation %s revoked", invitation_id)
    client.events.emit(InvitationEvent("invitation.revoked", org_id, invitation_id, actor=actor))
