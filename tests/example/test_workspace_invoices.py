"""The workspace's /invoices over real HTTP, in both apps: orginvite's permission guard in front of it (Starlette's
``@requires_permissions``, FastAPI's ``Depends(require_permissions(...))``), the page the API's answer becomes, and
the dashboard's link to it for members whose access token grants ``invoices:read``."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from babel.numbers import format_currency
from example_app.api import InvoiceAPI
from workspace_support import ACME, Stack, WorkspaceServers

API = "https://api.acme.test/"
SCOPE = "openid profile email offline_access"
JSON = {"accept": "application/json"}
PASSWORD = "member-password-123"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServers]:
    with WorkspaceServers(tmp_path_factory.mktemp("invoices")) as servers:
        yield servers


@pytest.fixture(params=["starlette", "fastapi"])
def stack(request: pytest.FixtureRequest, servers: WorkspaceServers) -> Iterator[Stack]:
    s = Stack(fastapi=request.param == "fastapi", servers=servers, audience=API, scope=SCOPE)
    yield s
    s.close()


def serve(stack: Stack, ledger: Any) -> None:
    """The same workspace, its API answering from ``ledger`` (a stand-in for another service's data)."""
    if stack.fastapi:
        from example_app.fastapi_app import create_app
    else:
        from example_app.workspace import create_app
    stack._holder.inner = create_app(workspace=stack.workspace, invoice_api=InvoiceAPI(stack.config.login, ledger))


def invoice_ids() -> list[str]:
    tail = ACME[-4:]
    return [f"inv_{tail}_001", f"inv_{tail}_002"]


def test_signed_out_the_guard_answers_401_and_calls_no_api(stack: Stack) -> None:
    page = httpx2.get(stack.url + "/invoices", headers={"accept-language": "fr"})
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
    if stack.fastapi:  # the guard's HTTPException, shown by the workspace's handler as its error page
        assert 'data-page="error"' in page.text and 'data-error="signed_out"' in page.text
        assert "Connectez-vous pour voir cette page." in page.text
    else:  # the guard's own page, with a way to sign in and come back
        assert 'data-page="guard_denied"' in page.text and "returnTo=%2Finvoices" in page.text
    answer = httpx2.get(stack.url + "/invoices", headers=JSON)
    assert answer.status_code == 401 and answer.headers["content-type"] == "application/json"
    assert stack.tenant.token_calls["refresh_token"] == 0


def test_a_member_without_invoices_read_gets_the_guards_403_and_no_link(stack: Stack) -> None:
    stack.add_member("bo@acme.test", PASSWORD, roles=[], name="Bo")  # no role, so no permission of the API
    with stack.client() as client:
        client.headers["accept-language"] = "fr"
        dashboard = stack.sign_in(client, "bo@acme.test", PASSWORD)
        assert 'data-page="dashboard"' in dashboard.text and 'href="/invoices"' not in dashboard.text
        refused = client.get(stack.url + "/invoices")
        as_json = client.get(stack.url + "/invoices", headers=JSON)
        assert client.get(stack.url + "/me").json()["user"]["email"] == "bo@acme.test"  # refused, still signed in
    assert refused.status_code == 403 and refused.headers["content-language"] == "fr"
    assert not any(invoice in refused.text for invoice in invoice_ids())
    if stack.fastapi:
        assert 'data-page="error"' in refused.text and 'data-error="forbidden"' in refused.text
        assert "<h2>Accès refusé</h2>" in refused.text and "(il faut invoices:read)" in refused.text
        assert as_json.json()["detail"]["missing"] == {"permissions": ["invoices:read"]}
    else:
        assert 'data-page="guard_denied"' in refused.text and "Vous n’avez pas accès à cette page" in refused.text
        assert as_json.json()["missing"] == {"permissions": ["invoices:read"]}
    assert as_json.status_code == 403


def test_a_member_with_invoices_read_follows_the_link_to_the_invoices_page(stack: Stack) -> None:
    stack.add_member("max@acme.test", PASSWORD, roles=["member"], name="Max")  # member: invoices:read only
    with stack.client() as client:
        dashboard = stack.sign_in(client, "max@acme.test", PASSWORD)
        assert '<a href="/invoices" data-testid="invoices-link">Invoices</a>' in dashboard.text
        page = client.get(stack.url + "/invoices")
        french = client.get(stack.url + "/invoices", headers={"accept-language": "fr-FR"})
    assert page.status_code == 200 and 'data-page="invoices"' in page.text
    assert [f'<tr data-invoice="{invoice}">' in page.text for invoice in invoice_ids()] == [True, True]
    assert "<bdi>€1,200.00</bdi>" in page.text and "<bdi>€340.50</bdi>" in page.text
    assert f"Fetched from <bdi>{API}</bdi> with your access token." in page.text
    assert "Signed in as" in page.text  # the workspace's header: a page of the workspace
    amount = format_currency(Decimal("1200.00"), "EUR", locale="fr")  # 1 200,00 € with French spaces
    assert french.headers["content-language"] == "fr" and "<h2>Factures</h2>" in french.text
    assert f"<bdi>{amount}</bdi>" in french.text


def test_what_the_api_answers_is_escaped_on_the_page(stack: Stack) -> None:
    serve(stack, lambda org: [{"id": "<script>alert(1)</script>", "amount": "1 < 2", "currency": '"><b>x'}])
    with stack.client() as client:
        stack.sign_in(client)  # the admin: invoices:read and invoices:write
        page = client.get(stack.url + "/invoices")
    assert page.status_code == 200, page.text[:300]
    assert "<script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<b>" not in page.text and "1 &lt; 2 &#34;&gt;&lt;b&gt;x" in page.text


def test_an_answer_that_is_not_the_apis_shape_is_the_workspaces_error_page(stack: Stack) -> None:
    serve(stack, lambda org: [{"id": "inv_1", "amount": 12, "currency": "EUR"}])  # a number, not a string
    with stack.client() as client:
        stack.sign_in(client)
        page = client.get(stack.url + "/invoices", headers={"accept-language": "de"})
        as_json = client.get(stack.url + "/invoices", headers=JSON)
    assert page.status_code == 502 and 'data-page="error"' in page.text and 'data-error="api_refused"' in page.text
    assert "Die Rechnungen sind nicht verfügbar" in page.text and "inv_1" not in page.text
    assert as_json.status_code == 200 and as_json.json()["answer"]["invoices"][0]["amount"] == 12  # as answered


@pytest.mark.parametrize("kind", ["starlette", "fastapi"])
def test_without_an_api_audience_invoices_is_a_404_page_and_the_dashboard_has_no_link(
        kind: str, servers: WorkspaceServers) -> None:
    s = Stack(fastapi=kind == "fastapi", servers=servers)  # the login asks for no API's tokens
    try:
        with s.client() as client:
            dashboard = s.sign_in(client)
            page = client.get(s.url + "/invoices")
            as_json = client.get(s.url + "/invoices", headers=JSON)
    finally:
        s.close()
    assert 'data-page="dashboard"' in dashboard.text and 'href="/invoices"' not in dashboard.text
    assert page.status_code == 404 and 'data-error="no_api"' in page.text and "ORGINVITE_AUDIENCE" in page.text
    assert as_json.status_code == 404 and as_json.json()["error"] == "no_api"


def test_an_amount_too_large_to_format_is_shown_as_sent_not_a_500(stack: Stack) -> None:
    # Decimal reads these, but babel's rounding to the currency's two digits overflows decimal's 28-digit context
    # (InvalidOperation, Overflow): the page shows the amount as the API wrote it.
    serve(stack, lambda org: [{"id": "inv_big", "amount": "1e30", "currency": "EUR"},
                              {"id": "inv_huge", "amount": "1e999999999999999999", "currency": "EUR"},
                              {"id": "inv_ok", "amount": "5", "currency": "EUR"}])
    with stack.client() as client:
        stack.sign_in(client)
        page = client.get(stack.url + "/invoices")
    assert page.status_code == 200, page.text[:300]
    assert "<bdi>1e30 EUR</bdi>" in page.text and "<bdi>1e999999999999999999 EUR</bdi>" in page.text
    assert "<bdi>€5.00</bdi>" in page.text
