"""The workspace's Resend button renews an invitation: a new link that works, the old one dead, a later expiry;
and a resend of an invitation that is gone says so. Real servers on loopback (tenant, SMTP catcher, workspace)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from workspace_support import ACME, Stack, forms_of


@pytest.fixture(params=["starlette", "fastapi"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    s = Stack(fastapi=request.param == "fastapi")
    yield s
    s.close()


def form(page: httpx2.Response, suffix: str) -> dict:
    return next(f for f in forms_of(page.text) if f["action"].endswith(suffix))


def test_resend_sends_a_new_link_that_works_and_kills_the_old_one(stack: Stack) -> None:
    with stack.client() as admin:
        dashboard = stack.sign_in(admin)
        token = form(dashboard, "/invitations")["fields"]["csrf_token"]
        member = next(r["id"] for r in stack.tenant.store.list_roles(0, 100)[0] if r["name"] == "member")
        sent = admin.post(stack.url + "/invitations", follow_redirects=False, data={
            "csrf_token": token, "email": "zoe@example.test", "name": "Zoé", "language": "fr", "roles": [member]})
        assert sent.status_code == 303
        [old] = stack.tenant.store.list_invitations(ACME)[0]
        old_link = stack.invitation_link("zoe@example.test")
        stack.clock.offset += 3 * 86400  # three days later the invitee has lost the email
        resend = form(admin.get(stack.url + "/"), "/resend")
        assert resend["action"] == f"/invitations/{old['id']}/resend"
        done = admin.post(stack.url + resend["action"], data=resend["fields"], follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/?notice=resent"
        assert 'data-notice="resent"' in admin.get(stack.url + done.headers["location"]).text
        [new] = stack.tenant.store.list_invitations(ACME)[0]
        assert new["id"] != old["id"] and new["expires_at"] > old["expires_at"]
        assert new["roles"] == old["roles"] and new["user_metadata"] == old["user_metadata"]
        again = admin.post(stack.url + resend["action"], data=resend["fields"])  # the old ID is gone now
        assert again.status_code == 404 and "no longer exists" in again.text
    emails = [m for m in stack.outbox.messages() if "zoe@example.test" in m.to]
    assert len(emails) == 2
    links = {line for m in emails for line in (m.part("plain") or "").split() if "/login?invitation=" in line}
    assert old_link in links and len(links) == 2
    [new_link] = links - {old_link}
    assert f"invitation={new['ticket_id']}&" in new_link
    with stack.client() as stranger:  # the old link: the dead-invitation page
        page = stranger.get(old_link)
        assert 'data-page="callback_invitation_invalid"' in page.text
    stack.clock.offset = 0  # back to the app's clock, so the tenant's ID tokens are not from the future
    with stack.client() as teammate:
        landed = stack.accept(teammate, new_link, "Zoé Martin")
        assert str(landed.url) == stack.url + "/" and 'data-page="dashboard"' in landed.text
    assert stack.tenant.store.list_invitations(ACME)[0] == []
