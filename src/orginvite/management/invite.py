"""Invite one person: create the invitation without Auth0's email, then send orginvite's localized email.

The order matters. The invitation is created first with ``send_invitation_email=false`` and the invitee's language
in ``user_metadata["lang"]`` (Auth0's pattern for a language chosen by the inviter: its own email template sees it
as ``user_metadata.lang``, and so does the email renderer here). Only then is the email rendered and sent. If
sending fails, the invitation is not rolled back: the error
(:class:`~orginvite.management.errors.InvitationEmailError`) names it, and :func:`resend_invitation` renews it
(a fresh invitation with a new expiry, its email sent). Everything that can be checked before creating anything
(the organization, the roles, the language) is checked first.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
    "InvitationFields",
    "InvitationSender",
    "InviteResult",
    "SentEmail",
    "create_invitation",
    "invite",
    "normalize_language",
    "post_invitation",
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
    replaces: str | None = None  # resend: the invitation this one replaced (its link no longer works)


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


@dataclass(frozen=True)
class InvitationFields:
    """What an invitation is created from besides its organization and the invitee's email: the keywords of
    :func:`invite`, held once so that inviting, renewing and bulk runs build the same Management API call.

    ``user_metadata`` gets ``lang`` (``language``, normalized) and ``name`` (unless it has one) on top.
    """

    client_id: str
    inviter_name: str
    name: str | None = None
    roles: Sequence[str] = ()
    language: str | None = None
    connection_id: str | None = None
    ttl_sec: int = 0
    user_metadata: Mapping[str, Any] | None = None
    app_metadata: Mapping[str, Any] | None = None

    def metadata(self) -> Record:
        """The ``user_metadata`` sent: the given one, with ``lang`` and ``name``; ValueError for a bad language."""
        metadata: Record = dict(self.user_metadata or {})
        lang = normalize_language(self.language)
        if lang is not None:
            metadata["lang"] = lang
        if self.name:
            metadata.setdefault("name", self.name)
        return metadata


async def post_invitation(
    client: ManagementClient, org_id: str, email: str, fields: InvitationFields, *, send_invitation_email: bool = False
) -> Record:
    """The one Management API call that creates an invitation from ``fields`` (no event: callers emit theirs)."""
    return await client.create_invitation(
        org_id,
        inviter_name=fields.inviter_name,
        invitee_email=email,
        client_id=fields.client_id,
        connection_id=fields.connection_id,
        ttl_sec=fields.ttl_sec,
        roles=list(fields.roles),
        send_invitation_email=send_invitation_email,
        app_metadata=fields.app_metadata,
        user_metadata=fields.metadata(),
    )


async def create_invitation(
    client: ManagementClient, organization: Mapping[str, Any], email: str, fields: InvitationFields
) -> Record:
    """The first half of :func:`invite`: the invitation, created with ``send_invitation_email=false``.

    ``inviter_name`` is stored as :func:`~orginvite.emails.model.one_line` leaves it (no line breaks, controls
    or bidi overrides): the provider's own emails and every admin's list of pending invitations show it.
    """
    from orginvite.emails.model import one_line

    inviter = one_line(fields.inviter_name, limit=300)
    org_id = str(organization["id"])
    created = await post_invitation(client, org_id, email, dataclasses.replace(fields, inviter_name=inviter))
    emit_created(client.events, created, org_id, inviter)
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
    fields = InvitationFields(client_id=client_id, inviter_name=inviter_name, name=name, roles=roles, language=language,
                              connection_id=connection_id, ttl_sec=ttl_sec, user_metadata=user_metadata,
                              app_metadata=app_metadata)
    created = await create_invitation(client, org, email, fields)
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
    actor: str | None = None,
) -> InviteResult:
    """Renew an invitation: a fresh one with the same inviter, invitee, roles, metadata, client, connection and
    lifetime, whose email is sent; the old link stops working. The result names the new invitation, its new
    ``expires_at`` and (``replaces``) the old ID.

    Auth0 revokes the older invitation when one is created for the same email; the old one is also deleted here
    (a 404 then is expected), so its link is dead whatever the provider does. Raises
    :class:`~orginvite.management.errors.NotFoundError` when the invitation no longer exists (expired, used or
    revoked: nothing is created then), and :class:`InvitationEmailError` when the new one exists but its email
    failed (send it again with this function, on the new ID).
    """
    from orginvite.management.errors import NotFoundError

    org = dict(organization) if isinstance(organization, Mapping) else await client.resolve_organization(organization)
    org_id = str(org["id"])
    old = await client.get_invitation(org_id, invitation_id)
    records = await role_records(client, [str(r) for r in old.get("roles") or []], strict=False)
    metadata = old.get("user_metadata") if isinstance(old.get("user_metadata"), Mapping) else {}
    inviter = old.get("inviter") if isinstance(old.get("inviter"), Mapping) else {}
    fresh = await post_invitation(client, org_id, _invitee(old), InvitationFields(
        client_id=str(old.get("client_id") or ""),
        inviter_name=str(inviter.get("name") or ""),
        roles=[str(r["id"]) for r in records],  # the roles that still exist (a deleted one would refuse the call)
        connection_id=_text(old.get("connection_id")),
        ttl_sec=_lifetime(old),
        user_metadata=metadata,
        app_metadata=old.get("app_metadata") if isinstance(old.get("app_metadata"), Mapping) else None,
    ))
    with contextlib.suppress(NotFoundError):  # the provider revoked it when the new one was created (Auth0's rule)
        await client.delete_invitation(org_id, invitation_id)
    new_id = str(fresh.get("id", ""))
    logger.info("invitation %s renewed as %s", invitation_id, new_id)
    client.events.emit(InvitationEvent(
        "invitation.resent", org_id, new_id or None, email=_invitee(fresh) or None, actor=actor,
        expires_at=_text(fresh.get("expires_at")), replaces=invitation_id,
    ))
    name = metadata.get("name")
    result = await send_invitation(
        fresh, organization=org, sender=sender, roles=records, to_name=name if isinstance(name, str) else None,
        application=application, tenant=tenant, events=client.events,
    )
    return dataclasses.replace(result, replaces=invitation_id)


def _lifetime(invitation: Mapping[str, Any]) -> int:
    """The invitation's lifetime in seconds (``expires_at - created_at``), for its renewal; 0 (the provider's
    default, 7 days) when the dates are missing or unreadable."""
    import datetime as dt

    try:
        created = dt.datetime.fromisoformat(str(invitation["created_at"]).replace("Z", "+00:00"))
        expires = dt.datetime.fromisoformat(str(invitation["expires_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return 0
    seconds = round((expires - created).total_seconds())
    return seconds if 0 < seconds <= 2592000 else 0


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
