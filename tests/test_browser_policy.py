"""The browser tests' no-browser rule (tests/conftest.py): skipped on a workstation, an error in CI, never silent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from browser_support import REQUIRE_ENV

ROOT = Path(__file__).resolve().parents[1]
# One cheap browser test: the conftest hook decides before any of its fixtures (servers, Chromium) start.
TARGET = "tests/login/test_login_browser.py::test_error_page_in_french_in_chromium"


def _run_without_chromium(**env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != REQUIRE_ENV}
    environ.update(ORGINVITE_CHROMIUM=str(ROOT / "no-such-chromium"), **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", TARGET],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120, check=False,
    )


def test_a_missing_chromium_skips_browser_tests_on_a_workstation() -> None:
    result = _run_without_chromium()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout and "no Chromium at" in result.stdout


@pytest.mark.parametrize("value", ["1", "yes"])
def test_a_missing_chromium_is_an_error_when_the_browser_is_required(value: str) -> None:
    result = _run_without_chromium(**{REQUIRE_ENV: value})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout and f"{REQUIRE_ENV}=1 says the browser tests must run" in result.stdout
    assert "skipped" not in result.stdout


def test_ci_requires_the_browser_and_runs_the_readme_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert f"export {REQUIRE_ENV}=1" in ci
    code = [line.strip() for line in ci.splitlines() if not line.lstrip().startswith("#")]
    commands = [line for line in code if "tests/run.sh" in line]
    assert commands == ["bash tests/run.sh -p no:cacheprovider"]
