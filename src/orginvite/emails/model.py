"""What an invitation email is made of, in Auth0's User Invitation template names.

Templates written for Auth0's invitation email port over because the context keeps Auth0's variable names
(``inviter.name``, ``organization.display_name``, ``url``, ``roles``, ...). Everything here is untrusted text an
inviter or an admin typed: single-line fields lose their control characters and line breaks here, HTML
escaping happens in the templates, header encoding in the message builder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orginvite.text import strip_hidden_characters

__all__ = ["Invitation", "one_line", "safe_color", "safe_https_url", "sample_invitation"]

_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
_SPACES = re.compile(r" {2,}")
_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def one_line(value: object, *, limit: int = 255) -> str:
    """A single-line display string: line breaks and tabs become spaces, other control and format characters
    go (:mod:`orginvite.text`: bidi overrides, zero-width spaces...), length capped.

    Subjects and display names must never carry CR/LF (header injection), invisible controls or characters
    that reorder the text around them.
    """
    if value is None:
        return ""
    text = str(value)
    if text.isprintable() and "  " not in text:
        return text.strip()[:limit]  # no breaks, controls, tabs or other separators: the usual name or subject
    text = _LINE_BREAKS.sub(" ", text)
    text = strip_hidden_characters(text.replace("\t", " "))
    text = _SPACES.sub(" ", text).strip()
    return text[:limit]


def safe_color(value: object, default: str) -> str:
    """A ``#rgb``/``#rrggbb`` colour for a style attribute, or ``default``: branding colours are untrusted CSS."""
    return value if isinstance(value, str) and _HEX_COLOR.match(value) else default


def safe_https_url(value: object) -> str | None:
    """An ``https://`` URL without spaces, quotes or angle brackets, else None."""
    if not isinstance(value, str) or len(value) > 2048:
        return None
    if not value.startswith("https://") or re.search(r"[\s\"'<>\\`]", value):
        return None
    return value


@dataclass(frozen=True)
class Invitation:
    """One invitation, enough to render its email.

    ``url`` is the invitation URL (``invitation_url`` in the Management API); ``organization``, ``application``
    and each role are mappings in Auth0's JSON shape. ``locale`` is a locale stored on the invitation (wins over
    ``user_metadata``); ``timezone`` the invitee's IANA timezone, if known (else ``user_metadata["timezone"]``,
    else UTC).
    """

    url: str
    invitee_email: str
    organization: Mapping[str, Any]
    inviter_name: str = ""
    roles: Sequence[Mapping[str, Any]] = ()
    expires_at: str | None = None
    user_metadata: Mapping[str, Any] = field(default_factory=dict)
    app_metadata: Mapping[str, Any] = field(default_factory=dict)
    application: Mapping[str, Any] = field(default_factory=dict)
    friendly_name: str = ""
    support_email: str | None = None
    support_url: str | None = None
    locale: str | None = None
    timezone: str | None = None
    id: str | None = None

    @classmethod
    def from_management_api(
        cls,
        body: Mapping[str, Any],
        *,
        organization: Mapping[str, Any],
        roles: Sequence[Mapping[str, Any]] = (),
        application: Mapping[str, Any] | None = None,
        tenant: Mapping[str, Any] | None = None,
    ) -> Invitation:
        """Build from a ``POST /api/v2/organizations/{id}/invitations`` response plus what it only names by id.

        The response carries role IDs, the client ID and the organization ID; pass the full role, application
        and organization records, and the tenant settings (``friendly_name``, ``support_email``,
        ``support_url``).
        """
        tenant = tenant or {}
        metadata = body.get("user_metadata") or {}
        return cls(
            id=body.get("id"),
            url=str(body["invitation_url"]),
            invitee_email=str((body.get("invitee") or {}).get("email", "")),
            inviter_name=str((body.get("inviter") or {}).get("name", "")),
            organization=organization,
            roles=tuple(roles),
            expires_at=body.get("expires_at"),
            user_metadata=metadata if isinstance(metadata, Mapping) else {},
            app_metadata=body.get("app_metadata") or {},
            application=application or {"client_id": body.get("client_id")},
            friendly_name=str(tenant.get("friendly_name") or ""),
            support_email=tenant.get("support_email"),
            support_url=tenant.get("support_url"),
        )

    @property
    def organization_display_name(self) -> str:
        return one_line(self.organization.get("display_name") or self.organization.get("name") or "")


def sample_invitation(**overrides: Any) -> Invitation:
    """Fixture data for previews, the CLI and tests (every optional part filled in)."""
    values: dict[str, Any] = dict(
        id="uinv_Pr3v13wS4mpl3Inv",
        url="https://app.example.com/login?invitation=Yb4z0Sample0Ticket&organization=org_Pr3v13wS4mpl3Org"
        "&organization_name=acme",
        invitee_email="zoe.martin@example.com",
        inviter_name="Amira Haddad",
        organization={
            "id": "org_Pr3v13wS4mpl3Org",
            "name": "acme",
            "display_name": "Acme Inc.",
            "metadata": {},
            "branding": {
                "logo_url": "https://cdn.example.com/acme.png",
                "colors": {"primary": "#0059d6", "page_background": "#f4f4f5"},
            },
        },
        roles=(
            {"id": "rol_Pr3v13wAdm1n000", "name": "admin", "description": "Manages the workspace"},
            {"id": "rol_Pr3v13wB1ll1ng0", "name": "billing", "description": "Sees invoices"},
        ),
        expires_at="2026-12-01T09:30:00.000Z",
        user_metadata={"lang": "en"},
        application={"name": "Acme Cloud", "client_id": "Pr3v13wCl13nt", "metadata": {}},
        friendly_name="Acme Cloud",
        support_email="support@example.com",
        support_url="https://help.example.com/",
    )
    values.update(overrides)
    return Invitation(**values)
