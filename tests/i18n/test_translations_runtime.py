"""Catalog chains, the ContextVar-driven environment, and Babel formatting with explicit locales."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path

import jinja2
import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.support import Translations

from orginvite.errors import OrgInviteError
from orginvite.i18n import translations as tr
from orginvite.i18n.rendering import create_environment, format_date, format_datetime, format_list
from orginvite.i18n.translations import (
    CatalogError,
    Catalogs,
    UnknownTimezoneError,
    current_locale,
    parse_timezone,
    use_locale,
)


def write_catalog(root: Path, locale: str, messages: dict, domain: str = "orginvite") -> None:
    catalog = Catalog(locale=locale.replace("-", "_"), domain=domain)
    for msgid, msgstr in messages.items():
        catalog.add(msgid, msgstr)
    target = root / locale / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    with (target / f"{domain}.mo").open("wb") as fp:
        write_mo(fp, catalog)


@pytest.fixture
def chain_dir(tmp_path: Path) -> Path:
    write_catalog(tmp_path, "en", {"Hello": "Hello", "Goodbye": "Goodbye", "Thanks": "Thanks!"})
    write_catalog(tmp_path, "pt", {"Hello": "Olá (pt)", "Goodbye": "Adeus"})
    write_catalog(tmp_path, "pt_BR", {"Hello": "Oi"})
    write_catalog(tmp_path, "fr", {"Hello": "Bonjour", "Goodbye": "Au revoir", "Thanks": "Merci !"})
    write_catalog(tmp_path, "de", {"Hello": "Hallo", "Goodbye": "Tschüss", "Thanks": "Danke!"})
    write_catalog(tmp_path, "ja", {"Hello": "こんにちは", "Goodbye": "さようなら", "Thanks": "ありがとう"})
    write_catalog(tmp_path, "ar", {"Hello": "مرحبا", "Goodbye": "مع السلامة", "Thanks": "شكرا"})
    return tmp_path


# --- catalogs and fallback chains --------------------------------------------------------------------------------


def test_message_level_fallback_pt_BR_to_pt_to_en(chain_dir):
    catalogs = Catalogs([chain_dir], builtin=False)
    t = catalogs.translations("pt_BR")
    assert t.gettext("Hello") == "Oi"  # pt_BR itself
    assert t.gettext("Goodbye") == "Adeus"  # missing in pt_BR: pt answers
    assert t.gettext("Thanks") == "Thanks!"  # missing in pt_BR and pt: en answers
    assert t.gettext("Not in any catalog") == "Not in any catalog"
    assert catalogs.chain("pt-br") == ("pt_BR", "pt", "en")
    sources = [catalogs.source_of("pt_BR", m) for m in ("Hello", "Goodbye", "Thanks", "Nope")]
    assert sources == ["pt_BR", "pt", "en", None]


def test_babel_load_alone_would_not_fall_back(chain_dir):
    # The trap the chain exists for: Translations.load stops at the first catalog it finds.
    loaded = Translations.load(chain_dir, ["pt_BR", "pt", "en"], domain="orginvite")
    assert loaded.gettext("Goodbye") == "Goodbye"
    assert Catalogs([chain_dir], builtin=False).translations("pt_BR").gettext("Goodbye") == "Adeus"


def test_chains_are_built_once_and_cached(chain_dir):
    catalogs = Catalogs([chain_dir], builtin=False)
    assert catalogs.translations("pt_BR") is catalogs.translations("pt-BR")
    assert catalogs.translations("pt") is not catalogs.translations("pt_BR")
    # pt's own chain was not extended by pt_BR's: pt -> en only.
    assert catalogs.translations("pt").gettext("Hello") == "Olá (pt)"


def test_unknown_locale_gets_the_default(chain_dir):
    catalogs = Catalogs([chain_dir], builtin=False)
    assert catalogs.resolve("ko") == "en"
    assert catalogs.resolve(None) == "en"
    assert catalogs.resolve("pt-PT") == "pt"
    assert catalogs.translations("ko").gettext("Thanks") == "Thanks!"


def test_available_locales_are_discovered_in_extra_directories(chain_dir):
    catalogs = Catalogs([chain_dir], builtin=False)
    assert set(catalogs.available) == {"en", "pt", "pt_BR", "fr", "de", "ja", "ar"}


def test_host_catalog_overrides_and_falls_back_to_the_next_layer(chain_dir, tmp_path_factory):
    host = tmp_path_factory.mktemp("host")
    write_catalog(host, "fr", {"Hello": "Salut"})
    write_catalog(host, "it", {"Hello": "Ciao"})
    catalogs = Catalogs([host, chain_dir], builtin=False)
    assert catalogs.translations("fr").gettext("Hello") == "Salut"  # host wins
    assert catalogs.translations("fr").gettext("Goodbye") == "Au revoir"  # next layer, same locale
    assert catalogs.translations("it").gettext("Goodbye") == "Goodbye"  # added locale, falls to en
    assert "it" in catalogs.available


def test_a_corrupt_catalog_is_a_clear_error(tmp_path):
    target = tmp_path / "fr" / "LC_MESSAGES"
    target.mkdir(parents=True)
    (target / "orginvite.mo").write_bytes(b"this is not a catalog at all")
    catalogs = Catalogs([tmp_path], builtin=False)
    with pytest.raises(CatalogError) as info:
        catalogs.translations("fr")
    assert isinstance(info.value, OrgInviteError)
    assert "fr/LC_MESSAGES/orginvite.mo" in str(info.value)


# --- the environment and the active locale -----------------------------------------------------------------------

TEMPLATES = {
    "greet.html": "<p lang=\"{{ html_lang() }}\" dir=\"{{ text_direction() }}\">{% trans %}Hello{% endtrans %}, "
    "{{ name }}! {{ _('Goodbye') }}</p>",
    "greet.txt": "{{ _('Hello') }}, {{ name }}!",
    "named.html": "{% trans who=name %}Hello{% endtrans %} <b>{{ name }}</b>",
}


@pytest.fixture
def env(chain_dir) -> jinja2.Environment:
    return create_environment(jinja2.DictLoader(TEMPLATES), catalogs=Catalogs([chain_dir], builtin=False))


def test_templates_follow_the_active_locale(env):
    with use_locale("fr"):
        assert env.get_template("greet.txt").render(name="Zoé") == "Bonjour, Zoé!"
    with use_locale("ar"):
        assert env.get_template("greet.html").render(name="x") == '<p lang="ar" dir="rtl">مرحبا, x! مع السلامة</p>'
    with use_locale("pt-br"):
        assert env.get_template("greet.html").render(name="x") == '<p lang="pt-BR" dir="ltr">Oi, x! Adeus</p>'
    assert env.get_template("greet.txt").render(name="x") == "Hello, x!"  # nothing active: the default


def test_html_is_escaped_and_text_is_not(env):
    hostile = '<script>alert("x")</script> & Tom'
    with use_locale("de"):
        html = env.get_template("greet.html").render(name=hostile)
        text = env.get_template("greet.txt").render(name=hostile)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Tom" in html
    assert text == f"Hallo, {hostile}!"


def test_undefined_variables_raise(env):
    with use_locale("fr"), pytest.raises(jinja2.UndefinedError):
        env.get_template("greet.txt").render()


def test_use_locale_restores_the_previous_locale():
    with use_locale("fr"):
        with use_locale("ja"):
            assert current_locale() == "ja"
        assert current_locale() == "fr"
    assert current_locale() == "en"


def test_recording_messages_that_fell_back(env):
    with use_locale("pt_BR", record_fallbacks=True) as fallbacks:
        env.get_template("greet.html").render(name="x")
    assert fallbacks == [("Goodbye", "pt")]


def test_concurrent_renders_in_threads_never_mix(env):
    expected = {"fr": "Bonjour, a!", "de": "Hallo, a!", "ja": "こんにちは, a!", "ar": "مرحبا, a!", "pt_BR": "Oi, a!"}
    barrier = threading.Barrier(len(expected))
    seen: dict[str, set[str]] = {locale: set() for locale in expected}

    def worker(locale: str) -> None:
        with use_locale(locale):
            barrier.wait()  # every thread is inside its own use_locale before anyone renders
            for _ in range(200):
                seen[locale].add(env.get_template("greet.txt").render(name="a"))

    threads = [threading.Thread(target=worker, args=(locale,)) for locale in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {locale: {text} for locale, text in expected.items()}


@pytest.mark.anyio
async def test_concurrent_renders_in_asyncio_tasks_never_mix(chain_dir):
    env = create_environment(
        jinja2.DictLoader(TEMPLATES), catalogs=Catalogs([chain_dir], builtin=False), enable_async=True
    )
    expected = {"fr": "Bonjour, a!", "de": "Hallo, a!", "ja": "こんにちは, a!", "ar": "مرحبا, a!", "en": "Hello, a!"}
    started = asyncio.Event()
    entered = 0

    async def render(locale: str) -> set[str]:
        nonlocal entered
        results = set()
        with use_locale(locale):
            entered += 1
            if entered == len(expected):
                started.set()
            await started.wait()  # all tasks hold a different active locale at the same time
            for _ in range(50):
                results.add(await env.get_template("greet.txt").render_async(name="a"))
                await asyncio.sleep(0)
        return results

    results = await asyncio.gather(*(render(locale) for locale in expected))
    assert dict(zip(expected, results, strict=True)) == {locale: {text} for locale, text in expected.items()}


# --- formatting with explicit locales and timezones ---------------------------------------------------------------

MOMENT = dt.datetime(2026, 3, 1, 22, 30, tzinfo=dt.UTC)


def test_format_datetime_uses_the_active_locale_and_timezone(monkeypatch):
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")  # a server locale must never leak in
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    with use_locale("fr", timezone="Europe/Paris"):
        assert format_datetime(MOMENT, "long") == "1 mars 2026, 23:30:00 +0100"
        assert format_date(MOMENT) == "1 mars 2026"
    with use_locale("ja", timezone="Asia/Tokyo"):
        assert format_date(MOMENT) == "2026年3月2日"  # the next day in Tokyo
    assert format_date(MOMENT) == "March 1, 2026"  # no active locale: English and UTC, never the server's


def test_format_datetime_accepts_iso_strings_and_explicit_arguments():
    assert format_date("2026-03-01T22:30:00.000Z", locale="de", tzinfo="America/Los_Angeles") == "1. März 2026"
    assert format_date(dt.date(2026, 3, 1), "short", locale="pt_BR") == "01/03/2026"


def test_format_list_is_localized():
    with use_locale("fr"):
        assert format_list(["admin", "billing", "viewer"]) == "admin, billing et viewer"
    with use_locale("ja"):
        assert format_list(["admin", "billing"]) == "admin、billing"
    assert format_list(["admin", "billing"], locale="de") == "admin und billing"


def test_python_side_gettext_uses_the_active_locale(monkeypatch, chain_dir):
    monkeypatch.setattr(tr, "_default", Catalogs([chain_dir], builtin=False))
    with use_locale("pt_BR"):
        assert tr.gettext("Goodbye") == "Adeus"
    assert tr.gettext("Goodbye") == "Goodbye"
    with use_locale("fr"):
        assert tr.gettext("%(n)s items", n=3) == "3 items"


def test_parse_timezone():
    assert parse_timezone(None) is dt.UTC
    assert str(parse_timezone("Europe/Paris")) == "Europe/Paris"
    for bad in ("Mars/Olympus", "../../etc/passwd", "/etc/localtime", "x" * 100):
        with pytest.raises(UnknownTimezoneError):
            parse_timezone(bad)
        assert parse_timezone(bad, strict=False) is dt.UTC


def test_set_default_catalogs_reaches_environments_created_before(chain_dir):
    env = create_environment(jinja2.DictLoader(TEMPLATES))  # the default catalogs, e.g. the login pages
    try:
        tr.set_default_catalogs(Catalogs([chain_dir], builtin=False))
        with use_locale("pt_BR"):
            assert env.get_template("greet.txt").render(name="x") == "Oi, x!"
            assert tr.gettext("Goodbye") == "Adeus"
    finally:
        tr.set_default_catalogs(None)
    with use_locale("pt_BR"):
        assert env.get_template("greet.txt").render(name="x") == "Hello, x!"  # orginvite's own: no such msgid


def test_host_directories_may_spell_locales_with_a_hyphen(chain_dir, tmp_path_factory):
    host = tmp_path_factory.mktemp("hyphen")
    write_catalog(host, "pt-BR", {"Goodbye": "Tchau"})
    catalogs = Catalogs([host, chain_dir], builtin=False)
    assert catalogs.available.count("pt_BR") == 1 and "pt-BR" not in catalogs.available
    assert catalogs.translations("pt_BR").gettext("Goodbye") == "Tchau"
    assert catalogs.translations("pt_BR").gettext("Hello") == "Oi"


def test_preload_surfaces_a_broken_catalog_at_start_up(tmp_path):
    target = tmp_path / "de" / "LC_MESSAGES"
    target.mkdir(parents=True)
    (target / "orginvite.mo").write_bytes(b"\x00" * 64)
    with pytest.raises(CatalogError):
        Catalogs([tmp_path]).preload()
