"""Rendering invitation emails: every locale, escaping, one-line subjects, RTL, overrides, CSS inlined once."""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from orginvite.emails import EmailRenderer, RenderError, sample_invitation
from orginvite.i18n.translations import AVAILABLE_LOCALES, Catalogs

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def renderer() -> EmailRenderer:
    return EmailRenderer(clock=lambda: NOW)


def visible_text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


@pytest.mark.parametrize("locale", AVAILABLE_LOCALES)
def test_every_shipped_locale_renders_completely(renderer, locale):
    email = renderer.render(sample_invitation(), locale=locale)
    assert email.locale == locale
    assert email.resolution.source == "explicit"
    # Every message of the email is translated in the locale itself: nothing fell back to another catalog.
    assert email.fallbacks == ()
    assert "\n" not in email.subject and email.subject
    assert sample_invitation().url in email.text
    lang = locale.replace("_", "-")
    direction = "rtl" if locale == "ar" else "ltr"
    assert f'<html lang="{lang}" dir="{direction}"' in email.html
    assert 'class="preheader"' in email.html
    # the fallback link is visible text, not only an href
    assert "organization_name=acme</a>" in email.html
    assert "<bdi>Amira Haddad</bdi>" in email.html
    assert "{{" not in email.html + email.text and "{%" not in email.html + email.text


def test_locales_really_differ(renderer):
    subjects = {locale: renderer.render(sample_invitation(), locale=locale).subject for locale in AVAILABLE_LOCALES}
    assert len(set(subjects.values())) >= len(AVAILABLE_LOCALES) - 1  # pt and pt_BR may agree on a line
    assert subjects["fr"] == "Amira Haddad vous invite à rejoindre Acme Inc."
    assert subjects["ja"] == "Amira Haddad さんから Acme Inc. への招待"
    assert subjects["ar"] == "دعوة من Amira Haddad للانضمام إلى Acme Inc."


def test_locale_comes_from_user_metadata_then_invitation_then_explicit(renderer):
    invitation = sample_invitation(user_metadata={"lang": "de"})
    assert renderer.render(invitation).locale == "de"
    assert renderer.render(invitation, locale="es").locale == "es"
    assert renderer.render(sample_invitation(user_metadata={"lang": "de"}, locale="ja")).locale == "ja"
    email = renderer.render(sample_invitation(user_metadata={}), accept_language="pt;q=0.9, en;q=0.5")
    assert (email.locale, email.resolution.source) == ("pt", "accept_language")
    org = dict(sample_invitation().organization, metadata={"lang": "fr"})
    email = renderer.render(sample_invitation(user_metadata={}, organization=org))
    assert (email.locale, email.resolution.source) == ("fr", "organization")


def test_right_to_left_output(renderer):
    email = renderer.render(sample_invitation(inviter_name="ليلى حداد"), locale="ar")
    assert email.direction == "rtl" and email.content_language == "ar"
    assert '<html lang="ar" dir="rtl"' in email.html
    assert "<bdi>ليلى حداد</bdi>" in email.html
    assert 'dir="ltr"' in email.html  # the URL and addresses stay left-to-right inside the RTL text


def test_hostile_names_and_metadata_are_escaped_in_html_but_not_in_text(renderer):
    hostile = '<img src=x onerror="alert(1)"> & "Eve"'
    org = dict(sample_invitation().organization, display_name="<b>Evil</b> Corp")
    email = renderer.render(
        sample_invitation(inviter_name=hostile, organization=org, user_metadata={"lang": "en", "x": "<script>"}),
        locale="en",
    )
    assert "<img" not in email.html and "<b>Evil" not in email.html
    assert "<bdi>&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &#34;Eve&#34;</bdi>" in email.html
    assert "<bdi>&lt;b&gt;Evil&lt;/b&gt; Corp</bdi>" in email.html
    # text and subject are not HTML: no entities
    assert hostile in email.text
    assert email.subject == f"{hostile} invited you to join <b>Evil</b> Corp"


@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c"])
def test_subject_is_one_line_whatever_the_names_hold(renderer, breaker):
    name = f"Mallory{breaker}Bcc: victim@example.com{breaker}{breaker}"
    email = renderer.render(sample_invitation(inviter_name=name), locale="en")
    assert email.subject == "Mallory Bcc: victim@example.com invited you to join Acme Inc."
    assert not re.search(r"[\r\n\x0b\x0c\x85\u2028\u2029]", email.subject)


def test_hostile_branding_and_urls_are_dropped(renderer):
    org = dict(sample_invitation().organization)
    org["branding"] = {
        "logo_url": "javascript:alert(1)",
        "colors": {"primary": "red;background:url(https://evil.test/x)", "page_background": "expression(alert(1))"},
    }
    email = renderer.render(
        sample_invitation(organization=org, support_url="javascript:alert(1)", support_email="a@b.c>\r\n<x"),
        locale="en",
    )
    assert "evil.test" not in email.html and "expression(" not in email.html and "javascript:" not in email.html
    assert "#0059d6" in email.html  # the default brand colour
    assert "Questions?" not in email.text  # neither support contact survived validation


def test_no_remote_resources_by_default(renderer):
    email = renderer.render(sample_invitation(), locale="en")
    assert "<img" not in email.html
    assert "<link" not in email.html
    assert "url(" not in email.html
    assert "@import" not in email.html
    assert re.findall(r'src="([^"]*)"', email.html) == []


def test_logo_only_when_remote_images_are_allowed():
    renderer = EmailRenderer(remote_images=True, clock=lambda: NOW)
    email = renderer.render(sample_invitation(), locale="en")
    assert re.findall(r'<img[^>]*src="([^"]*)"', email.html) == ["https://cdn.example.com/acme.png"]
    assert 'alt="Acme Inc."' in email.html


def test_css_is_inlined_once_per_template_not_per_email():
    renderer = EmailRenderer(clock=lambda: NOW)
    for locale in AVAILABLE_LOCALES:
        email = renderer.render(sample_invitation(), locale=locale)
        assert 'class="card" style="' in email.html  # inlined styles in every email
    assert renderer.inlined == ["invitation/body.html"]
    # dark mode and responsive rules stay in a kept <style> block; the inlined rules are gone from <head>
    assert "prefers-color-scheme: dark" in email.html
    assert email.html.count("<style") == 1


def test_roles_are_a_localized_list_with_plural_aware_sentence(renderer):
    one = sample_invitation(roles=({"id": "rol_1", "name": "viewer", "description": ""},))
    assert "Votre rôle : viewer." in renderer.render(one, locale="fr").text
    assert "Vos rôles : admin et billing." in renderer.render(sample_invitation(), locale="fr").text
    assert "Ihre Rollen: admin und billing." in renderer.render(sample_invitation(), locale="de").text
    assert "role" not in renderer.render(sample_invitation(roles=()), locale="en").text.lower()


def test_expiry_is_counted_in_whole_days_in_the_invitees_timezone():
    # 6 days 20 hours: Babel's format_timedelta would say "1 week"
    renderer = EmailRenderer(clock=lambda: dt.datetime(2026, 11, 24, 13, 30, tzinfo=dt.UTC))
    invitation = sample_invitation(expires_at="2026-12-01T09:30:00.000Z", user_metadata={"timezone": "Asia/Tokyo"})
    text = renderer.render(invitation, locale="en").text
    assert "expires in 6 days, on December 1, 2026, 6:30\u202fPM Japan Standard Time." in text
    # An email rendered just after a 7-day invitation was created says 7 days, not 6 (floor of 6.99999).
    created = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.UTC)
    fresh = EmailRenderer(clock=lambda: created + dt.timedelta(seconds=2, minutes=10))
    assert "expires in 7 days, on December 1, 2026" in fresh.render(invitation, locale="en").text
    late = EmailRenderer(clock=lambda: dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC))
    text = late.render(invitation, locale="en", timezone="Europe/Paris").text
    assert "This invitation expires on December 1, 2026, 10:30\u202fAM Central European Standard Time." in text


def test_an_unknown_timezone_in_metadata_falls_back_to_utc(renderer):
    invitation = sample_invitation(user_metadata={"timezone": "Mars/Olympus_Mons"})
    assert "Coordinated Universal Time" in renderer.render(invitation, locale="en").text


def test_a_malformed_expiry_is_a_clear_error(renderer):
    with pytest.raises(RenderError, match="expires_at"):
        renderer.render(sample_invitation(expires_at="next tuesday"), locale="en")


@pytest.mark.parametrize(
    ("expires_at", "timezone"),
    [
        ("9999-12-31T23:59:59+00:00", "Pacific/Kiritimati"),
        ("0001-01-01T00:00:00+00:00", "America/New_York"),
        ("9999-12-31T23:59:59-12:00", "UTC"),
    ],
)
def test_an_expiry_that_cannot_be_shown_in_the_timezone_is_a_render_error(renderer, expires_at, timezone):
    """Not an OverflowError: the local date would fall outside years 1..9999."""
    with pytest.raises(RenderError, match=rf"expires_at .*{timezone}.*out of range") as info:
        renderer.render(sample_invitation(expires_at=expires_at), locale="en", timezone=timezone)
    assert info.value.template == "invitation"


def test_date_filters_in_templates_fail_as_render_errors_too(tmp_path):
    from orginvite.i18n.rendering import DateOutOfRangeError, format_date, format_datetime, format_time

    for formatter in (format_date, format_datetime, format_time):
        with pytest.raises(DateOutOfRangeError, match="Pacific/Kiritimati"):
            formatter("9999-12-31T23:59:59+00:00", locale="en", tzinfo="Pacific/Kiritimati")
    (tmp_path / "invitation").mkdir()
    (tmp_path / "invitation" / "subject.txt").write_text('{{ "0001-01-01T00:00:00Z"|format_date }}')
    custom = EmailRenderer([tmp_path], clock=lambda: NOW)
    with pytest.raises(RenderError, match=r"invitation/subject\.txt: DateOutOfRangeError"):
        custom.render(sample_invitation(timezone="America/New_York"), locale="en")


def test_concurrent_renders_in_threads_never_mix():
    renderer = EmailRenderer(clock=lambda: NOW)
    expected = {locale: renderer.render(sample_invitation(), locale=locale) for locale in AVAILABLE_LOCALES}
    barrier = threading.Barrier(len(expected))
    mismatches: list[str] = []

    def worker(locale: str) -> None:
        barrier.wait()
        for _ in range(20):
            email = renderer.render(sample_invitation(), locale=locale)
            if (email.subject, email.text, email.html) != (
                expected[locale].subject,
                expected[locale].text,
                expected[locale].html,
            ):
                mismatches.append(locale)

    threads = [threading.Thread(target=worker, args=(locale,)) for locale in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []


# --- host app overrides ------------------------------------------------------------------------------------------


def test_host_templates_override_and_the_rest_falls_back(tmp_path: Path):
    (tmp_path / "invitation").mkdir()
    (tmp_path / "invitation" / "subject.txt").write_text(
        "[{{ organization.name }}] {% trans organization=organization_name %}Join {{ organization }}{% endtrans %}"
    )
    renderer = EmailRenderer([tmp_path], clock=lambda: NOW)
    email = renderer.render(sample_invitation(), locale="de")
    assert email.subject == "[acme] Treten Sie Acme Inc. bei"
    assert "Hallo," in email.text  # body.txt is still orginvite's


def test_host_templates_get_strict_undefined(tmp_path: Path):
    (tmp_path / "invitation").mkdir()
    (tmp_path / "invitation" / "subject.txt").write_text("{{ organization.metadata.tier }} invite")
    renderer = EmailRenderer([tmp_path], clock=lambda: NOW)
    with pytest.raises(RenderError) as info:
        renderer.render(sample_invitation(), locale="en")
    assert info.value.template == "invitation/subject.txt"
    assert "tier" in str(info.value)


def test_host_can_add_its_own_email(tmp_path: Path):
    (tmp_path / "reminder").mkdir()
    (tmp_path / "reminder" / "subject.txt").write_text("Reminder: {{ organization_name }}")
    (tmp_path / "reminder" / "body.txt").write_text("{{ url }}")
    (tmp_path / "reminder" / "body.html").write_text(
        '<html lang="{{ lang }}"><head><style>p { color: #123456; }</style></head><body><p>{{ url }}</p></body></html>'
    )
    email = EmailRenderer([tmp_path], clock=lambda: NOW).render(sample_invitation(), email="reminder", locale="ja")
    assert email.subject == "Reminder: Acme Inc."
    assert '<p style="color: #123456;">' in email.html


def test_missing_template_is_a_clear_error(renderer):
    with pytest.raises(RenderError, match=r"nope/subject\.txt: template not found"):
        renderer.render(sample_invitation(), email="nope")


def write_catalog(root: Path, locale: str, messages: dict) -> None:
    catalog = Catalog(locale=locale, domain="orginvite")
    for msgid, msgstr in messages.items():
        catalog.add(msgid, msgstr)
    target = root / locale / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    with (target / "orginvite.mo").open("wb") as fp:
        write_mo(fp, catalog)


def test_host_catalogs_override_and_add_locales(tmp_path: Path):
    write_catalog(tmp_path, "fr", {"Accept the invitation": "Rejoindre l’espace"})
    write_catalog(tmp_path, "it", {"Join %(organization)s": "Unisciti a %(organization)s"})
    renderer = EmailRenderer(catalogs=Catalogs([tmp_path]), clock=lambda: NOW)
    french = renderer.render(sample_invitation(), locale="fr")
    assert "Rejoindre l’espace</a>" in french.html  # overridden
    assert "Bonjour," in french.text  # the rest still orginvite's French
    italian = renderer.render(sample_invitation(), locale="it-IT")
    assert italian.locale == "it"
    assert italian.text.startswith("Unisciti a Acme Inc.")
    # Everything else fell back to English, and the render says so (previews show this panel).
    assert ("Hello,", "en") in italian.fallbacks
    assert all(answered == "en" for _, answered in italian.fallbacks)


def test_plain_text_isolates_names_where_direction_can_go_wrong(renderer):
    arabic = renderer.render(sample_invitation(), locale="ar").text
    assert "وصلتك دعوة من \u2068Amira Haddad\u2069 للانضمام إلى \u2068Acme Inc.\u2069" in arabic
    english = renderer.render(sample_invitation(inviter_name="ليلى حداد"), locale="en").text
    assert "\u2068ليلى حداد\u2069 has invited you to join Acme Inc. on Acme Cloud." in english
    plain = renderer.render(sample_invitation(), locale="en").text
    assert "\u2068" not in plain and "\u2069" not in plain
    # the URL and addresses are never wrapped, so they copy and click cleanly
    assert f"\n{sample_invitation().url}\n" in arabic


def _variants():
    """Invitations that between them take every branch of the invitation templates."""
    one_role = ({"id": "rol_1", "name": "viewer", "description": ""},)
    yield sample_invitation()  # inviter and application, two roles, days left, support email and URL
    yield sample_invitation(application={"name": ""}, friendly_name="", roles=one_role,
                            expires_at="2026-11-22T20:00:00Z", support_url=None)  # fmt: skip
    yield sample_invitation(inviter_name="", roles=(), expires_at=None, support_email=None)
    yield sample_invitation(inviter_name="", application={"name": ""}, friendly_name="", support_email=None,
                            support_url=None, expires_at="2026-11-23T09:30:00Z")  # fmt: skip


@pytest.mark.parametrize("locale", AVAILABLE_LOCALES)
def test_every_branch_of_the_email_is_translated_in_every_locale(renderer, locale):
    texts = set()
    for invitation in _variants():
        email = renderer.render(invitation, locale=locale)  # StrictUndefined: a missing variable raises
        assert email.fallbacks == (), f"{invitation}: not translated in {locale}: {email.fallbacks}"
        assert "\n" not in email.subject and email.subject
        assert invitation.url in email.text
        texts.add(email.text)
    assert len(texts) == 4


def test_a_template_written_for_auth0_finds_every_user_invitation_variable(tmp_path: Path):
    # Auth0's User Invitation template variables, all in one host template
    # (https://auth0.com/docs/customize/email/email-templates/email-template-descriptions).
    (tmp_path / "invitation").mkdir()
    (tmp_path / "invitation" / "body.txt").write_text(
        "{{ inviter.name }}|{{ organization.id }}|{{ organization.name }}|{{ organization.display_name }}|"
        "{{ organization.metadata.tier }}|{{ organization.branding.logo_url }}|"
        "{{ organization.branding.colors.primary }}|{{ organization.branding.colors.page_background }}|{{ url }}|"
        "{% for role in roles %}{{ role.id }}:{{ role.name }}:{{ role.description }};{% endfor %}|"
        "{{ user_metadata.lang }}|{{ app_metadata.plan }}|{{ application.name }}|{{ application.client_id }}|"
        "{{ application.metadata.kind }}|{{ friendly_name }}|{{ support_email }}|{{ support_url }}|{{ expires_at }}"
    )
    base = sample_invitation()
    invitation = sample_invitation(
        organization={**base.organization, "metadata": {"tier": "gold"}},
        app_metadata={"plan": "pro"},
        application={**base.application, "metadata": {"kind": "web"}},
    )
    text = EmailRenderer([tmp_path], clock=lambda: NOW).render(invitation, locale="en").text
    assert text.strip().split("|") == [
        "Amira Haddad", "org_Pr3v13wS4mpl3Org", "acme", "Acme Inc.", "gold", "https://cdn.example.com/acme.png",
        "#0059d6", "#f4f4f5", base.url,
        "rol_Pr3v13wAdm1n000:admin:Manages the workspace;rol_Pr3v13wB1ll1ng0:billing:Sees invoices;",
        "en", "pro", "Acme Cloud", "Pr3v13wCl13nt", "web", "Acme Cloud", "support@example.com",
        "https://help.example.com/", "2026-12-01T09:30:00.000Z",
    ]  # fmt: skip
