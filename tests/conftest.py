from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

# tests/ is on sys.path: pytest puts a rootdir conftest's folder there (the default "prepend" import mode).
from browser_support import REQUIRE_ENV, browser_required, launched, missing_browser

# No Hypothesis deadline anywhere: on a shared machine one slow example (a 462 ms display name in
# tests/emails/test_email_message.py) made a passing property a FlakyFailure. No test asserts on time here;
# each property's max_examples bounds its run.
settings.register_profile("orginvite", deadline=None)
settings.load_profile("orginvite")


@pytest.fixture(scope="session", autouse=True)
def _revocation_files_in_a_temporary_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The cookie store keeps back-channel revocations in a file per issuer and client under $XDG_STATE_HOME:
    tests (a new loopback port, a new issuer) put theirs in a temporary directory, not in the user's home."""
    saved = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    if saved is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = saved


@pytest.fixture
def anyio_backend() -> str:
    # Everything we ship runs on asyncio (uvicorn, aiosmtplib); trio would only double the run time.
    return "asyncio"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A browser test without a browser: skipped on a workstation, an error where the browser is required (CI)."""
    if item.get_closest_marker("browser") is None:
        return
    reason = missing_browser()
    if reason is None:
        return
    if browser_required():
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 says the browser tests must run", pytrace=False)
    pytest.skip(f"{reason} (set {REQUIRE_ENV}=1 to make this an error)")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per test module (a module needing other flags overrides this with ``launched``)."""
    with launched() as browser:
        yield browser
