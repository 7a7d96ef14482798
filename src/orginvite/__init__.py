"""orginvite: from an organization invitation link to a signed-in member of the right organization.

The public API is importable from here (``from orginvite import OrgInviteMiddleware, Settings``). Names are
resolved on first use (PEP 562), so ``import orginvite`` stays cheap and ``orginvite tenant serve`` does not load
the login or email stacks it never calls.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from orginvite.errors import (
    CallbackError,
    ConfigurationError,
    InvalidCookieError,
    InvalidLinkError,
    OrganizationClaimError,
    OrgInviteError,
    ProviderError,
    SessionExpired,
    SessionStoreError,
    TokenError,
)

__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY: dict[str, str] = {
    # login flow
    "Settings": "orginvite.config",
    "OrgInviteMiddleware": "orginvite.login.middleware",
    "AcceptanceVetoed": "orginvite.login.callback",
    "RedactInvitationTickets": "orginvite.login.redaction",
    "OrgUser": "orginvite.sessions.user",
    "Organization": "orginvite.sessions.user",
    "current_organization": "orginvite.sessions.user",
    "current_roles": "orginvite.sessions.user",
    "get_access_token": "orginvite.sessions.access",
    "requires_roles": "orginvite.sessions.guards",
    "requires_permissions": "orginvite.sessions.guards",
    "current_permissions": "orginvite.sessions.guards",
    "current_organizations": "orginvite.sessions.membership",
    "MemberOrganization": "orginvite.sessions.membership",
    "switch_organization_url": "orginvite.login.switching",
    "LinkRules": "orginvite.links",
    "LoginRequest": "orginvite.links",
    "parse_login_query": "orginvite.links",
    "safe_return_path": "orginvite.links",
    "ticket_fingerprint": "orginvite.links",
    "check_organization": "orginvite.login.claims",
    "logout_form_token": "orginvite.login.logout",
    # multi-tenant routing
    "TenancyRules": "orginvite.tenancy.rules",
    "TenancyError": "orginvite.tenancy.rules",
    # locales and translations
    "negotiate": "orginvite.i18n.locales",
    "LocaleResolution": "orginvite.i18n.locales",
    "Catalogs": "orginvite.i18n.translations",
    "CatalogError": "orginvite.i18n.translations",
    "set_default_catalogs": "orginvite.i18n.translations",
    "use_locale": "orginvite.i18n.translations",
    # emails
    "EmailRenderer": "orginvite.emails",
    "Invitation": "orginvite.emails",
    "RenderedEmail": "orginvite.emails",
    "RenderError": "orginvite.emails",
    "MessageError": "orginvite.emails",
    "SMTPSender": "orginvite.emails",
    "SMTPSettings": "orginvite.emails",
    "SendError": "orginvite.emails",
    "build_message": "orginvite.emails",
    # Management API
    "ManagementClient": "orginvite.management",
    "ManagementAPIError": "orginvite.management",
    "InviteResult": "orginvite.management",
    "invite": "orginvite.management",
    "resend_invitation": "orginvite.management",
    "revoke_invitation": "orginvite.management",
    # invitation lifecycle events
    "InvitationEvent": "orginvite.events",
    "WebhookSink": "orginvite.events",
    "log_event": "orginvite.events",
    "fan_out": "orginvite.events",
    # testing
    "LiveServer": "orginvite.testing",
}

__all__ = [  # noqa: RUF022 (grouped as above, not sorted)
    "CallbackError",
    "ConfigurationError",
    "InvalidCookieError",
    "InvalidLinkError",
    "OrgInviteError",
    "OrganizationClaimError",
    "ProviderError",
    "SessionExpired",
    "SessionStoreError",
    "TokenError",
    "__version__",
    "Settings",
    "OrgInviteMiddleware",
    "AcceptanceVetoed",
    "RedactInvitationTickets",
    "OrgUser",
    "Organization",
    "current_organization",
    "current_roles",
    "get_access_token",
    "requires_roles",
    "requires_permissions",
    "current_permissions",
    "current_organizations",
    "MemberOrganization",
    "switch_organization_url",
    "LinkRules",
    "LoginRequest",
    "parse_login_query",
    "safe_return_path",
    "ticket_fingerprint",
    "check_organization",
    "logout_form_token",
    "TenancyRules",
    "TenancyError",
    "negotiate",
    "LocaleResolution",
    "Catalogs",
    "CatalogError",
    "set_default_catalogs",
    "use_locale",
    "EmailRenderer",
    "Invitation",
    "RenderedEmail",
    "RenderError",
    "MessageError",
    "SMTPSender",
    "SMTPSettings",
    "SendError",
    "build_message",
    "ManagementClient",
    "ManagementAPIError",
    "InviteResult",
    "invite",
    "resend_invitation",
    "revoke_invitation",
    "InvitationEvent",
    "WebhookSink",
    "log_event",
    "fan_out",
    "LiveServer",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orginvite' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # static analysers and IDEs see the real names
    from orginvite.config import Settings
    from orginvite.emails import (
        EmailRenderer,
        Invitation,
        MessageError,
        RenderedEmail,
        RenderError,
        SendError,
        SMTPSender,
        SMTPSettings,
        build_message,
    )
    from orginvite.events import InvitationEvent, WebhookSink, fan_out, log_event
    from orginvite.i18n.locales import LocaleResolution, negotiate
    from orginvite.i18n.translations import CatalogError, Catalogs, set_default_catalogs, use_locale
    from orginvite.links import LinkRules, LoginRequest, parse_login_query, safe_return_path, ticket_fingerprint
    from orginvite.login.callback import AcceptanceVetoed
    from orginvite.login.claims import check_organization
    from orginvite.login.logout import logout_form_token
    from orginvite.login.middleware import OrgInviteMiddleware
    from orginvite.login.redaction import RedactInvitationTickets
    from orginvite.login.switching import switch_organization_url
    from orginvite.management import (
        InviteResult,
        ManagementAPIError,
        ManagementClient,
        invite,
        resend_invitation,
        revoke_invitation,
    )
    from orginvite.sessions.access import get_access_token
    from orginvite.sessions.guards import current_permissions, requires_permissions, requires_roles
    from orginvite.sessions.membership import MemberOrganization, current_organizations
    from orginvite.sessions.user import Organization, OrgUser, current_organization, current_roles
    from orginvite.tenancy.rules import TenancyError, TenancyRules
    from orginvite.testing import LiveServer
