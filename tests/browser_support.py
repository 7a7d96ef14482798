"""Debian's Chromium driven through Playwright, one way for every browser test; and where their screenshots go.

Playwright's own browser download cannot work offline, so the tests launch the system Chromium (``/usr/bin/chromium``
or ``$ORGINVITE_CHROMIUM``) with flags that keep it headless, sandbox-free (containers) and off the network.
A missing Chromium skips the browser tests on a workstation; with ``ORGINVITE_REQUIRE_BROWSER=1`` (set by
``.ci/run``) it fails them, so CI can never turn green by not running them (see ``tests/conftest.py``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["ARGS", "ARTIFACTS", "CHROMIUM", "REQUIRE_ENV", "artifact", "browser_required", "launched",
           "missing_browser", "shot"]

CHROMIUM = os.environ.get("ORGINVITE_CHROMIUM", "/usr/bin/chromium")
ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
REQUIRE_ENV = "ORGINVITE_REQUIRE_BROWSER"


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed"
    if not shutil.which(CHROMIUM):
        return f"no Chromium at {CHROMIUM}"
    return None


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


@contextmanager
def launched(extra_args: Sequence[str] = ()) -> Iterator[Any]:
    """A headless Chromium (a Playwright ``Browser``) with :data:`ARGS` plus ``extra_args``, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


def artifact(name: str, folder: str = "") -> Path:
    """The path of a file saved for people to look at after the run (``test-artifacts/[folder/]name``)."""
    directory = ARTIFACTS / folder if folder else ARTIFACTS
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


def shot(page: Any, name: str, folder: str = "") -> Path:
    """A full-page screenshot of ``page`` saved as ``test-artifacts/[folder/]name.png``."""
    path = artifact(f"{name}.png", folder)
    page.screenshot(path=str(path), full_page=True)
    return path
