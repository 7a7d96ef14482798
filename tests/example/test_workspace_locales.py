"""The workspace's pages in every locale the invitation emails have: its own catalogs (domain "workspace") fresh,
complete and compiled, every page rendered without an English fallback, and each request in its browser's
language over loopback (the French dashboard in Chromium is in test_workspace_browser.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from example_app.api import InvoiceRow
from example_app.core import CATALOGS, FormError, SwitcherEntry, render
from workspace_support import ADMIN_EMAIL, Stack, forms_of

from orginvite import use_locale
from orginvite.i18n.locales import direction, to_bcp47
from orginvite.i18n.translations import AVAILABLE_LOCALES

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "example_app" / "locales"
POT = LOCALES / "workspace.pot"
TRANSLATED = [locale for locale in AVAILABLE_LOCALES if locale != "en"]  # English is the source language
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
TAG = re.compile(r"</?([a-zA-Z]+)\b[^>]*>")


def load(path: Path) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp)


def ids(catalog: Catalog) -> set[str]:
    return {message.id for message in catalog if message.id}


def test_the_catalogs_cover_every_locale_of_the_emails() -> None:
    assert set(CATALOGS.available) == set(AVAILABLE_LOCALES)
    assert sorted(p.name for p in LOCALES.iterdir() if (p / "LC_MESSAGES" / "workspace.po").is_file()) == sorted(
        TRANSLATED)


def test_the_template_matches_a_fresh_extraction(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run([str(pybabel), "extract", "-F", "example_app/babel.cfg", "-o", str(fresh), "."], cwd=ROOT,
                   check=True, capture_output=True)
    assert ids(load(fresh)) == ids(load(POT)), "run the workflow in example_app/locales/README.md"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_is_translated_with_its_placeholders_and_markup(locale: str) -> None:
    catalog = load(LOCALES / locale / "LC_MESSAGES" / "workspace.po")
    assert ids(catalog) == ids(load(POT)), "run pybabel update"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        if message.fuzzy or not message.string:
            problems.append(("untranslated", message.id))
        elif sorted(PLACEHOLDER.findall(message.string)) != sorted(PLACEHOLDER.findall(message.id)):
            problems.append(("placeholders", message.id, message.string))
        elif sorted(TAG.findall(message.string)) != sorted(TAG.findall(message.id)):
            problems.append(("markup", message.id, message.string))
    assert problems == []
    with (LOCALES / locale / "LC_MESSAGES" / "workspace.mo").open("rb") as fp:
        compiled = {m.id: m.string for m in read_mo(fp) if m.id}
    assert compiled == {m.id: m.string for m in catalog if m.id}, "run pybabel compile"


PAGES: list[tuple[str, dict[str, Any]]] = [
    ("signed_out.html", {}),
    ("no_organization.html", {}),
    ("error.html", {"code": "csrf", "title": "t", "message": "m"}),
    ("dashboard.html", {
        "organization": {"name": "acme", "display_name": "Acme Inc."}, "members": [], "my_roles": [],
        "is_admin": True, "can_read_invoices": True, "roles": {"rol_1": "member"},
        "languages": [("fr", "Français")], "pending": [],
        "form": {"email": "", "name": "", "roles": [], "language": "fr"}, "error": None, "notice": "n",
        "notice_code": "invited", "csrf_token": "t"}),
    ("invoices.html", {"invoices": [InvoiceRow("inv_1", "1 200,00 €")], "api": "https://api.acme.test/"}),
    ("invoices.html", {"invoices": [], "api": "https://api.acme.test/"}),
]  # fmt: skip


SWITCHER = [SwitcherEntry("org_1", "Acme Inc.", None), SwitcherEntry("org_2", "Globex", "/login?organization=org_2")]


@pytest.mark.parametrize("locale", AVAILABLE_LOCALES)
def test_every_page_renders_in_every_locale_from_its_own_catalog(locale: str) -> None:
    user = type("User", (), {"display_name": "Ann Lee"})()
    for template, context in PAGES:
        with use_locale(locale, record_fallbacks=True) as fell_back:
            html = render(template, app_name="Acme", user=user, logout_url="/logout", sign_in_url="/login",
                          switcher=SWITCHER, **context)
        if locale == "en":  # the source language: every message shows its msgid
            assert fell_back and all(answered is None for _, answered in fell_back)
        else:
            assert fell_back == [], f"{template}: not translated in {locale}: {fell_back}"
        assert f'<html lang="{to_bcp47(locale)}" dir="{direction(locale)}">' in html
        assert '<bdi data-testid="signed-in-as">Ann Lee</bdi>' in html
        assert '<a href="/login?organization=org_2" data-org="org_2"><bdi>Globex</bdi></a>' in html


def test_messages_made_in_python_follow_the_locale() -> None:
    from example_app.core import parse_invite_form

    with use_locale("de"), pytest.raises(FormError) as german:
        parse_invite_form({"email": [""]}, {}, ["en"])
    assert german.value.message == "Geben Sie die E-Mail-Adresse der Person ein, die Sie einladen möchten."
    with pytest.raises(FormError) as english:
        parse_invite_form({"email": [""]}, {}, ["en"])
    assert english.value.message == "Enter the email address of the person to invite."


# --- over loopback ----------------------------------------------------------------------------------------------


@pytest.fixture(params=["starlette", "fastapi"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    s = Stack(fastapi=request.param == "fastapi")
    yield s
    s.close()


def test_each_request_is_in_the_language_its_browser_asks_for(stack: Stack) -> None:
    for header, locale, text in [
        ("fr-CA,fr;q=0.9,en;q=0.5", "fr", "Se connecter"),
        ("ar", "ar", "تسجيل الدخول"),
        ("pt-BR", "pt-BR", "Entrar"),
        ("ko", "en", "Sign in"),  # no catalog: the default, English
        (None, "en", "Sign in"),
    ]:
        headers = {"accept-language": header} if header else {}
        page = httpx2.get(stack.url + "/", headers=headers)
        assert page.status_code == 200
        assert page.headers["content-language"] == locale
        assert f'<html lang="{locale}" dir="{"rtl" if locale == "ar" else "ltr"}">' in page.text
        assert f'<a class="button" href="/login?organization=acme">{text}</a>' in page.text


def test_a_signed_in_dashboard_and_its_form_errors_in_french(stack: Stack) -> None:
    with stack.client() as admin:
        admin.headers["accept-language"] = "fr-FR,fr;q=0.9"
        dashboard = stack.sign_in(admin)
        assert "<h3>Membres</h3>" in dashboard.text and "<h3>Invitations en attente</h3>" in dashboard.text
        assert f'data-email="{ADMIN_EMAIL}"' in dashboard.text
        form = next(f for f in forms_of(dashboard.text) if f["action"] == "/invitations")
        refused = admin.post(stack.url + "/invitations", data={"csrf_token": form["fields"]["csrf_token"],
                                                               "email": "", "language": "fr"})
    assert refused.status_code == 400
    assert "Saisissez l’adresse e-mail de la personne à inviter." in refused.text
