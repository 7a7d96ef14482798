"""The CI check on catalogs: fresh, complete, compilable, compiled, and shipped in the wheel.

Fails when a string was added to a template or module without re-extracting (stale), when a shipped locale
lacks a translation or has a fuzzy one (incomplete), when a translation breaks a placeholder or markup (would
crash or garble a render), or when a committed .mo does not match its .po (not compiled). The fix is the
workflow in the README: pybabel extract, update, translate, compile.
"""

from __future__ import annotations

import gettext
import io
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from orginvite.i18n import translations

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "locales"
POT = LOCALES / "orginvite.pot"
PYBABEL = Path(sys.executable).with_name("pybabel")

PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[#0\- +]*\d*(?:\.\d+)?([diouxXeEfFgGcrsa%])")
TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>")


def load_po(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp, locale=locale)


def keys(catalog: Catalog) -> dict[tuple[str, str | None], object]:
    return {(m.id if isinstance(m.id, str) else m.id[0], m.context): m.id for m in catalog if m.id}


def placeholders(text: str) -> list[str]:
    found = []
    for match in PLACEHOLDER.finditer(text):
        name, conversion = match.groups()
        if conversion == "%":
            continue
        found.append(name if name is not None else f"<positional {conversion}>")
    return sorted(found)


def tags(text: str) -> list[str]:
    # Tag names only (attributes may be translated, e.g. a title): "<bdi>", "</bdi>".
    return sorted(m.group(0) if m.group(0).startswith("</") else f"<{m.group(1)}>" for m in TAG.finditer(text))


def mo_entries(catalog: Catalog) -> dict:
    def frozen(value):
        return tuple(value) if isinstance(value, list | tuple) else value

    return {(frozen(m.id), m.context): frozen(m.string) for m in catalog if m.id}


@pytest.fixture(scope="module")
def fresh_pot(tmp_path_factory) -> Catalog:
    output = tmp_path_factory.mktemp("extract") / "fresh.pot"
    subprocess.run(
        [str(PYBABEL), "extract", "-F", "babel.cfg", "-o", str(output), "--add-location", "file", "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return load_po(output)


# --- stale -------------------------------------------------------------------------------------------------------


def test_the_template_has_every_message_a_fresh_extraction_finds(fresh_pot):
    committed = keys(load_po(POT))
    missing = sorted(set(keys(fresh_pot)) - set(committed))
    assert missing == [], f"run the extract/update workflow: {len(missing)} new message(s), e.g. {missing[:5]}"


def test_the_template_has_no_message_the_sources_dropped(fresh_pot):
    gone = sorted(set(keys(load_po(POT))) - set(keys(fresh_pot)))
    assert gone == [], f"run the extract/update workflow: {len(gone)} message(s) no longer in the sources: {gone[:5]}"


def test_plural_forms_in_the_template_match_the_sources(fresh_pot):
    committed = keys(load_po(POT))
    assert {k: v for k, v in keys(fresh_pot).items() if k in committed} == {
        k: v for k, v in committed.items() if k in keys(fresh_pot)
    }


# --- complete ----------------------------------------------------------------------------------------------------


def test_shipped_locales_are_exactly_the_catalog_directories():
    on_disk = sorted(p.name for p in LOCALES.iterdir() if (p / "LC_MESSAGES" / "orginvite.po").is_file())
    assert on_disk == sorted(translations.AVAILABLE_LOCALES)
    assert len(translations.AVAILABLE_LOCALES) >= 8
    assert "ar" in translations.AVAILABLE_LOCALES  # right-to-left
    assert "ja" in translations.AVAILABLE_LOCALES  # CJK


def completeness_problems(catalog: Catalog, locale: str) -> list[tuple]:
    """Fuzzy or missing translations, plural messages without every form the catalog's Plural-Forms declares
    (gettext picks forms by that header at run time, not by Babel's tables), and a header that does not fit
    the language (see :func:`plural_header_problems`)."""
    problems: list[tuple] = plural_header_problems(catalog, locale)
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(("fuzzy", message.id))
        elif not all(strings):
            problems.append(("untranslated", message.id))
        if isinstance(message.id, tuple) and len(strings) != catalog.num_plurals:
            problems.append(("plural forms", message.id))
    return problems


# Our pt catalog is European Portuguese (Brazilian is pt_BR); CLDR's bare "pt" means Brazilian, whose "one"
# covers 0 as well.
CLDR_PLURAL_RULES = {"pt": "pt_PT"}


def plural_header_problems(catalog: Catalog, locale: str) -> list[tuple]:
    """The Plural-Forms expression must tell apart exactly the CLDR plural categories of 0..200.

    Not a comparison with Babel's own Plural-Forms table: that table changes between Babel releases (2.19 gives
    French a third form, "many", for millions), while a catalog's header is fixed when the catalog is created and
    ``pybabel update`` keeps it. What must hold is that no two numbers the language words differently share a
    form, and no category is split over two forms ("0 jour" and "1 jour" share one; Arabic needs six forms).
    """
    choose = gettext.c2py(catalog.plural_expr)
    cldr = Locale.parse(CLDR_PLURAL_RULES.get(locale, locale))
    forms: dict[str, set[int]] = {}
    for n in range(201):
        index = choose(n)
        if not 0 <= index < catalog.num_plurals:
            return [("plural header", f"form {index} for n={n} outside nplurals={catalog.num_plurals}")]
        forms.setdefault(cldr.plural_form(n), set()).add(index)
    split = {category: sorted(indexes) for category, indexes in forms.items() if len(indexes) > 1}
    used = [index for indexes in forms.values() for index in indexes]
    if split or len(used) != len(set(used)):
        return [("plural header", f"{catalog.plural_forms} does not match {locale}'s plural categories {forms}")]
    return []


def consistency_problems(catalog: Catalog) -> list[tuple]:
    """Placeholders and markup a translation lost or invented (a crash or garbled page at render time)."""
    problems: list[tuple] = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        if isinstance(message.id, tuple):
            singular, plural = message.id
            allowed = set(placeholders(singular)) | set(placeholders(plural))
            required = set(placeholders(plural)) - {"count", "num"}  # "one" and "two" forms may spell the number
            for form in message.string:
                names = set(placeholders(form))
                if not names <= allowed or not required <= names:
                    problems.append(("placeholders", message.id, form))
                if tags(form) != tags(plural):
                    problems.append(("markup", message.id, form))
        else:
            if placeholders(message.string) != placeholders(message.id):
                problems.append(("placeholders", message.id, message.string))
            if tags(message.string) != tags(message.id):
                problems.append(("markup", message.id, message.string))
    return problems


@pytest.mark.parametrize("locale", translations.AVAILABLE_LOCALES)
def test_every_locale_translates_every_message(locale):
    template = keys(load_po(POT))
    catalog = load_po(LOCALES / locale / "LC_MESSAGES" / "orginvite.po", locale)
    assert set(keys(catalog)) == set(template), "run pybabel update"
    problems = completeness_problems(catalog, locale)
    assert problems == [], f"{locale}: {len(problems)} problem(s), e.g. {problems[:5]}"


@pytest.mark.parametrize("locale", translations.AVAILABLE_LOCALES)
def test_translations_keep_placeholders_and_markup(locale):
    catalog = load_po(LOCALES / locale / "LC_MESSAGES" / "orginvite.po", locale)
    assert consistency_problems(catalog) == []


def test_the_checks_catch_broken_catalogs():
    broken = read_po(io.BytesIO(BROKEN_PO.encode()), locale="fr")
    broken.add(("%(count)s item", "%(count)s items"), ("%(count)s élément",))  # one form where French needs two
    found = sorted((kind, message if isinstance(message, str) else message[0]) for kind, message in
                   completeness_problems(broken, "fr"))
    assert found == [("fuzzy", "Guessed"), ("plural forms", "%(count)s item"), ("untranslated", "Untranslated")]
    # A Plural-Forms header that merges 0 with 2..n in French, or gives Arabic two forms, is caught too.
    for locale, header in (("fr", "nplurals=2; plural=(n != 1);"), ("ar", "nplurals=2; plural=(n != 1);")):
        wrong = read_po(io.BytesIO(BROKEN_PO.replace("nplurals=2; plural=(n > 1);", header).encode()), locale=locale)
        assert [kind for kind, _ in plural_header_problems(wrong, locale)] == ["plural header"], locale
    assert plural_header_problems(broken, "fr") == []
    found = sorted((kind, message if isinstance(message, str) else message[0]) for kind, message, _ in
                   consistency_problems(broken))
    assert found == [
        ("markup", "Welcome to <bdi>%(org)s</bdi>"),
        ("placeholders", "%(count)s day"),  # the singular form dropped %(date)s
        ("placeholders", "Hello %(name)s"),  # renamed
        ("placeholders", "Sign in"),  # invented, positional
    ]


BROKEN_PO = r"""
msgid ""
msgstr ""
"Content-Type: text/plain; charset=utf-8\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\n"

msgid "Hello %(name)s"
msgstr "Bonjour %(nom)s"

msgid "Welcome to <bdi>%(org)s</bdi>"
msgstr "Bienvenue dans %(org)s"

msgid "Untranslated"
msgstr ""

#, fuzzy
msgid "Guessed"
msgstr "Deviné"

msgid "%(count)s day"
msgid_plural "%(count)s days, until %(date)s"
msgstr[0] "%(count)s jour"
msgstr[1] "%(count)s jours, jusqu’au %(date)s"

msgid "Sign in"
msgstr "Se connecter %s"
"""


def test_english_is_the_source_text():
    catalog = load_po(LOCALES / "en" / "LC_MESSAGES" / "orginvite.po", "en")
    assert all(m.string == m.id or m.string == tuple(m.id) for m in catalog if m.id)


# --- compiled ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", translations.AVAILABLE_LOCALES)
def test_committed_mo_files_match_their_po(locale):
    folder = LOCALES / locale / "LC_MESSAGES"
    catalog = load_po(folder / "orginvite.po", locale)
    assert catalog.check is not None
    errors = [(message.id, [str(e) for e in errs]) for message, errs in catalog.check()]
    assert errors == [], "pybabel compile would report these"
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    expected = mo_entries(read_mo(buffer))
    with (folder / "orginvite.mo").open("rb") as fp:
        committed = mo_entries(read_mo(fp))
    assert committed == expected, "run pybabel compile -d locales -D orginvite"


# --- shipped -----------------------------------------------------------------------------------------------------


def test_the_package_sees_the_catalogs_in_a_checkout():
    assert translations.LOCALES_DIR.resolve() == LOCALES.resolve()
    for locale in translations.AVAILABLE_LOCALES:
        assert (translations.LOCALES_DIR / locale / "LC_MESSAGES" / "orginvite.mo").is_file()


def test_the_wheel_ships_the_compiled_catalogs_and_the_installed_package_finds_them(tmp_path):
    # Build from a copy of the project (the symlink src/orginvite/catalogs -> ../../locales included), so the
    # working tree gets no build/ or egg-info droppings.
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(ROOT / "locales", project / "locales")
    shutil.copytree(ROOT / "src", project / "src", symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(project)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    [wheel] = dist.glob("orginvite-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for locale in translations.AVAILABLE_LOCALES:
        assert f"orginvite/catalogs/{locale}/LC_MESSAGES/orginvite.mo" in names
    assert "orginvite/emails/templates/invitation/body.html" in names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import orginvite.i18n.translations as t, orginvite;"
        "print(orginvite.__file__); print(t.LOCALES_DIR);"
        "print(t.get_translations('fr').gettext('Accept the invitation'))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    module_file, locales_dir, translated = run.stdout.splitlines()
    assert module_file.startswith(str(site))
    assert Path(locales_dir) == site / "orginvite" / "catalogs"
    assert not Path(locales_dir).is_symlink()
    assert translated == "Accepter l’invitation"
