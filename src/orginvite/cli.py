"""The ``orginvite`` command.

Each subcommand lives with the code it drives (``orginvite.devtenant.cli`` and so on) and is imported only when
called, so ``orginvite tenant serve`` does not pay for the email stack and a broken optional part cannot break
the others.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module with a ``main(argv) -> int``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "tenant": ("orginvite.devtenant.cli", "run the embedded Auth0-compatible development tenant"),
    "preview": ("orginvite.emails.cli", "render an invitation email in a locale"),
    "invite": ("orginvite.management.cli", "invite people to an organization from a CSV file"),
    "demo": ("orginvite.demo", "run the dev tenant, an SMTP catcher and example_app together"),
}


def _usage() -> str:
    lines = ["usage: orginvite [-V | --version] COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'orginvite COMMAND --help' for a command's options."]
    return "\n".join(lines)


def version() -> str:
    """The installed distribution's version (the source's ``__version__`` when run from a plain checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("orginvite")
    except PackageNotFoundError:
        from orginvite import __version__

        return __version__


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:  # a missing command is a usage error, as it is for `orginvite tenant`
        print(_usage(), file=sys.stderr)
        return 2
    if args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if args[0] in {"-V", "--version"}:
        print(f"orginvite {version()}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"orginvite: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, _ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(f"orginvite: the {name!r} command is not available in this version", file=sys.stderr)
            return 2
        raise
    return int(module.main(rest) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
