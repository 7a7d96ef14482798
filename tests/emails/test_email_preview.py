"""The preview app over real HTTP on loopback, and the `orginvite preview` command."""

from __future__ import annotations

import email
import json
import re
import signal
import subprocess
import sys
from email import policy
from pathlib import Path

import httpx2
import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from starlette.applications import Starlette
from starlette.routing import Mount

from loopback_support import free_port, wait_until_answering
from orginvite import cli as orginvite_cli
from orginvite.emails import EmailRenderer
from orginvite.emails.cli import main as preview_main
from orginvite.emails.preview import EmailPreviews
from orginvite.i18n.translations import AVAILABLE_LOCALES, Catalogs
from orginvite.login.pages import Pages
from orginvite.testing import LiveServer

NOW = "2026-11-22T09:30:00Z"


@pytest.fixture(scope="module")
def server():
    app = Starlette(routes=[Mount("/_previews", app=EmailPreviews(enabled=True))])
    with LiveServer(app) as live:
        yield live


def get(server, path: str, **kwargs) -> httpx2.Response:
    return httpx2.get(f"{server.url}/_previews{path}", timeout=30, **kwargs)


def test_off_unless_turned_on(monkeypatch):
    monkeypatch.delenv("ORGINVITE_PREVIEWS", raising=False)
    with LiveServer(EmailPreviews()) as live:
        response = httpx2.get(f"{live.url}/")
    assert response.status_code == 404
    assert "previews are off" in response.text
    monkeypatch.setenv("ORGINVITE_PREVIEWS", "1")
    with LiveServer(EmailPreviews()) as live:
        assert httpx2.get(f"{live.url}/").status_code == 200


def test_proxied_requests_are_refused(server):
    response = get(server, "/", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 403
    assert "local clients" in response.text


FOREIGN_HOSTS = ("attacker.test", "attacker.test:8025", "127.0.0.1.attacker.test", "localhost.attacker.test",
                 "www.localhost.attacker.test", "", "a b")


def test_a_foreign_host_is_refused_and_loopback_names_are_answered(server):
    """DNS rebinding: the page's own name re-resolved to 127.0.0.1 is a local client with a foreign Host."""
    port = server.url.rsplit(":", 1)[1]
    for host in FOREIGN_HOSTS:
        for path in ("/", "/emails/invitation/json", "/pages/unknown_organization/html"):
            response = get(server, path, headers={"host": host})
            assert response.status_code == 400, (host, path)
            assert "only answer requests for this machine's names" in response.text
            assert "location" not in response.headers
            assert not host or host not in response.text
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"app.localhost:{port}", f"[::1]:{port}"):
        assert get(server, "/emails/invitation/json", headers={"host": host}).status_code == 200, host


def test_allowed_hosts_are_answered_too():
    app = EmailPreviews(enabled=True, allowed_hosts=["*.myapp.test", "Box.Example."])
    with LiveServer(app) as live:
        for host in ("acme.myapp.test", "a.b.myapp.test:8000", "box.example"):
            assert httpx2.get(f"{live.url}/", headers={"host": host}).status_code == 200, host
        for host in ("myapp.test", "evilmyapp.test", "attacker.test"):
            assert httpx2.get(f"{live.url}/", headers={"host": host}).status_code == 400, host


@pytest.mark.anyio
async def test_non_local_clients_are_refused_unless_allowed():
    refusing = EmailPreviews(enabled=True)
    transport = httpx2.ASGITransport(app=refusing, client=("203.0.113.9", 50000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://previews.test") as client:
        assert (await client.get("/")).status_code == 403
    allowing = EmailPreviews(enabled=True, allow_remote=True)
    transport = httpx2.ASGITransport(app=allowing, client=("203.0.113.9", 50000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://previews.test") as client:
        assert (await client.get("/")).status_code == 200


def test_index_lists_every_locale_and_page(server):
    response = get(server, "/")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "script-src" not in response.headers["content-security-policy"]  # default-src 'none': no scripts
    for locale in AVAILABLE_LOCALES:
        assert f'href="/_previews/emails/invitation?locale={locale}"' in response.text
        assert f'href="/_previews/pages/interstitial?locale={locale}"' in response.text
    assert re.search(r"ar <span class=\"badge rtl\">RTL</span>", response.text)


def test_detail_page_shows_every_panel(server):
    response = get(server, f"/emails/invitation?locale=ar&now={NOW}")
    assert response.status_code == 200
    page = response.text
    assert 'data-testid="rtl"' in page
    assert 'data-testid="subject" lang="ar" dir="rtl">دعوة من Amira Haddad للانضمام إلى Acme Inc.</p>' in page
    assert "<iframe class=\"frame desktop\" sandbox " in page
    assert "None: every message is translated in ar." in page
    assert "<th>Content-Language</th><td><code>ar</code></td>" in page
    assert "/_previews/emails/invitation/eml?locale=ar" in page
    assert "&lt;!DOCTYPE html&gt;" in page  # the escaped HTML source
    mobile = get(server, "/emails/invitation?locale=ar&width=mobile").text
    assert '<iframe class="frame mobile" sandbox' in mobile


def test_auto_mode_shows_the_resolution_trace(server):
    page = get(server, "/emails/invitation?locale=auto&lang=xx&ui_locales=ko+pt-PT").text
    assert "<tr><th>Won by</th><td>ui_locales · requested <code>pt-PT</code></td></tr>" in page
    assert "<tr><td>user_metadata</td><td><code>xx</code></td><td>—</td></tr>" in page
    assert "<tr><th>Fallback chain</th><td>pt → en</td></tr>" in page
    # with nothing else, the browser's own Accept-Language decides
    page = get(server, "/emails/invitation", headers={"Accept-Language": "de-CH, en;q=0.5"}).text
    assert '<span data-testid="locale">de</span>' in page


def test_sample_data_from_the_query_is_escaped(server):
    hostile = '<script>alert("x")</script>'
    page = get(server, "/emails/invitation", params={"locale": "en", "inviter": hostile, "roles": "owner"}).text
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    html = get(server, "/emails/invitation/html", params={"locale": "en", "inviter": hostile, "roles": "owner"}).text
    assert "<script>" not in html
    assert "<bdi>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</bdi> has invited you" in html
    assert "Your role: <bdi>owner</bdi>." in html


def test_raw_html_is_sandboxed(server):
    response = get(server, "/emails/invitation/html?locale=ja")
    assert response.headers["content-security-policy"].startswith("sandbox;")
    assert response.headers["content-language"] == "ja"
    assert '<html lang="ja" dir="ltr"' in response.text


def test_text_eml_and_json(server):
    text = get(server, "/emails/invitation/text?locale=de")
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.startswith("Treten Sie Acme Inc. bei")

    eml = get(server, "/emails/invitation/eml?locale=fr")
    assert eml.headers["content-type"] == "message/rfc822"
    assert eml.headers["content-disposition"] == 'attachment; filename="invitation-fr.eml"'
    message = email.message_from_bytes(eml.content, policy=policy.default)
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Content-Language"] == "fr"

    data = get(server, f"/emails/invitation/json?locale=auto&lang=pt_BR&now={NOW}").json()
    assert (data["locale"], data["direction"], data["resolution"]["source"]) == ("pt_BR", "ltr", "user_metadata")
    assert data["resolution"]["chain"] == ["pt_BR", "pt", "en"]
    assert data["fallbacks"] == []
    assert "expira em 7 dias" in data["text"]
    assert ["Message-ID", "<preview.invitation.pt_BR@example.com>"] in data["headers"]


def test_json_is_stable_for_snapshots(server):
    first = get(server, f"/emails/invitation/json?locale=ar&now={NOW}").json()
    second = get(server, f"/emails/invitation/json?locale=ar&now={NOW}").json()
    assert first == second


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/emails/nope", 404, "Known emails: invitation"),
        ("/emails/invitation?timezone=Mars/Olympus", 400, "timezone: not an IANA timezone name"),
        ("/emails/invitation?expires_at=soon", 400, "expires_at: not an ISO 8601 date-time"),
        ("/emails/invitation?inviter=" + "x" * 400, 400, "inviter: longer than 300 characters"),
        ("/emails/invitation?expires_at=9999-12-31T23:59:59%2B00:00&timezone=Pacific/Kiritimati", 400,
         "expires_at: 9999-12-31T23:59:59+00:00 is out of range in Pacific/Kiritimati"),
        ("/emails/invitation?expires_at=0001-01-01T00:00:00%2B00:00&timezone=America/New_York", 400,
         "expires_at: 0001-01-01T00:00:00+00:00 is out of range in America/New_York"),
        ("/emails/invitation?expires_at=9999-12-31T23:59:59-12:00", 400, "expires_at: 9999-12-31T23:59:59-12:00"),
        ("/emails/invitation?now=9999-12-30T00:00:00Z", 400, "now: too close to the year 9999"),
        ("/emails/invitation?now=9999-12-24T12:00:00Z&timezone=Pacific/Kiritimati", 400,
         "now: 9999-12-31T12:00:00+00:00 is out of range in Pacific/Kiritimati"),
        ("/emails/invitation/json?expires_at=9999-12-31T23:59:59%2B00:00&timezone=Pacific/Kiritimati", 400,
         "expires_at: "),
        ("/pages/nope?locale=fr", 404, "Known pages:"),
    ],
)
def test_bad_requests_get_clear_pages(server, path, status, fragment):
    response = get(server, path)
    assert response.status_code == status
    assert fragment in response.text


def test_an_unknown_locale_falls_back_visibly(server):
    page = get(server, "/emails/invitation?locale=ko").text
    assert '<span data-testid="locale">en</span>' in page
    assert "<tr><th>Won by</th><td>default" in page


@pytest.mark.parametrize("locale", AVAILABLE_LOCALES)
def test_every_login_page_renders_in_every_locale(server, locale):
    names = sorted(name[:-5] for name in Pages().env.list_templates() if name.endswith(".html") and name != "base.html")
    assert names
    for name in names:
        response = get(server, f"/pages/{name}/html?locale={locale}")
        assert response.status_code == 200, (name, response.text[:500])
        assert f'lang="{locale.replace("_", "-")}"' in response.text
        assert response.headers["content-security-policy"].startswith("sandbox;")
        detail = get(server, f"/pages/{name}?locale={locale}")
        assert detail.status_code == 200
        assert ('data-testid="rtl"' in detail.text) == (locale == "ar")


def test_fallback_panel_lists_messages_from_another_locale(tmp_path: Path):
    catalog = Catalog(locale="it", domain="orginvite")
    catalog.add("Join %(organization)s", "Unisciti a %(organization)s")
    (tmp_path / "it" / "LC_MESSAGES").mkdir(parents=True)
    with (tmp_path / "it" / "LC_MESSAGES" / "orginvite.mo").open("wb") as fp:
        write_mo(fp, catalog)
    previews = EmailPreviews(EmailRenderer(catalogs=Catalogs([tmp_path])), enabled=True, include_pages=False)
    with LiveServer(previews) as live:
        page = httpx2.get(f"{live.url}/emails/invitation?locale=it").text
    assert "Messages that fell back to another locale" in page
    assert "<tr><td><code>Hello,</code></td><td>en</td></tr>" in page
    assert "Join %(organization)s" not in page.split('data-testid="fallbacks"')[1].split("</section>")[0]


# --- the command -----------------------------------------------------------------------------------------------------


def test_cli_writes_json_for_a_locale(tmp_path: Path, capsys):
    out = tmp_path / "ar.json"
    assert preview_main(["--locale", "ar", "--format", "json", "--now", NOW, "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert (data["locale"], data["direction"]) == ("ar", "rtl")
    assert data["subject"] == "دعوة من Amira Haddad للانضمام إلى Acme Inc."
    assert "wrote" in capsys.readouterr().err


def test_cli_formats_through_the_orginvite_dispatcher(tmp_path: Path, capsys):
    assert orginvite_cli.main(["preview", "--locale", "ja", "--format", "subject"]) == 0
    assert capsys.readouterr().out == "Amira Haddad さんから Acme Inc. への招待\n"
    eml = tmp_path / "x.eml"
    assert orginvite_cli.main(["preview", "--locale", "es", "--format", "eml", "--out", str(eml)]) == 0
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["Content-Language"] == "es"
    html = tmp_path / "x.html"
    assert orginvite_cli.main(["preview", "--locale", "auto", "--accept-language", "fr-CA", "--out", str(html)]) == 0
    assert '<html lang="fr" dir="ltr"' in html.read_text(encoding="utf-8")


def test_cli_sample_data_and_template_overrides(tmp_path: Path, capsys):
    (tmp_path / "invitation").mkdir()
    (tmp_path / "invitation" / "subject.txt").write_text("{{ inviter.name }} → {{ organization_name }}")
    code = preview_main(
        ["--templates", str(tmp_path), "--inviter", "Léa", "--organization", "Globex", "--format", "subject"]
    )
    assert code == 0
    assert capsys.readouterr().out == "Léa → Globex\n"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--timezone", "Nowhere/Land"], "timezone"),
        (["--expires-at", "tomorrow"], "expires_at"),
        (["--email", "../etc"], "email"),
        (["--email", "missing"], "template not found"),
    ],
)
def test_cli_bad_input_is_a_clear_error(args, fragment, capsys):
    assert preview_main(args) == 2
    assert fragment in capsys.readouterr().err


def test_cli_arabic_eml_is_a_complete_message(capsys):
    assert preview_main(["--locale", "ar", "--format", "eml", "--now", NOW]) == 0
    message = email.message_from_bytes(capsys.readouterr().out.encode("ascii"), policy=policy.default)  # 7-bit
    assert message["Subject"] == "دعوة من Amira Haddad للانضمام إلى Acme Inc."
    assert message["Content-Language"] == "ar" and message["Date"] == "Sun, 22 Nov 2026 09:30:00 +0000"
    text, html = (part.get_content() for part in message.iter_parts())
    assert text.startswith("انضم إلى \u2068Acme Inc.\u2069")
    assert '<html lang="ar" dir="rtl"' in html


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_the_preview_app(tmp_path: Path, sig: int):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "orginvite", "preview", "--serve", "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        page = wait_until_answering(f"http://127.0.0.1:{port}/emails/invitation?locale=ar", process=process)
        assert page.status_code == 200 and 'data-testid="rtl"' in page.text
        proxied = httpx2.get(f"http://127.0.0.1:{port}/", headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 403
        rebound = httpx2.get(f"http://127.0.0.1:{port}/emails/invitation", headers={"host": f"attacker.test:{port}"})
        assert rebound.status_code == 400
    finally:
        process.send_signal(sig)
        assert process.wait(timeout=20) == 0
    assert process.stderr is not None
    with process.stderr:
        assert f"email previews on http://127.0.0.1:{port}/ (Ctrl-C to stop)" in process.stderr.read()


@pytest.mark.parametrize(("args", "note"), [
    (["--locale", "xx"], "no catalog for --locale 'xx' (available: {available}); rendered in en (the default)"),
    (["--lang", "xx", "--accept-language", "de-CH"],
     "no catalog for --lang 'xx' (available: {available}); rendered in de (from --accept-language)"),
])
def test_cli_says_which_locale_it_used_when_the_one_asked_for_has_no_catalog(args, note, capsys):
    assert preview_main([*args, "--format", "subject"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "orginvite preview: " + note.format(available=", ".join(AVAILABLE_LOCALES)) + "\n"
    assert captured.out  # the email is still rendered


@pytest.mark.parametrize("args", [["--locale", "fr"], ["--locale", "auto"], ["--accept-language", "pt-BR"]])
def test_cli_is_quiet_when_the_locale_asked_for_is_found(args, capsys):
    assert preview_main([*args, "--format", "subject"]) == 0
    assert capsys.readouterr().err == ""
