"""The workspace's organization switcher in a real Chromium: the demo's member of Acme and Globex signs in once and
switches without typing a password again (a silent prompt=none login at the tenant); a member of one organization
sees no switcher; a hand-made switch to an organization the user is not in gets the provider's refusal as the
localized page and keeps the session it had. Screenshots go to test-artifacts/example/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workspace_support import ADMIN_EMAIL, ADMIN_PASSWORD, Stack, WorkspaceServers

from browser_support import shot as _shot
from orginvite.devtenant.config import (
    DEMO_ACME_ORG_ID,
    DEMO_CONSULTANT_EMAIL,
    DEMO_CONSULTANT_PASSWORD,
    DEMO_GLOBEX_ORG_ID,
)

pytestmark = pytest.mark.browser  # the `chromium` fixture and the no-browser policy: tests/conftest.py


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServers]:
    with WorkspaceServers(Path(tmp_path_factory.mktemp("switcher"))) as servers:
        yield servers


@pytest.fixture
def stack(servers: WorkspaceServers) -> Iterator[Stack]:
    s = Stack(servers=servers)  # a fresh tenant, outbox and app on the module's servers
    yield s
    s.close()


def shot(page: Any, name: str) -> None:
    _shot(page, name, "example")


class TenantVisits:
    """Every document the browser loaded from the tenant: the login page shown, the /authorize URLs asked for."""

    def __init__(self, page: Any, tenant_url: str) -> None:
        self.urls: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url)
                if request.is_navigation_request() and request.url.startswith(tenant_url) else None)
        self.tenant_url = tenant_url

    @property
    def login_pages(self) -> list[str]:
        return [url for url in self.urls if url.startswith(self.tenant_url + "/u/login")]

    @property
    def authorizations(self) -> list[str]:
        return [url for url in self.urls if url.startswith(self.tenant_url + "/authorize?")]


def signs_in(chromium: Any, stack: Stack, email: str, password: str, locale: str = "en-US") -> tuple[Any, Any]:
    """Sign in on the workspace's button (the workspace asks for Acme), typing the password on the tenant's page."""
    context = chromium.new_context(locale=locale, extra_http_headers={"accept-language": locale})
    page = context.new_page()
    page.goto(stack.url + "/")
    page.click("text=Sign in" if locale.startswith("en") else "a.button")
    page.wait_for_url(stack.tenant_url + "/u/login**")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(stack.url + "/")
    assert page.locator("main[data-page=dashboard]").count() == 1
    return context, page


def switcher(page: Any) -> dict[str, Any]:
    """The header's switcher as the member sees it: the current organization and the links to the others."""
    nav = page.locator("header [data-testid=org-switcher]")
    return {
        "current": nav.locator("[aria-current=true]").all_inner_texts(),
        "links": {link.inner_text(): link.get_attribute("href") for link in nav.locator("a").all()},
    }


def test_a_member_of_two_organizations_switches_without_typing_a_password_again(chromium: Any, stack: Stack) -> None:
    context, page = signs_in(chromium, stack, DEMO_CONSULTANT_EMAIL, DEMO_CONSULTANT_PASSWORD)
    visits = TenantVisits(page, stack.tenant_url)  # from here on: the password was typed once, above
    assert page.inner_text("main h2") == "Acme Inc."
    assert page.locator("[data-testid=invite-form]").count() == 0  # a member in Acme
    seen = switcher(page)
    assert seen["current"] == ["Acme Inc."]
    assert seen["links"] == {"Globex Corporation": f"/login?organization={DEMO_GLOBEX_ORG_ID}&returnTo=%2F&switch=1"}
    shot(page, "07-switcher-in-acme")

    page.click("[data-testid=org-switcher] a:has-text('Globex Corporation')")
    page.wait_for_url(stack.url + "/")
    assert page.inner_text("main h2") == "Globex Corporation"
    assert switcher(page) == {"current": ["Globex Corporation"], "links": {
        "Acme Inc.": f"/login?organization={DEMO_ACME_ORG_ID}&returnTo=%2F&switch=1"}}
    assert page.locator("[data-testid=invite-form]").count() == 1  # and an admin in Globex
    assert visits.login_pages == []  # no password page: the tenant answered at once
    (authorize,) = visits.authorizations
    assert "prompt=none" in authorize and f"organization={DEMO_GLOBEX_ORG_ID}" in authorize
    me = page.goto(stack.url + "/me").json()
    assert me["organization"]["id"] == DEMO_GLOBEX_ORG_ID and me["roles"] == ["admin"]
    page.go_back()
    shot(page, "08-switched-to-globex")

    page.click("[data-testid=org-switcher] a:has-text('Acme Inc.')")  # and back, silently again
    page.wait_for_url(stack.url + "/")
    assert page.inner_text("main h2") == "Acme Inc." and switcher(page)["current"] == ["Acme Inc."]
    assert visits.login_pages == [] and len(visits.authorizations) == 2
    context.close()


def test_a_member_of_one_organization_sees_no_switcher(chromium: Any, stack: Stack) -> None:
    context, page = signs_in(chromium, stack, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert page.locator("[data-testid=signed-in-as]").count() == 1  # the header is there, without a switcher
    assert page.locator("[data-testid=org-switcher]").count() == 0
    context.close()


def test_a_switch_to_an_organization_the_user_is_not_in_is_refused_and_keeps_the_session(
        chromium: Any, stack: Stack) -> None:
    context, page = signs_in(chromium, stack, ADMIN_EMAIL, ADMIN_PASSWORD, locale="fr-FR")
    visits = TenantVisits(page, stack.tenant_url)
    # no link leads there: the URL a switcher would build for Globex, typed by hand
    page.goto(stack.url + f"/login?organization={DEMO_GLOBEX_ORG_ID}&returnTo=/&switch=1")
    page.wait_for_url(stack.url + "/callback**")
    assert page.locator("main[data-page=callback_not_a_member]").count() == 1
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Vous n’êtes pas membre de cette organisation" in page.inner_text("main")
    assert visits.login_pages == []  # refused silently (prompt=none), not a second password prompt
    shot(page, "09-switch-refused-in-french")
    page.goto(stack.url + "/")
    assert page.inner_text("main h2") == "Acme Inc."  # the old session, untouched
    assert page.goto(stack.url + "/me").json()["organization"]["id"] == DEMO_ACME_ORG_ID
    context.close()
