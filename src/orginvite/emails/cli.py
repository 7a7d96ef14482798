"""``orginvite preview``: render an email with sample data, or serve the preview app.

    orginvite preview --locale ar --format html --out invitation-ar.html
    orginvite preview --locale auto --accept-language "pt-BR,pt;q=0.9" --format json
    orginvite preview --serve                      # the preview app on http://127.0.0.1:8035/
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from orginvite.emails.preview import PreviewError, PreviewParams, preview_json, render_preview
from orginvite.emails.renderer import EmailRenderer, RenderError
from orginvite.errors import OrgInviteError
from orginvite.i18n.locales import LocaleResolution
from orginvite.i18n.translations import Catalogs
from orginvite.serving import bind, cannot_listen, make_server, port_option, serve_until_stopped

FORMATS = ("html", "text", "eml", "json", "subject")
#: Not 8025: ``orginvite demo`` serves its outbox there, and the two often run side by side.
DEFAULT_PORT = 8035


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orginvite preview",
        description="Render an invitation email in a locale with sample data (or serve the preview app).",
    )
    parser.add_argument("--locale", default="auto", help="a locale such as fr, pt-BR, ar; 'auto' negotiates (default)")
    parser.add_argument("--format", choices=FORMATS, default="html", help="what to write (default: html)")
    parser.add_argument("--out", type=Path, help="write to this file instead of standard output")
    parser.add_argument("--email", default="invitation", help="the email template (default: invitation)")
    parser.add_argument("--templates", type=Path, action="append", default=[], help="a directory of template overrides")
    parser.add_argument("--catalogs", type=Path, action="append", default=[], help="a directory of extra catalogs")
    auto = parser.add_argument_group("auto locale")
    auto.add_argument("--lang", help="user_metadata.lang of the invitee")
    auto.add_argument("--ui-locales", help="space-separated ui_locales")
    auto.add_argument("--accept-language", help="an Accept-Language header value")
    sample = parser.add_argument_group("sample data")
    sample.add_argument("--inviter", help="inviter.name")
    sample.add_argument("--organization", help="organization.display_name")
    sample.add_argument("--application", help="application.name")
    sample.add_argument("--roles", help="comma-separated role names")
    sample.add_argument("--invitee", help="the invitee's email address")
    sample.add_argument("--expires-at", help="ISO 8601 expiry (default: 7 days after --now)")
    sample.add_argument("--timezone", help="the invitee's IANA timezone (default UTC)")
    sample.add_argument("--now", help="ISO 8601 'now' for reproducible output (default: the current time)")
    serve = parser.add_argument_group("preview app")
    serve.add_argument("--serve", action="store_true", help="serve the preview app instead of writing one email")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=port_option, default=DEFAULT_PORT,
                       help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    serve.add_argument("--allow-remote", action="store_true", help="answer clients other than this machine")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, or a usage error argparse already explained
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    try:
        renderer = EmailRenderer(args.templates, catalogs=Catalogs(args.catalogs) if args.catalogs else None)
        if args.serve:
            return _serve(renderer, args.host, args.port, allow_remote=args.allow_remote)
        query = {
            "locale": args.locale,
            "lang": args.lang,
            "ui_locales": args.ui_locales,
            "accept_language": args.accept_language,
            "inviter": args.inviter,
            "organization": args.organization,
            "application": args.application,
            "roles": args.roles,
            "invitee": args.invitee,
            "expires_at": args.expires_at,
            "timezone": args.timezone,
            "now": args.now,
        }
        params = PreviewParams.from_query({k: v for k, v in query.items() if v is not None}, email=args.email)
        preview = render_preview(renderer, params)
    except (PreviewError, RenderError, OrgInviteError) as exc:
        print(f"orginvite preview: {exc}", file=sys.stderr)
        return 2
    note = locale_note(preview.rendered.resolution, renderer.available_locales)
    if note:
        print(f"orginvite preview: {note}", file=sys.stderr)
    output: bytes
    if args.format == "html":
        output = preview.rendered.html.encode()
    elif args.format == "text":
        output = preview.rendered.text.encode()
    elif args.format == "subject":
        output = (preview.rendered.subject + "\n").encode()
    elif args.format == "eml":
        output = preview.message.as_bytes()
    else:
        output = (json.dumps(preview_json(preview), ensure_ascii=False, indent=2) + "\n").encode()
    if args.out is not None:
        try:
            args.out.write_bytes(output)
        except OSError as exc:
            print(f"orginvite preview: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
            return 1
        print(f"wrote {args.out} ({preview.rendered.locale}, {len(output)} bytes)", file=sys.stderr)
    else:
        sys.stdout.buffer.write(output)
        sys.stdout.buffer.flush()
    return 0


def locale_note(resolution: LocaleResolution, available: Sequence[str]) -> str | None:
    """Why the email is in the locale it is in, when a locale that was asked for has no catalog; else None."""
    missed = [attempt for attempt in resolution.trace if attempt.matched is None and attempt.source != "default"]
    if not missed:
        return None
    asked = "; ".join(f"{_SOURCE_OPTIONS.get(a.source, a.source)} {a.requested!r}" for a in missed)
    why = "the default" if resolution.source == "default" else f"from {_SOURCE_OPTIONS[resolution.source]}"
    return (f"no catalog for {asked} (available: {', '.join(available)}); "
            f"rendered in {resolution.locale} ({why})")


#: negotiate()'s sources, as the options of this command that feed them.
_SOURCE_OPTIONS = {"explicit": "--locale", "user_metadata": "--lang", "ui_locales": "--ui-locales",
                   "accept_language": "--accept-language", "invitation": "the invitation's locale",
                   "organization": "the organization's default", "default": "the default"}


def _serve(renderer: EmailRenderer, host: str, port: int, *, allow_remote: bool) -> int:
    import asyncio
    import contextlib

    from orginvite.emails.preview import EmailPreviews

    try:
        # Bound before the banner: a taken port is reported, naming the option, before anything says "ready".
        sock = bind(host, port)
    except OSError as exc:
        print(cannot_listen("orginvite preview", host, port, "--port", exc), file=sys.stderr)
        return 2
    try:
        app = EmailPreviews(renderer, enabled=True, allow_remote=allow_remote)
        server = make_server(app, log_level="warning")
        shown = f"[{host}]" if ":" in host else host

        def ready() -> None:
            print(f"email previews on http://{shown}:{sock.getsockname()[1]}/ (Ctrl-C to stop)", file=sys.stderr,
                  flush=True)

        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(serve_until_stopped([(server, sock)], ready=ready, err=sys.stderr,
                                                   prog="orginvite preview"))
        return 0
    finally:
        sock.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

