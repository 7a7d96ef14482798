"""``orginvite tenant serve`` and ``orginvite tenant example-config``.

    orginvite tenant serve                       # the seeded demo tenant on http://127.0.0.1:8765/
    orginvite tenant serve --config tenant.toml --db ./tenant.sqlite3
    orginvite tenant example-config > tenant.toml
    orginvite tenant serve --smtp-url smtp://127.0.0.1:1025   # invitation emails to an SMTP catcher

Invitation emails (``send_invitation_email``, Auth0's default) go over SMTP with ``--smtp-url`` (default:
``ORGINVITE_SMTP_URL``), else into the outbox the tenant serves at ``/outbox/``.

The start-up banner prints everything an app needs to point at the tenant (issuer, Management API audience,
discovery URL) and the credentials of its applications and configured users, so nobody digs through a database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any, TextIO
from urllib.parse import urlsplit

from orginvite.links import redact_log_record
from orginvite.serving import bind, cannot_listen, make_server, port_option, serve_until_stopped

from .app import DevTenant
from .config import DEMO_FRIENDLY_NAME, TenantConfigError, example_config_text
from .hosts import HostGuard, allowed_host_pattern, is_loopback_bind
from .mail import DEFAULT_EMAIL_FROM

__all__ = ["DEFAULT_DB", "DEFAULT_PORT", "banner", "build_parser", "main"]

DEFAULT_PORT = 8765
DEFAULT_DB = "./orginvite-tenant.sqlite3"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orginvite tenant", description="An embedded Auth0-compatible development tenant with Organizations."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the tenant (Ctrl-C stops it)",
        description="Run the dev tenant: OIDC login, hosted pages and the Management API, on loopback by default. "
        "Ctrl-C or SIGTERM stops it (exit 0).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=port_option, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 picks a free one)"
    )
    serve.add_argument("--config", metavar="TOML", help="tenant config file (default: the seeded demo tenant)")
    storage = serve.add_mutually_exclusive_group()
    storage.add_argument("--db", metavar="PATH", default=DEFAULT_DB, help=f"SQLite file (default: {DEFAULT_DB})")
    storage.add_argument("--ephemeral", action="store_true", help="keep everything in memory (lost on exit)")
    serve.add_argument(
        "--issuer", metavar="URL", help="fixed issuer URL (default: derived from each request's host, with a '/')"
    )
    serve.add_argument(
        "--allowed-host",
        metavar="NAME",
        action="append",
        default=[],
        type=_allowed_host,
        help="also answer requests for this Host (repeatable; '*.myapp.test' for its subdomains). On a loopback "
        "--host the tenant answers only loopback names (127.x.x.x, [::1], localhost, *.localhost), --issuer's "
        "host and these: a DNS-rebinding web page cannot reach it",
    )
    mail = serve.add_argument_group("invitation emails")
    mail.add_argument(
        "--smtp-url",
        metavar="URL",
        default=os.environ.get("ORGINVITE_SMTP_URL") or None,
        help="send invitation emails over SMTP, e.g. smtp://127.0.0.1:1025 (default: $ORGINVITE_SMTP_URL; "
        "unset: keep them in the outbox at /outbox/)",
    )
    mail.add_argument(
        "--email-from",
        metavar="MAILBOX",
        default=os.environ.get("ORGINVITE_EMAIL_FROM") or None,
        help='From of invitation emails, e.g. "Acme <no-reply@acme.test>" (default: $ORGINVITE_EMAIL_FROM, '
        f"else the tenant's friendly_name <{DEFAULT_EMAIL_FROM}>)",
    )
    mail.add_argument(
        "--outbox-allow-remote",
        action="store_true",
        help="let clients other than this machine read the outbox (it holds invitation links)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level",
    )

    commands.add_parser(
        "example-config",
        help="print a commented example tenant.toml",
        description="Print a commented example tenant.toml (applications, organizations, users, roles) to "
        "standard output; serve it with 'orginvite tenant serve --config tenant.toml'.",
    )
    return parser


def banner(tenant: DevTenant, base_url: str, db: str) -> str:
    """What the tenant prints on start: where it is, and the credentials to use it."""
    issuer = tenant.configured_issuer or base_url.rstrip("/") + "/"
    name = str(tenant.settings.get("friendly_name") or DEMO_FRIENDLY_NAME)
    lines = [
        name if name == DEMO_FRIENDLY_NAME else f"{name} (orginvite dev tenant)",
        f"  listening on:            {base_url.rstrip('/')}/",
        f"  issuer:                  {issuer}"
        + ("" if tenant.configured_issuer else "  (from the request; --issuer pins it)"),
        f"  Management API audience: {issuer}api/v2/",
        f"  discovery:               {issuer}.well-known/openid-configuration",
        f"  database:                {'in memory (--ephemeral)' if db == ':memory:' else db}",
        f"  invitation emails:       {tenant.mail.describe(base_url)}",
        "",
        "applications:",
    ]
    for client in tenant.store.list_clients():
        lines += [
            f"  {client.get('name') or client['client_id']} ({client.get('app_type', 'regular_web')})",
            f"    client_id:     {client['client_id']}",
            f"    client_secret: {client.get('client_secret') or '(none)'}",
        ]
        if client.get("scopes"):
            lines.append(f"    scopes:        {len(client['scopes'])} Management API scopes")
    users = tenant.config.users_with_passwords()
    if users:
        lines += ["", "users:"]
        lines += [f"  {user.email}  password: {user.password}" for user in users]
    return "\n".join(lines)


class RedactTickets(logging.Filter):
    """Access log lines carry ``/authorize?invitation=<ticket>``: a bearer secret until accepted. Log a short
    hash instead, with the app's own redaction (:func:`orginvite.links.redact_log_record`: any spelling of the
    key, ``invit%61tion=`` included; the hex is the one the Management API's log lines show after ``#``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_log_record(record)
        return True


def _allowed_host(value: str) -> str:
    try:
        return allowed_host_pattern(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def host_patterns(args: argparse.Namespace) -> list[str] | None:
    """The extra Host names a loopback tenant answers, or None when it is not on loopback (then any Host, as
    before: whoever binds 0.0.0.0 serves a network, and names its issuer with --issuer)."""
    if not is_loopback_bind(args.host):
        return None
    patterns = list(args.allowed_host)
    issuer_host = urlsplit(args.issuer).hostname if args.issuer else None
    if issuer_host:
        patterns.append(allowed_host_pattern(issuer_host))
    return patterns


def _serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    db = ":memory:" if args.ephemeral else args.db
    try:
        tenant = DevTenant(
            args.config,
            db=db,
            issuer=args.issuer,
            smtp=args.smtp_url,
            email_from=args.email_from or None,
            outbox_allow_remote=args.outbox_allow_remote,
        )
    except TenantConfigError as exc:
        print(f"orginvite tenant: {exc}", file=err)
        return 2
    except sqlite3.Error as exc:
        print(f"orginvite tenant: --db {db}: cannot open the database ({exc})", file=err)
        return 2
    try:
        try:
            patterns = host_patterns(args)
        except ValueError as exc:
            print(f"orginvite tenant: --issuer: {exc}", file=err)
            return 2
        try:
            # Bind before printing, so the banner shows the real port (--port 0) and a taken port fails cleanly.
            sock = bind(args.host, args.port)
        except OSError as exc:
            print(cannot_listen("orginvite tenant", args.host, args.port, "--port", exc), file=err)
            return 2
        port = sock.getsockname()[1]
        shown_host = f"[{args.host}]" if ":" in args.host else args.host
        print(banner(tenant, f"http://{shown_host}:{port}/", db), file=out, flush=True)
        app: Any = tenant.app
        if patterns is not None:
            # Loopback is not a boundary for a browser: a DNS-rebinding page (attacker.example re-resolved to
            # 127.0.0.1) would read the outbox and use the published demo credentials. Its Host gives it away.
            app = HostGuard(app, patterns)
            names = ", ".join(["loopback names", *patterns])
            print(f"\nanswers Host: {names} (--allowed-host adds one)", file=out, flush=True)
        server = make_server(app, log_level=args.log_level)
        logging.getLogger("uvicorn.access").addFilter(RedactTickets())  # after the server's Config set logging up

        def ready() -> None:
            print("\nPress Ctrl-C to stop.", file=out, flush=True)

        # SIGINT and SIGTERM stop it with 0, as they stop `orginvite demo` (a Ctrl-C before the loop's handlers
        # are in place is a stop too).
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(serve_until_stopped([(server, sock)], ready=ready, err=err, prog="orginvite tenant"))
        return 0
    finally:
        tenant.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, or a usage error argparse already explained
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if args.command == "example-config":
        sys.stdout.write(example_config_text())
        return 0
    if args.command == "serve":
        return _serve(args, sys.stdout, sys.stderr)
    parser.print_help(sys.stderr)
    return 2
