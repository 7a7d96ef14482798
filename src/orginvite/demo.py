"""``orginvite demo``: the dev tenant, an SMTP catcher with its outbox page, and example_app, in one process.

    orginvite demo                        # workspace on :8000, tenant on :8765, outbox on :8025, SMTP on :1025
    orginvite demo --port 0 --tenant-port 0 --outbox-port 0 --smtp-port 0   # free ports (tests, busy machines)

Everything lives in memory and on loopback only. The seeded tenant is ``orginvite tenant serve``'s, with the web
application's callback, logout and login URLs pointed at the workspace's port; the workspace sends its invitation
emails over real SMTP to the catcher, exactly as it would to a production server. Ctrl-C or SIGTERM stops all of
it and the command exits 0.

example_app lives next to ``src/`` in the source checkout (it is an example, not part of the installed package):
the demo finds it there after ``pip install -e .``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import secrets
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import uvicorn

from orginvite.config import Settings
from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.cli import banner
from orginvite.devtenant.config import (
    DEMO_ACME_ORG_NAME,
    DEMO_ADMIN_EMAIL,
    DEMO_ADMIN_PASSWORD,
    DEMO_API_IDENTIFIER,
    DEMO_CONSULTANT_EMAIL,
    DEMO_CONSULTANT_PASSWORD,
    DEMO_M2M_CLIENT_ID,
    DEMO_M2M_CLIENT_SECRET,
    DEMO_WEB_CLIENT_ID,
    DEMO_WEB_CLIENT_SECRET,
    demo_config,
)
from orginvite.devtenant.hosts import HostGuard
from orginvite.emails.outbox import Outbox
from orginvite.events import RecordedEvents, fan_out, log_event
from orginvite.login.redaction import RedactInvitationTickets
from orginvite.serving import bind, cannot_listen, make_server, port_option, serve_until_stopped

__all__ = ["build_parser", "demo_tenant_config", "import_example_app", "main"]

HOST = "127.0.0.1"
#: The only Host header names the demo's servers answer (anything else is DNS rebinding or a mistake).
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orginvite demo",
        description="Run the dev tenant, an SMTP catcher with an outbox page and the example team workspace "
        "together, on loopback, in memory. Ctrl-C stops everything.",
    )
    parser.add_argument("--port", type=port_option, default=8000, help="the workspace (example_app) (default: 8000)")
    parser.add_argument("--tenant-port", type=port_option, default=8765, help="the dev tenant (default: 8765)")
    parser.add_argument("--outbox-port", type=port_option, default=8025, help="the outbox page (default: 8025)")
    parser.add_argument("--smtp-port", type=port_option, default=1025, help="the SMTP catcher (default: 1025)")
    parser.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level (default: warning)",
    )
    return parser


def demo_tenant_config(app_url: str) -> dict[str, Any]:
    """The seeded demo tenant with its web application pointed at ``app_url`` (callback, logout, login URI, and
    back-channel logout: signing out at the tenant ends the workspace session too)."""
    config = demo_config()
    for client in config["clients"]:
        if client["client_id"] == DEMO_WEB_CLIENT_ID:
            client["callbacks"] = [app_url + "/callback"]
            client["allowed_logout_urls"] = [app_url + "/"]
            client["initiate_login_uri"] = app_url + "/login"
            client["oidc_logout"] = {"backchannel_logout_urls": [app_url + "/backchannel-logout"]}
    return config


def import_example_app() -> ModuleType:
    """``example_app.workspace``, from the path or from the source checkout this package is installed from."""
    try:
        return importlib.import_module("example_app.workspace")
    except ModuleNotFoundError as exc:
        if exc.name not in ("example_app", "example_app.workspace"):
            raise
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / "example_app" / "workspace.py").is_file():
        raise RuntimeError(
            "example_app is not importable: run the demo from a source checkout installed with "
            "'pip install -e .' (example_app sits next to src/), or put the checkout on PYTHONPATH"
        )
    sys.path.insert(0, str(checkout))
    return importlib.import_module("example_app.workspace")


def _summary(urls: dict[str, str]) -> str:
    return "\n".join([
        "orginvite demo: a dev tenant, an SMTP catcher and the example team workspace, in memory.",
        "",
        f"  workspace (example_app): {urls['app']}/",
        f"  outbox (caught emails):  {urls['outbox']}/",
        f"  invitation events:       {urls['outbox']}/events",
        f"  SMTP catcher:            {urls['smtp']}",
        f"  dev tenant:              {urls['tenant']}/",
        "",
        "Sign in to the workspace as the admin of Acme Inc.:",
        f"  email:    {DEMO_ADMIN_EMAIL}",
        f"  password: {DEMO_ADMIN_PASSWORD}",
        "",
        "Then invite a teammate, open the email in the outbox and follow its link (a private window keeps",
        "the two sessions apart).",
        "",
        "A member of both Acme Inc. and Globex Corporation, to switch between them from the header:",
        f"  email:    {DEMO_CONSULTANT_EMAIL}",
        f"  password: {DEMO_CONSULTANT_PASSWORD}",
    ])


async def _run(
    servers: list[tuple[uvicorn.Server, socket.socket]],
    smtp_sock: socket.socket,
    outbox: Outbox,
    ready: Callable[[], None],
    err: TextIO,
) -> int:
    """Serve until SIGINT/SIGTERM (0) or until a server stops on its own (1); ``ready`` once all accept."""
    from orginvite.emails.catcher import serve_smtp

    smtp = await serve_smtp(outbox, sock=smtp_sock)
    try:
        return await serve_until_stopped(servers, ready=ready, err=err, prog="orginvite demo")
    finally:
        smtp.close()
        with contextlib.suppress(TimeoutError):  # Python 3.12+ waits for open SMTP sessions too: not forever
            await asyncio.wait_for(smtp.wait_closed(), 5)


def _with_events_page(outbox: Any, events: RecordedEvents) -> Any:
    """The outbox's site, with the invitation events the workspace emitted at ``/events`` (``/events.json``)."""

    async def site(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in ("/events", "/events.json"):
            await events.app(scope, receive, send)
        else:
            await outbox(scope, receive, send)

    return site


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        workspace_module = import_example_app()
        from example_app.core import WorkspaceConfig
    except (RuntimeError, ImportError) as exc:
        print(f"orginvite demo: {exc}", file=err)
        return 2
    try:
        import aiosmtpd  # noqa: F401

        from orginvite.emails import catcher  # noqa: F401 - fail before binding anything
    except ImportError:
        print("orginvite demo: the SMTP catcher needs aiosmtpd: pip install aiosmtpd", file=err)
        return 2

    sockets: dict[str, socket.socket] = {}
    try:
        for name in ("port", "tenant_port", "outbox_port", "smtp_port"):
            port = getattr(args, name)
            try:
                sockets[name] = bind(HOST, port)
            except OSError as exc:
                print(cannot_listen("orginvite demo", HOST, port, "--" + name.replace("_", "-"), exc), file=err)
                return 2
        ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
        urls = {
            "app": f"http://{HOST}:{ports['port']}",
            "tenant": f"http://{HOST}:{ports['tenant_port']}",
            "outbox": f"http://{HOST}:{ports['outbox_port']}",
            "smtp": f"smtp://{HOST}:{ports['smtp_port']}",
        }
        # The tenant's own invitation emails (send_invitation_email=true) go to the same catcher: one outbox.
        tenant = DevTenant(
            demo_tenant_config(urls["app"]), db=":memory:", issuer=urls["tenant"] + "/",
            smtp=urls["smtp"] + "?starttls=off", email_from="Acme dev tenant <no-reply@acme.test>",
            outbox_url=urls["outbox"] + "/",  # its home page links the catcher's outbox, where the mail really goes
        )
        try:
            outbox = Outbox()
            events = RecordedEvents()  # both the workspace's invite calls and its login flow report here
            config = WorkspaceConfig(
                login=Settings(
                    issuer=urls["tenant"] + "/",
                    client_id=DEMO_WEB_CLIENT_ID,
                    client_secret=DEMO_WEB_CLIENT_SECRET,
                    secret_keys=(secrets.token_urlsafe(32),),
                    base_url=urls["app"],
                    audience=DEMO_API_IDENTIFIER,  # /invoices calls the Acme API with the member's access token
                    scope="openid profile email offline_access",
                    # the organization switcher and membership revalidation ask the Management API
                    management_client_id=DEMO_M2M_CLIENT_ID,
                    management_client_secret=DEMO_M2M_CLIENT_SECRET,
                    on_invitation_event=fan_out(events, log_event),
                ),
                management_domain=urls["tenant"],
                management_client_id=DEMO_M2M_CLIENT_ID,
                management_client_secret=DEMO_M2M_CLIENT_SECRET,
                smtp_url=urls["smtp"] + "?starttls=off",
                email_from="Acme workspace <no-reply@acme.test>",
                organization=DEMO_ACME_ORG_NAME,
                app_name="Acme workspace",
            )
            app = workspace_module.create_app(config)
            level = args.log_level

            def server(asgi: Any, sock_name: str) -> tuple[uvicorn.Server, socket.socket]:
                # Loopback is not a boundary for a browser: a page on attacker.example that re-resolves its name
                # to 127.0.0.1 (DNS rebinding) reads the outbox's invitation links, or drives the tenant with the
                # demo's published credentials. Its requests still say "Host: attacker.example": refuse those.
                guarded = HostGuard(asgi, LOOPBACK_NAMES, loopback=False)
                return make_server(guarded, log_level=level), sockets[sock_name]

            outbox_site = _with_events_page(outbox.app, events)
            servers = [server(tenant.app, "tenant_port"), server(outbox_site, "outbox_port"), server(app, "port")]

            def ready() -> None:
                print(_summary(urls), file=out)
                print("\n-- dev tenant --\n" + banner(tenant, urls["tenant"] + "/", ":memory:"), file=out)
                print("\nPress Ctrl-C to stop.", file=out, flush=True)

            # Access logs print request URLs, invitation tickets included (--log-level info): log their hash.
            logging.getLogger("uvicorn.access").addFilter(RedactInvitationTickets())
            code = 0  # a Ctrl-C before the loop's own handlers are in place is a stop too
            with contextlib.suppress(KeyboardInterrupt):
                code = asyncio.run(_run(servers, sockets["smtp_port"], outbox, ready, err))
            print("orginvite demo: stopped.", file=out, flush=True)
            return code
        finally:
            tenant.close()
    finally:
        for sock in sockets.values():
            sock.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    return run(args, sys.stdout, sys.stderr)
