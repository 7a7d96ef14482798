"""A small team workspace on orginvite, in Starlette: ``uvicorn example_app.workspace:app --port 8000``.

Sign in, see the organization's members and their roles, invite teammates (email, name, roles, language of the
email), revoke pending invitations; invitees accept through the link in their email, which lands on the
middleware's ``/login``. ``GET /invoices`` shows the organization's invoices from the app's API to members whose
access token grants ``invoices:read`` (orginvite's ``requires_permissions`` guard). ``GET /me`` is
example_app.minimal's.

With no environment variables it talks to ``orginvite tenant serve`` on http://127.0.0.1:8765/ and sends emails to
an SMTP catcher on 127.0.0.1:1025 (``orginvite demo`` runs all three). With ``ORGINVITE_ISSUER`` or
``AUTH0_DOMAIN`` set it uses the login flow's variables (see example_app.minimal) plus
``ORGINVITE_MANAGEMENT_CLIENT_ID`` / ``ORGINVITE_MANAGEMENT_CLIENT_SECRET``, ``ORGINVITE_SMTP_URL``,
``ORGINVITE_EMAIL_FROM`` and optionally ``WORKSPACE_ORGANIZATION`` (the organization "Sign in" asks for).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from example_app.api import InvoiceAPI
from example_app.core import (
    EXPECTED_FAILURES,
    INVOICES_READ,
    FormError,
    LocalizedPages,
    NotAMember,
    Workspace,
    WorkspaceConfig,
    _,
    csrf_ok,
    dashboard_context,
    describe_failure,
    echo_form,
    organization_id,
    organization_switcher,
    page_headers,
    parse_invite_form,
    read_form,
    render,
)
from example_app.minimal import me
from orginvite import (
    OrgInviteMiddleware,
    OrgUser,
    RedactInvitationTickets,
    current_permissions,
    logout_form_token,
    requires_permissions,
)
from orginvite.management import ManagementAPIError

__all__ = ["create_app"]

logger = logging.getLogger("example_app")


def _workspace(request: Request) -> Workspace:
    return request.app.state.workspace


def _invoice_api(request: Request) -> InvoiceAPI:
    return request.app.state.invoice_api


async def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    config = _workspace(request).config
    user = request.user if isinstance(request.user, OrgUser) else None
    html = render(template, app_name=config.app_name, user=user, logout_url=config.login.logout_path,
                  logout_token=logout_form_token(request), switcher=await organization_switcher(request),
                  sign_in_url=config.sign_in_path, **context)
    return HTMLResponse(html, status_code=status, headers=page_headers(config.login))


async def _error(request: Request, status: int, code: str, title: str, message: str) -> HTMLResponse:
    return await _page(request, "error.html", status, code=code, title=title, message=message)


async def dashboard(request: Request) -> Response:
    user = request.user
    if not isinstance(user, OrgUser):
        return await _page(request, "signed_out.html")
    org_id = organization_id(request)
    if org_id is None:
        return await _page(request, "no_organization.html", 403)
    try:
        context = await dashboard_context(_workspace(request), user, org_id, notice=request.query_params.get("notice"),
                                          permissions=current_permissions(request))
    except NotAMember:
        return await _error(request, 403, "not_a_member", _("Not a member any more"),
                            _("You are no longer a member of this organization. Sign out, or ask an admin to "
                              "invite you again."))
    except ManagementAPIError as exc:
        logger.warning("dashboard: Management API failed: %s", exc)
        return await _error(request, 502, "management_api", _("The workspace is unavailable"), describe_failure(exc)[1])
    return await _page(request, "dashboard.html", **context)


@requires_permissions(INVOICES_READ)  # signed out: the guard's 401 page; without the permission: its 403 page
async def invoices(request: Request) -> Response:
    return await _invoice_api(request).page(request, _page)


async def no_invoice_api(request: Request) -> Response:
    return await _invoice_api(request).not_configured(request, _page)


async def _admin_form(request: Request) -> tuple[OrgUser, str, dict[str, list[str]]] | Response:
    """Signed in to an organization, a well-formed form with this session's CSRF token, and an admin right now."""
    user = request.user
    if not isinstance(user, OrgUser):
        return await _error(request, 401, "signed_out", _("Sign in first"),
                            _("Your session ended: sign in and try again."))
    org_id = organization_id(request)
    if org_id is None:
        return await _error(request, 403, "no_organization", _("No organization"),
                            _("Sign in to an organization first."))
    form = await read_form(request)
    if form is None:
        return await _error(request, 400, "bad_form", _("Unreadable form"),
                            _("The form could not be read; reload the page."))
    workspace = _workspace(request)
    token = form.get("csrf_token") or [""]
    if len(token) != 1 or not csrf_ok(workspace.config.login, request, user, token[0]):
        logger.warning("form refused: bad CSRF token or foreign origin (sub=%r)", user.sub)
        return await _error(request, 403, "csrf", _("This form has expired"),
                            _("The form was not sent from this page, or your session changed. Reload the page and try "
                              "again."))
    try:
        admin = await workspace.is_admin(org_id, user)
    except ManagementAPIError as exc:
        return await _error(request, 502, "management_api", _("The workspace is unavailable"), describe_failure(exc)[1])
    if not admin:
        return await _error(request, 403, "not_admin", _("Admins only"),
                            _("Only members with the %(role)s role can invite or revoke.",
                              role=repr(workspace.config.admin_role)))
    return user, org_id, form


async def create_invitation(request: Request) -> Response:
    checked = await _admin_form(request)
    if isinstance(checked, Response):
        return checked
    user, org_id, form = checked
    workspace = _workspace(request)
    try:
        parsed = parse_invite_form(form, await workspace.roles(), workspace.languages)
        result = await workspace.invite(org_id, user, parsed)
    except EXPECTED_FAILURES as exc:
        status, message = describe_failure(exc)
        field = exc.field if isinstance(exc, FormError) else "invitation"
        try:
            context = await dashboard_context(workspace, user, org_id, form=echo_form(form),
                                              error=FormError(field, message),
                                              permissions=current_permissions(request))
        except (ManagementAPIError, NotAMember):
            return await _error(request, status, field, _("The invitation was not sent"), message)
        return await _page(request, "dashboard.html", status, **context)
    logger.info("invitation %s sent in %s by %r", result.invitation_id, result.locale, user.sub)
    return RedirectResponse("/?notice=invited", status_code=303)


async def revoke_invitation(request: Request) -> Response:
    checked = await _admin_form(request)
    if isinstance(checked, Response):
        return checked
    user, org_id, _form = checked
    try:
        await _workspace(request).revoke(org_id, request.path_params["invitation_id"], user)
    except EXPECTED_FAILURES as exc:
        status, message = describe_failure(exc)
        return await _error(request, status, "revoke", _("The invitation was not revoked"), message)
    logger.info("invitation revoked by %r", user.sub)
    return RedirectResponse("/?notice=revoked", status_code=303)


async def resend_invitation(request: Request) -> Response:
    checked = await _admin_form(request)
    if isinstance(checked, Response):
        return checked
    user, org_id, _form = checked
    try:
        result = await _workspace(request).resend(org_id, request.path_params["invitation_id"], user)
    except EXPECTED_FAILURES as exc:
        status, message = describe_failure(exc)
        return await _error(request, status, "resend", _("The invitation was not sent again"), message)
    logger.info("invitation %s renewed as %s by %r", result.replaces, result.invitation_id, user.sub)
    return RedirectResponse("/?notice=resent", status_code=303)


def create_app(config: WorkspaceConfig | None = None, *, workspace: Workspace | None = None,
               invoice_api: InvoiceAPI | None = None) -> OrgInviteMiddleware:
    """The workspace wrapped in the login middleware; ``config=None`` reads the environment."""
    if workspace is None:
        workspace = Workspace(config or WorkspaceConfig.from_env())
    if invoice_api is None:
        invoice_api = InvoiceAPI(workspace.config.login)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await workspace.aclose()
        await invoice_api.aclose()

    app = Starlette(
        routes=[
            Route("/", dashboard),
            Route("/me", me),
            Route("/invitations", create_invitation, methods=["POST"]),
            Route("/invitations/{invitation_id}/revoke", revoke_invitation, methods=["POST"]),
            Route("/invoices", invoices if invoice_api.configured else no_invoice_api),
            Route("/api/invoices", invoice_api.invoices),
            Route("/invitations/{invitation_id}/resend", resend_invitation, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.workspace = workspace
    app.state.invoice_api = invoice_api
    return OrgInviteMiddleware(LocalizedPages(app), workspace.config.login)


def __getattr__(name: str) -> Any:
    """``app`` for uvicorn, built on first access so that importing this module reads no environment."""
    if name == "app":
        logging.getLogger("uvicorn.access").addFilter(RedactInvitationTickets())
        globals()["app"] = application = create_app()
        return application
    raise AttributeError(name)
