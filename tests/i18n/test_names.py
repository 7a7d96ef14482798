"""Names inside translated sentences (orginvite.i18n.names): no second full stop after a name that ends in one,
French elision before a name, in every locale of every page and email that puts a name in a sentence."""

from __future__ import annotations

import re
from typing import Any

import pytest
from markupsafe import Markup

from orginvite.devtenant.hosted_pages import _environment, branding
from orginvite.emails import EmailRenderer, sample_invitation
from orginvite.i18n.locales import direction, to_bcp47
from orginvite.i18n.names import fit_names
from orginvite.i18n.translations import AVAILABLE_LOCALES, gettext, use_locale
from orginvite.login.pages import Pages

# A terminal mark, maybe the end of the name's markup or isolate, then another full stop: "Acme Inc.</bdi>."
DOUBLED = re.compile(r"[.!?…](?:</bdi>|\u2069)?\.(?!\.)")


# --- the rule, in plain calls ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("message", "name", "expected"), [
    ("join %(o)s.", "Acme Inc.", "join %(o)s"),
    ("join <bdi>%(o)s</bdi>.", "Acme Inc.", "join <bdi>%(o)s</bdi>"),
    ("join \u2068%(o)s\u2069.", "Acme Inc.", "join \u2068%(o)s\u2069"),
    ("join %(o)s.", "Yahoo!", "join %(o)s"),
    ("join %(o)s.", "Wait…", "join %(o)s"),
    ("join %(o)s.", "Acme", "join %(o)s."),  # a name without a stop keeps the sentence's
    ("join %(o)s, now.", "Acme Inc.", "join %(o)s, now."),  # only a full stop right after the name goes
    ("join %(o)s?", "Acme Inc.", "join %(o)s?"),
    ("%(o)s に参加しました。", "Acme Inc.", "%(o)s に参加しました。"),
])
def test_a_full_stop_after_a_name_that_ends_a_sentence_already_is_dropped(message, name, expected) -> None:
    assert fit_names(message, {"o": name}, "en") == expected


def test_markup_values_are_read_as_their_text() -> None:
    assert fit_names("x %(o)s.", {"o": Markup("<bdi>Acme Inc.</bdi>")}, "en") == "x %(o)s"
    assert fit_names("x %(o)s.", {"o": Markup("<bdi>Acme</bdi>")}, "en") == "x %(o)s."


@pytest.mark.parametrize(("name", "expected"), [
    ("Acme Inc.", "au nom d’%(o)s"),
    ("Élan", "au nom d’%(o)s"),
    ("IBM", "au nom d’%(o)s"),
    ("Yvelines", "au nom d’%(o)s"),
    ("« Orange »", "au nom d’%(o)s"),
    ("Globex", "au nom de %(o)s"),
    ("Yahoo", "au nom de %(o)s"),
    ("Hachette", "au nom de %(o)s"),  # h: mute or aspirated cannot be told from the letters; "de" is kept
    ("3M", "au nom de %(o)s"),
])
def test_french_elides_de_before_a_vowel(name, expected) -> None:
    assert fit_names("au nom de %(o)s", {"o": name}, "fr") == expected


def test_french_elision_reaches_past_markup_and_keeps_case() -> None:
    assert fit_names("l’adresse de <bdi>%(h)s</bdi>.", {"h": "acme.test"}, "fr") == "l’adresse d’<bdi>%(h)s</bdi>."
    assert fit_names("De %(o)s et que %(p)s", {"o": "Acme", "p": "Initech"}, "fr_CA") == "D’%(o)s et qu’%(p)s"
    assert fit_names("monde %(o)s", {"o": "Acme"}, "fr") == "monde %(o)s"  # "de" inside a word is not "de"


@pytest.mark.parametrize("locale", ["en", "es", "pt", "pt_BR", "de"])
def test_other_languages_do_not_elide(locale) -> None:
    assert fit_names("de %(o)s", {"o": "Acme"}, locale) == "de %(o)s"


def test_the_python_side_gettext_fits_names_too() -> None:
    with use_locale("fr"):
        text = gettext("Sent on behalf of %(organization)s to %(email)s.", organization="Acme Inc.",
                       email="ann@acme.test")
    assert text == "Envoyé au nom d’Acme Inc. à ann@acme.test."


# --- every page and email that ends a sentence with a name, in every locale ----------------------------------

ENDS_WITH_STOP = {"id": "org_AcmeDemoOrg00001", "name": "acme", "display_name": "Acme Inc.", "metadata": {}}


@pytest.mark.parametrize("locale", AVAILABLE_LOCALES)
def test_the_dev_tenant_pages_never_double_a_full_stop(locale: str) -> None:
    environment = _environment()
    form = {"csrf": "t", "state": "s", "email": "ann@acme.test", "name": "Ann", "error": None,
            "organization_name": "acme"}
    variants: list[tuple[str, dict[str, Any]]] = [
        ("signup.html", {"organization": ENDS_WITH_STOP, "invitation": True, "email_fixed": True}),
        ("signup.html", {"organization": None, "invitation": False, "email_fixed": False}),
        ("login.html", {"organization": None, "invitation": False}),
        ("organization_picker.html", {"organizations": [ENDS_WITH_STOP], "organization": None}),
    ]
    for template, context in variants:
        values = {"lang": to_bcp47(locale), "dir": direction(locale), "tenant_name": "Acme Dev Co.",
                  "brand": branding(context.get("organization")), **form, **context}
        with use_locale(locale):
            html = environment.get_template(template).render(**values)
        assert ("Acme Inc." in html) if context.get("organization") else ("Acme Dev Co." in html), template
        assert DOUBLED.search(html) is None, (template, DOUBLED.search(html))


@pytest.mark.parametrize("locale", AVAILABLE_LOCALES)
@pytest.mark.parametrize("application", [None, "Acme Cloud."])
def test_the_invitation_email_never_doubles_a_full_stop(locale: str, application: str | None) -> None:
    invitation = sample_invitation(
        inviter_name="Ann Lee Jr.",
        application={"name": application or "", "client_id": "c", "metadata": {}},
        friendly_name=application or "",
    )
    email = EmailRenderer().render(invitation, locale=locale)
    assert email.locale == locale
    for part in (email.subject, email.text, email.html):
        assert "Acme Inc." in part
        assert DOUBLED.search(part) is None, (part[DOUBLED.search(part).start() - 60:][:120])


@pytest.mark.parametrize("locale", AVAILABLE_LOCALES)
def test_the_login_pages_never_double_a_full_stop(locale: str) -> None:
    pages = Pages()
    common = {"home_url": "/", "login_url": "/login", "csrf_token": "t", "action_url": "/login", "code": "c"}
    html = pages.render("interstitial.html", locale, **common, user_label="Ann Lee Jr.")
    assert "Ann Lee Jr." in html and DOUBLED.search(html) is None
    html = pages.render("organization_mismatch.html", locale, **common, wanted="acme", here="acme.test.")
    assert "acme.test." in html and DOUBLED.search(html) is None


def test_french_elides_in_the_email_and_the_login_pages() -> None:
    email = EmailRenderer().render(sample_invitation(), locale="fr")
    assert "Envoyé au nom d’\u2068Acme Inc.\u2069 à" in email.text or "Envoyé au nom d’Acme Inc. à" in email.text
    assert "au nom d’<bdi>Acme Inc.</bdi>" in email.html and "au nom de" not in email.html
    globex = {**sample_invitation().organization, "display_name": "Globex"}
    assert "au nom de <bdi>Globex</bdi>" in EmailRenderer().render(sample_invitation(organization=globex),
                                                                    locale="fr").html
    html = Pages().render("organization_mismatch.html", "fr", home_url="/", login_url="/login", code="c",
                          wanted="acme", here="acme.myapp.test")
    assert "l’adresse d’<bdi>acme.myapp.test</bdi>." in html
