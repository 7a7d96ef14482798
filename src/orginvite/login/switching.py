"""``switch_organization_url``: the link that moves a signed-in member's session to another organization.

Without multi-tenant routing it is this app's ``/login?organization=<id>&returnTo=<path>&switch=1``: ``/login``
validates it like any link and, for a signed-in user, sends ``prompt=none`` first (the member has a provider
session, so nothing is shown); the callback restarts interactively when the provider answers ``login_required`` or
``interaction_required``, and the new session replaces the old one only once the new organization's checks pass.
Under host or path routing it is the other organization's own login URL (its host or path), where an ordinary
login runs (the provider's session usually makes it as quick).
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import HTTPConnection

from orginvite.links import safe_return_path
from orginvite.login.context import LoginContext, local
from orginvite.sessions.guards import GUARD_PAGES_KEY
from orginvite.sessions.membership import MemberOrganization
from orginvite.sessions.user import Organization

__all__ = ["switch_organization_url"]


def switch_organization_url(conn: HTTPConnection, organization: MemberOrganization | Organization | str,
                            return_to: str | None = None) -> str:
    """The URL that moves the session to ``organization`` (an item of ``current_organizations``, or an ID or
    name), landing on ``return_to`` (a same-origin path; default: the app's default return path)."""
    ctx = conn.scope.get(GUARD_PAGES_KEY)
    if not isinstance(ctx, LoginContext):
        raise RuntimeError("switch_organization_url needs a request that passed through OrgInviteMiddleware")
    if isinstance(organization, str):
        org_id, name = (organization, None) if organization.startswith("org_") else (None, organization)
    else:
        org_id, name = organization.id, organization.name
    settings = ctx.settings
    target = safe_return_path(return_to, settings.default_return_to)
    if ctx.tenants is not None and name:
        from orginvite.tenancy.rules import canonical_login_url

        query = [("organization", org_id or name), ("organization_name", name)]
        if target != settings.default_return_to:
            query.append(("returnTo", target))
        return canonical_login_url(name, ctx.tenants.rules, ctx.tenants.scheme, query,
                                   login_path=ctx.tenants.base_path + settings.login_path)
    query = urlencode({"organization": org_id or name or "", "returnTo": target, "switch": "1"})
    return local(conn, settings.login_path) + "?" + query  # type: ignore[arg-type]
