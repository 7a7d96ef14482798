from __future__ import annotations

import pytest

from orginvite.errors import ConfigurationError
from orginvite.i18n.translations import AVAILABLE_LOCALES
from orginvite.login.pages import (
    CALLBACK_ERROR_KINDS,
    PAGE_NAMES,
    PAGES_DIR,
    Pages,
    classify_callback_error,
    wants_json,
)

CONTEXT = {
    "home_url": "/", "login_url": "/login", "retry_url": "", "code": "missing_organization",
    "field": "organization", "message": "msg", "user_label": "Ann", "csrf_token": "tok", "action_url": "/login",
    "foreign": True,
    "reason": "token", "kind": "other",
}
TEMPLATES = sorted(p.name for p in PAGES_DIR.glob("*.html") if p.name != "base.html")


@pytest.fixture(scope="module")
def pages():
    return Pages()


def test_every_callback_kind_has_a_page():
    assert {f"callback_{kind}.html" for kind in CALLBACK_ERROR_KINDS} <= set(TEMPLATES)


@pytest.mark.parametrize("locale", AVAILABLE_LOCALES)
@pytest.mark.parametrize("name", TEMPLATES)
def test_every_page_renders_in_every_locale(pages, name, locale):
    html = pages.render(name, locale, **CONTEXT)
    assert html.startswith("<!doctype html>")
    assert f'data-page="{name.removesuffix(".html")}"' in html
    assert "http://" not in html and "https://" not in html  # no remote resources
    assert 'dir="rtl"' in html if locale == "ar" else 'dir="ltr"' in html


def test_untrusted_values_are_escaped(pages):
    hostile = "<script>alert(1)</script>\u202e"
    html = pages.render("interstitial.html", "en", **{**CONTEXT, "user_label": hostile, "csrf_token": '"><x>'})
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "<bdi>&lt;script&gt;" in html
    assert '"><x>' not in html
    html = pages.render("invalid_link.html", "en", **{**CONTEXT, "code": "<b>", "message": "<i>m</i>"})
    assert "<b>" not in html and "<i>" not in html


def test_host_app_overrides_a_page(tmp_path):
    (tmp_path / "invalid_link.html").write_text(
        '{% extends "base.html" %}{% block content %}<p id="custom">{{ code }}</p>{% endblock %}'
    )
    html = Pages(tmp_path).render("invalid_link.html", "en", **CONTEXT)
    assert '<p id="custom">missing_organization</p>' in html and "<style>" in html
    assert "Sign in again" in Pages(tmp_path).render("transaction_expired.html", "en", **CONTEXT)


@pytest.mark.parametrize(
    ("error", "description", "invitation", "kind"),
    [
        ("invalid_request", "invitation not found or already used", True, "invitation_invalid"),
        ("access_denied", "invitation not found or already used", True, "invitation_invalid"),
        ("access_denied", "the specified account is not allowed to accept the current invitation", True,
         "wrong_account"),
        ("access_denied", "user auth0|1 is not part of the org_abc organization", False, "not_a_member"),
        ("access_denied", "the connection X is not enabled for the org_abc organization", False, "not_a_member"),
        ("invalid_request", "authorization request parameter organization must be an organization id", False,
         "organization_invalid"),
        ("invalid_request", "no organization found with id org_x", False, "organization_invalid"),
        ("invalid_request", "parameter organization is required for this client", False, "organization_required"),
        ("access_denied", "Access denied by rule", False, "access_denied"),
        ("invalid_request", "the invitation ticket is malformed", True, "invitation_invalid"),
        ("invalid_request", "the invitation ticket is malformed", False, "other"),
        ("login_required", "", False, "other"),
        ("server_error", "INVITATION NOT FOUND", True, "invitation_invalid"),
    ],
)
def test_classification(error, description, invitation, kind):
    exc = classify_callback_error(error, description, invitation=invitation)
    assert exc.kind == kind and exc.error == error and exc.description == description


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, False), ("", False), ("text/html", False), ("application/json", True),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        ("application/json, text/plain, */*", True), ("application/problem+json", True),
        ("text/html;q=0.5, application/json", True), ("application/json;q=0", False), ("*/*", False),
        ("application/json;q=zz", False),
    ],
)
def test_wants_json(accept, expected):
    assert wants_json(accept) is expected


def test_access_log_filter_redacts_tickets():
    import logging

    from orginvite.links import ticket_fingerprint
    from orginvite.login.redaction import RedactInvitationTickets

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:1", "GET", "/login?invitation=SeCrEt-123&organization=org_x", "1.1", 302),
                               None)
    assert RedactInvitationTickets().filter(record)
    line = record.getMessage()
    assert "SeCrEt-123" not in line
    assert f"invitation={ticket_fingerprint('SeCrEt-123')}&organization=org_x" in line
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "GET /login?invitation=abc", None, None)
    RedactInvitationTickets().filter(plain)
    assert "abc" not in plain.getMessage()


def test_every_shipped_page_is_listed():
    assert set(PAGE_NAMES) == {p.name for p in PAGES_DIR.glob("*.html")}


def test_broken_override_stops_start_up_naming_the_file(tmp_path):
    (tmp_path / "forbidden.html").write_text("{% extends 'base.html' %}{% block content %}{% if %}{% endblock %}")
    with pytest.raises(ConfigurationError) as info:
        Pages(tmp_path)
    assert info.value.setting == "templates_dir" and "forbidden.html" in info.value.problem


def test_override_failing_at_render_falls_back_to_the_builtin_page(tmp_path, caplog):
    (tmp_path / "forbidden.html").write_text("{{ no_such_variable.attribute }}")
    html = Pages(tmp_path).render("forbidden.html", "en", **CONTEXT)
    assert 'data-page="forbidden"' in html
    assert "forbidden.html failed" in caplog.text
