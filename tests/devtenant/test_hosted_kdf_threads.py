"""The hosted sign-up and login pages run the password KDF (scrypt, tens of ms) off the event loop, so concurrent
sign-ups do not queue behind each other. Proven without timing: the KDF is wrapped in a two-party barrier, which
only opens if both requests are hashing at the same moment, i.e. on two threads (on the loop, the first blocks it
and the barrier breaks after its timeout: a 500)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_auth_support import PASSWORD, Browser, callback_params, running

from orginvite.devtenant import store as store_module


@pytest.fixture
def live():
    with running() as pair:
        yield pair


def _both_at_once(monkeypatch, name: str) -> threading.Barrier:
    barrier = threading.Barrier(2, timeout=10)
    original = getattr(store_module, name)

    def gated(*args, **kwargs):
        barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(store_module, name, gated)
    return barrier


def test_two_concurrent_signups_both_succeed(live, monkeypatch) -> None:
    tenant, base = live
    browsers = [Browser(base), Browser(base)]
    try:
        emails = ["one@new.test", "two@new.test"]
        for browser, email in zip(browsers, emails, strict=True):
            assert browser.authorize(screen_hint="signup", login_hint=email).url.path == "/u/signup"
        _both_at_once(monkeypatch, "_hash_password")
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda b: b.submit({"password": "long enough"}), browsers))
        for answer in answers:
            assert "code" in callback_params(answer)
        monkeypatch.undo()
        assert all(tenant.store.verify_password(email, "long enough") is not None for email in emails)
    finally:
        for browser in browsers:
            browser.close()


def test_two_concurrent_logins_both_succeed(live, monkeypatch) -> None:
    _, base = live
    browsers = [Browser(base), Browser(base)]
    try:
        for browser in browsers:
            assert browser.authorize(login_hint="ann@acme.test").url.path == "/u/login"
        _both_at_once(monkeypatch, "_check_password")
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda b: b.submit({"email": "ann@acme.test", "password": PASSWORD}), browsers))
        for answer in answers:
            assert "code" in callback_params(answer)
    finally:
        for browser in browsers:
            browser.close()
