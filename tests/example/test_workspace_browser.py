"""The team workspace in a real Chromium: an admin invites a teammate in French, the teammate joins from the email;
an invitation used after it expired gets the "ask for a new invitation" page. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from workspace_support import ADMIN_EMAIL, ADMIN_PASSWORD, Stack

from browser_support import shot as _shot

EIGHT_DAYS = 8 * 24 * 3600  # past the 7-day default lifetime of an invitation

pytestmark = pytest.mark.browser  # the `chromium` fixture and the no-browser policy: tests/conftest.py


@pytest.fixture
def stack() -> Iterator[Stack]:
    s = Stack()
    yield s
    s.close()


def shot(page: Any, name: str) -> None:
    _shot(page, name, "example")


def watch_csp(page: Any) -> list[str]:
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    return violations


def admin_signs_in(chromium: Any, stack: Stack) -> tuple[Any, Any]:
    context = chromium.new_context(locale="en-US")
    page = context.new_page()
    page.goto(stack.url + "/")
    page.click("text=Sign in")
    page.wait_for_url(stack.tenant_url + "/u/login**")
    page.fill("input[name=email]", ADMIN_EMAIL)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(stack.url + "/")
    assert page.locator("main[data-page=dashboard]").count() == 1
    return context, page


def admin_invites(page: Any, email: str, name: str, roles: list[str], language: str) -> None:
    page.fill("#email", email)
    page.fill("#name", name)
    for role in roles:
        page.check(f"[data-testid=invite-form] label:has-text('{role}') input")
    page.select_option("#language", language)
    page.click("[data-testid=invite-form] button[type=submit]")
    page.wait_for_url(stack_url(page) + "/?notice=invited")
    assert page.locator("[data-notice=invited]").count() == 1
    assert page.locator(f"[data-testid=pending] tr[data-email='{email}']").count() == 1


def stack_url(page: Any) -> str:
    return page.url.split("/?")[0].rstrip("/")


def link_from_outbox(page: Any, stack: Stack, to: str, button_text: str) -> str:
    """Open the outbox page, the message to ``to``, and read the button's link from the rendered HTML email."""
    page.goto(stack.outbox_url + "/")
    row = page.locator("tr", has_text=to)
    assert row.count() == 1
    row.locator("a").click()
    page.wait_for_url(stack.outbox_url + "/messages/**")
    button = page.frame_locator("iframe").locator("a", has_text=button_text)
    button.wait_for()
    return str(button.get_attribute("href"))


def test_admin_invites_a_teammate_in_french_who_joins_with_the_invited_roles(chromium: Any, stack: Stack) -> None:
    admin, page = admin_signs_in(chromium, stack)
    violations = watch_csp(page)
    shot(page, "01-admin-dashboard")
    admin_invites(page, "camille@example.test", "Camille Martin", ["member", "billing"], "fr")
    shot(page, "02-invitation-pending")

    mail = admin.new_page()
    link = link_from_outbox(mail, stack, "camille@example.test", "Accepter")
    assert link.startswith(stack.url + "/login?invitation=")
    assert "fr" in mail.locator("tr", has_text="Content-Language").inner_text()
    shot(mail, "03-outbox-email-in-french")

    teammate = chromium.new_context(locale="fr-FR", extra_http_headers={"accept-language": "fr-FR,fr;q=0.9"})
    invitee = teammate.new_page()
    invitee_violations = watch_csp(invitee)
    invitee.goto(link)
    invitee.wait_for_url(stack.tenant_url + "/u/signup**")
    assert invitee.locator("html").get_attribute("lang") == "fr"
    assert "Créez votre compte" in invitee.inner_text("h1")
    assert invitee.input_value("input[name=email]") == "camille@example.test"
    # one full stop after "Acme Inc.", and the name the admin typed, offered and editable
    assert invitee.inner_text("p.lead") == "Vous avez reçu une invitation à rejoindre Acme Inc."
    assert invitee.input_value("input[name=name]") == "Camille Martin"
    assert invitee.is_editable("input[name=name]")
    shot(invitee, "04-signup-in-french")
    invitee.fill("input[name=password]", "camille-pass-123")
    invitee.click("button[type=submit]")
    invitee.wait_for_url(stack.url + "/")
    assert invitee.locator("main[data-page=dashboard]").count() == 1
    row = invitee.locator("[data-testid=members] tr[data-email='camille@example.test']")
    assert sorted(row.locator(".role").all_inner_texts()) == ["billing", "member"]
    assert invitee.locator("[data-testid=invite-form]").count() == 0  # a member, not an admin
    assert invitee.inner_text("[data-testid=signed-in-as]") == "Camille Martin"
    # who joined in French sees the workspace in French too (the browser's language, as on the sign-up page)
    assert invitee.locator("html").get_attribute("lang") == "fr"
    assert invitee.locator("h3").all_inner_texts() == ["Membres"]
    assert invitee.inner_text("header p").startswith("Session ouverte : Camille Martin")
    assert "Se déconnecter" in invitee.inner_text("header p")
    shot(invitee, "05-teammate-dashboard")
    me = invitee.goto(stack.url + "/me").json()
    assert me["user"]["email"] == "camille@example.test" and sorted(me["roles"]) == ["billing", "member"]
    assert me["user"]["name"] == "Camille Martin"  # the name typed on the invite form, not the email
    assert me["organization"]["name"] == "acme"
    invitee.go_back()
    invitee.click("[data-testid=sign-out]")  # a POST with the session's token: signs out, through the tenant
    invitee.wait_for_url(lambda url: not url.startswith(stack.url + "/logout"))
    assert invitee.goto(stack.url + "/me").status == 401

    assert page.locator("h3", has_text="Members").count() == 1  # the admin's browser asks for English
    page.reload()  # the admin sees the new member and no pending invitation
    assert page.locator("[data-testid=members] tr[data-email='camille@example.test']").count() == 1
    assert page.locator("[data-testid=pending] tr[data-email]").count() == 0
    assert violations == [] and invitee_violations == []
    teammate.close()
    admin.close()


def test_an_invitation_used_after_it_expired_says_to_ask_for_a_new_one(chromium: Any, stack: Stack) -> None:
    admin, page = admin_signs_in(chromium, stack)
    admin_invites(page, "late@example.test", "Lou Late", ["member"], "en")
    link = link_from_outbox(admin.new_page(), stack, "late@example.test", "Accept")
    admin.close()
    stack.clock.offset = EIGHT_DAYS  # the tenant's clock: a week and a day later
    late = chromium.new_context(locale="en-US")
    invitee = late.new_page()
    invitee.goto(link)
    invitee.wait_for_url(stack.url + "/callback**")
    assert invitee.locator("main[data-page=callback_invitation_invalid]").count() == 1
    assert "Ask the person who invited you to send a new invitation" in invitee.inner_text("main")
    shot(invitee, "06-expired-invitation")
    assert invitee.goto(stack.url + "/me").status == 401
    late.close()
