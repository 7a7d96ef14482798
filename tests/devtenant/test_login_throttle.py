"""The hosted login's brute-force throttle holds under concurrency (issue 13, item 4).

60 wrong passwords are posted at once to a served tenant. Every password check is held at a gate until each request
has either reached the check or been answered, so all 60 are in flight together whatever the scheduling: with the
count read before the check and written after it, all of them would pass. Only MAX_LOGIN_FAILURES may reach the
password check, the rest are refused with 429, and the right password afterwards is still refused.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_auth_support import PASSWORD, Browser, callback_params, running

from orginvite.devtenant import store as store_module
from orginvite.devtenant.hosted_pages import MAX_LOGIN_FAILURES
from orginvite.devtenant.store import Store

ATTEMPTS = 60


@pytest.fixture
def live():
    with running() as pair:
        yield pair


def test_sixty_concurrent_wrong_passwords_are_throttled(live, monkeypatch) -> None:
    _, base = live
    browser = Browser(base)
    try:
        page = browser.authorize(login_hint="ann@acme.test")
        assert page.url.path == "/u/login"
        form = browser.form()
        action = str(page.url.join(form.action))
        progress = threading.Condition()
        checked = answered = 0
        original = store_module._check_password

        def gated(password: str, encoded: str) -> bool:
            nonlocal checked
            with progress:
                checked += 1
                progress.notify_all()
                # Open once every request is accounted for, or as soon as the throttle has visibly failed (more
                # checks than it allows: the worker pool would otherwise hold the rest back forever).
                progress.wait_for(lambda: checked + answered >= ATTEMPTS or checked > MAX_LOGIN_FAILURES, 60)
            return original(password, encoded)

        monkeypatch.setattr(store_module, "_check_password", gated)

        def guess(n: int) -> int:
            nonlocal answered
            data = {**form.fields, "email": "ann@acme.test", "password": f"wrong guess {n}"}
            status = browser.http.post(action, data=data, timeout=60).status_code
            with progress:
                answered += 1
                progress.notify_all()
            return status

        with ThreadPoolExecutor(ATTEMPTS) as pool:
            statuses = list(pool.map(guess, range(ATTEMPTS)))
        assert checked == MAX_LOGIN_FAILURES
        assert statuses.count(400) == MAX_LOGIN_FAILURES
        assert statuses.count(429) == ATTEMPTS - MAX_LOGIN_FAILURES
        monkeypatch.undo()
        right = browser.submit({"email": "ann@acme.test", "password": PASSWORD})
        assert right.status_code == 429 and 'data-error="too_many_attempts"' in right.text
    finally:
        browser.close()


def test_a_success_clears_the_count(live) -> None:
    """Attempts counted before the check do not lock out someone who gets the password right in time."""
    _, base = live
    for _round in range(3):
        browser = Browser(base)
        try:
            browser.authorize(login_hint="ann@acme.test")
            for _ in range(MAX_LOGIN_FAILURES - 1):
                assert browser.submit({"email": "ann@acme.test", "password": "nope nope"}).status_code == 400
            assert "code" in callback_params(browser.submit({"email": "ann@acme.test", "password": PASSWORD}))
        finally:
            browser.close()


def test_count_attempt_is_atomic_across_threads() -> None:
    with Store(":memory:") as store:
        barrier = threading.Barrier(32)

        def attempt(_: int) -> bool:
            barrier.wait()
            return store.count_attempt("k", "key", 5, 60)

        with ThreadPoolExecutor(32) as pool:
            outcomes = list(pool.map(attempt, range(32)))
        assert outcomes.count(True) == 5
        assert store.get_transient("k", "key") == {"count": 5}


def test_count_attempt_window_restarts() -> None:
    now = [1_700_000_000.0]
    with Store(":memory:", clock=lambda: now[0]) as store:
        assert all(store.count_attempt("k", "key", 2, 60) for _ in range(2))
        assert not store.count_attempt("k", "key", 2, 60)
        now[0] += 61
        assert store.count_attempt("k", "key", 2, 60)
