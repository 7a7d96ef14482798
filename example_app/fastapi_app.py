"""The team workspace in FastAPI idioms: ``uvicorn example_app.fastapi_app:app --port 8000``.

The same pages, rules and configuration as the Starlette app (example_app.workspace, see its docstring for the
environment), written the FastAPI way: the middleware added with ``app.add_middleware``, the signed-in member, the
admin check and the CSRF-checked form as dependencies, refusals as an exception with its handler, pages through
``Jinja2Templates``. The form is read by a dependency of ours rather than ``Form(...)`` so that the example does
not need python-multipart. ``/invoices`` is behind ``Depends(orginvite.fastapi.require_permissions(...))``, whose
401 and 403 a handler shows as the workspace's error page (FastAPI's JSON to a client that asks for JSON).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from example_app.api import InvoiceAPI
from example_app.core import (
    EXPECTED_FAILURES,
    INVOICES_READ,
    TEMPLATES,
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
    wants_json,
)
from example_app.minimal import me
from orginvite import OrgInviteMiddleware, OrgUser, RedactInvitationTickets, current_permissions, logout_form_token
from orginvite.fastapi import require_permissions
from orginvite.management import ManagementAPIError

__all__ = ["create_app"]

logger = logging.getLogger("example_app")
templates = Jinja2Templates(env=TEMPLATES)


class PageError(Exception):
    """A refusal shown as the error page (its handler below renders it)."""

    def __init__(self, status: int, code: str, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.title, self.message = status, code, title, message


def get_workspace(request: Request) -> Workspace:
    return request.app.state.workspace


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]


async def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    config = get_workspace(request).config
    user = request.user if isinstance(request.user, OrgUser) else None
    return templates.TemplateResponse(
        request, name, {"app_name": config.app_name, "user": user, "logout_url": config.login.logout_path,
                        "logout_token": logout_form_token(request),
                        "switcher": await organization_switcher(request),
                        "sign_in_url": config.sign_in_path, **context},
        status_code=status, headers=page_headers(config.login),
    )


@dataclass(frozen=True)
class Member:
    user: OrgUser
    org_id: str


def signed_in_member(request: Request) -> Member:
    user = request.user
    if not isinstance(user, OrgUser):
        raise PageError(401, "signed_out", _("Sign in first"), _("Your session ended: sign in and try again."))
    org_id = organization_id(request)
    if org_id is None:
        raise PageError(403, "no_organization", _("No organization"), _("Sign in to an organization first."))
    return Member(user, org_id)


MemberDep = Annotated[Member, Depends(signed_in_member)]


async def checked_form(request: Request, member: MemberDep, workspace: WorkspaceDep) -> dict[str, list[str]]:
    """The urlencoded form, refused unless it carries this session's CSRF token and comes from our origin."""
    form = await read_form(request)
    if form is None:
        raise PageError(400, "bad_form", _("Unreadable form"), _("The form could not be read; reload the page."))
    token = form.get("csrf_token") or [""]
    if len(token) != 1 or not csrf_ok(workspace.config.login, request, member.user, token[0]):
        logger.warning("form refused: bad CSRF token or foreign origin (sub=%r)", member.user.sub)
        raise PageError(403, "csrf", _("This form has expired"),
                        _("The form was not sent from this page, or your session changed. Reload the page and try "
                          "again."))
    return form


FormDep = Annotated[dict[str, list[str]], Depends(checked_form)]


async def admin(member: MemberDep, workspace: WorkspaceDep, form: FormDep) -> Member:
    """An admin of the organization right now (asked of the Management API), after the CSRF check."""
    try:
        allowed = await workspace.is_admin(member.org_id, member.user)
    except ManagementAPIError as exc:
        raise PageError(502, "management_api", _("The workspace is unavailable"), describe_failure(exc)[1]) from exc
    if not allowed:
        raise PageError(403, "not_admin", _("Admins only"),
                        _("Only members with the %(role)s role can invite or revoke.",
                          role=repr(workspace.config.admin_role)))
    return member


AdminDep = Annotated[Member, Depends(admin)]


def guard_refusal(exc: HTTPException) -> PageError:
    """A guard's 401 (signed out) or 403 (``detail["missing"]`` names the roles and permissions) as the page."""
    if exc.status_code == 401:
        return PageError(401, "signed_out", _("Sign in first"), _("Sign in to see this page."))
    missing = exc.detail.get("missing") if isinstance(exc.detail, dict) else None
    names = [str(name) for values in missing.values() for name in values] if isinstance(missing, dict) else []
    if not names:
        return PageError(403, "forbidden", _("No access"), _(
            "Your roles in this organization do not allow this page. Ask an admin of the organization if you "
            "need it."))
    return PageError(403, "forbidden", _("No access"), _(
        "Your roles in this organization do not allow this page (it needs %(needed)s). Ask an admin of the "
        "organization if you need it.", needed=", ".join(names)))


def create_app(config: WorkspaceConfig | None = None, *, workspace: Workspace | None = None,
               invoice_api: InvoiceAPI | None = None) -> FastAPI:
    """The FastAPI workspace with the login middleware added; ``config=None`` reads the environment."""
    if workspace is None:
        workspace = Workspace(config or WorkspaceConfig.from_env())
    if invoice_api is None:
        invoice_api = InvoiceAPI(workspace.config.login)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await workspace.aclose()
        await invoice_api.aclose()

    app = FastAPI(title=workspace.config.app_name, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.workspace = workspace
    app.add_middleware(LocalizedPages)  # inside the login middleware, as in the Starlette app
    app.add_middleware(OrgInviteMiddleware, settings=workspace.config.login)

    if invoice_api.configured:
        @app.get("/invoices", dependencies=[Depends(require_permissions(INVOICES_READ))])
        async def invoices(request: Request) -> Response:
            return await invoice_api.page(request, page)
    else:
        @app.get("/invoices")
        async def no_invoice_api(request: Request) -> Response:
            return await invoice_api.not_configured(request, page)

    @app.get("/api/invoices")
    async def api_invoices(request: Request) -> Response:
        return await invoice_api.invoices(request)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return await page(request, "error.html", exc.status, code=exc.code, title=exc.title, message=exc.message)

    @app.exception_handler(HTTPException)
    async def refusal(request: Request, exc: HTTPException) -> Response:
        # The guards raise 401/403 HTTPExceptions: a browser gets the workspace's page, a JSON client FastAPI's
        # JSON; every other HTTPException (a 404, the access_token dependency's 303) is FastAPI's as usual.
        if exc.status_code not in (401, 403) or wants_json(request):
            return await http_exception_handler(request, exc)
        return await page_error(request, guard_refusal(exc))

    @app.get("/", response_class=HTMLResponse)
    async def dashboard(request: Request, workspace: WorkspaceDep, notice: str | None = None) -> Response:
        if not isinstance(request.user, OrgUser):
            return await page(request, "signed_out.html")
        org_id = organization_id(request)
        if org_id is None:
            return await page(request, "no_organization.html", 403)
        try:
            context = await dashboard_context(workspace, request.user, org_id, notice=notice,
                                              permissions=current_permissions(request))
        except NotAMember as exc:
            raise PageError(403, "not_a_member", _("Not a member any more"), _(
                "You are no longer a member of this organization. Sign out, or ask an admin to invite you "
                "again.")) from exc
        except ManagementAPIError as exc:
            raise PageError(502, "management_api", _("The workspace is unavailable"),
                            describe_failure(exc)[1]) from exc
        return await page(request, "dashboard.html", **context)

    app.add_api_route("/me", me, methods=["GET"])  # example_app.minimal's, as is

    @app.post("/invitations")
    async def create_invitation(request: Request, workspace: WorkspaceDep, member: AdminDep, form: FormDep) -> Response:
        try:
            parsed = parse_invite_form(form, await workspace.roles(), workspace.languages)
            result = await workspace.invite(member.org_id, member.user, parsed)
        except EXPECTED_FAILURES as exc:
            status, message = describe_failure(exc)
            field = exc.field if isinstance(exc, FormError) else "invitation"
            try:
                context = await dashboard_context(workspace, member.user, member.org_id, form=echo_form(form),
                                                  error=FormError(field, message),
                                                  permissions=current_permissions(request))
            except (ManagementAPIError, NotAMember):
                raise PageError(status, field, _("The invitation was not sent"), message) from exc
            return await page(request, "dashboard.html", status, **context)
        logger.info("invitation %s sent in %s by %r", result.invitation_id, result.locale, member.user.sub)
        return RedirectResponse("/?notice=invited", status_code=303)

    @app.post("/invitations/{invitation_id}/revoke")
    async def revoke_invitation(invitation_id: str, workspace: WorkspaceDep, member: AdminDep) -> Response:
        try:
            await workspace.revoke(member.org_id, invitation_id, member.user)
        except EXPECTED_FAILURES as exc:
            status, message = describe_failure(exc)
            raise PageError(status, "revoke", _("The invitation was not revoked"), message) from exc
        logger.info("invitation revoked by %r", member.user.sub)
        return RedirectResponse("/?notice=revoked", status_code=303)

    @app.post("/invitations/{invitation_id}/resend")
    async def resend_invitation(invitation_id: str, workspace: WorkspaceDep, member: AdminDep) -> Response:
        try:
            result = await workspace.resend(member.org_id, invitation_id, member.user)
        except EXPECTED_FAILURES as exc:
            status, message = describe_failure(exc)
            raise PageError(status, "resend", _("The invitation was not sent again"), message) from exc
        logger.info("invitation %s renewed as %s by %r", result.replaces, result.invitation_id, member.user.sub)
        return RedirectResponse("/?notice=resent", status_code=303)

    return app


def __getattr__(name: str) -> Any:
    """``app`` for uvicorn, built on first access so that importing this module reads no environment."""
    if name == "app":
        logging.getLogger("uvicorn.access").addFilter(RedactInvitationTickets())
        globals()["app"] = application = create_app()
        return application
    raise AttributeError(name)
