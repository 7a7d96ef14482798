"""The team workspace over real HTTP: sign-in, dashboard, invitations end to end, and every refusal."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from example_app.core import csrf_token
from workspace_support import ACME, ADMIN_EMAIL, Stack, WorkspaceServers, forms_of

from orginvite.devtenant.config import DEMO_CONSULTANT_EMAIL, DEMO_CONSULTANT_PASSWORD, DEMO_GLOBEX_ORG_ID

MEMBER_PASSWORD = "member-password-123"
GLOBEX = DEMO_GLOBEX_ORG_ID
_SWITCHER = re.compile(r'<nav class="organizations".*?</nav>', re.S)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServers]:
    with WorkspaceServers(tmp_path_factory.mktemp("workspace")) as servers:
        yield servers


@pytest.fixture(params=["starlette", "fastapi"])
def stack(request: pytest.FixtureRequest, servers: WorkspaceServers) -> Iterator[Stack]:
    # a fresh tenant, outbox and app per test, served on the module's servers
    s = Stack(fastapi=request.param == "fastapi", servers=servers)
    yield s
    s.close()


@pytest.fixture(params=["starlette", "fastapi"])
def own_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    # servers of its own, for a test that stops one (a shared server would stay down for the tests after it)
    s = Stack(fastapi=request.param == "fastapi")
    yield s
    s.close()


def invite_form(page: httpx2.Response) -> dict[str, Any]:
    return next(form for form in forms_of(page.text) if form["action"] == "/invitations")


def role_ids(stack: Stack) -> dict[str, str]:
    return {r["name"]: r["id"] for r in stack.tenant.store.list_roles(0, 100)[0]}


def pending(stack: Stack) -> list[str]:
    return [inv["invitee"]["email"] for inv in stack.tenant.store.list_invitations(ACME)[0]]


def post_invite(stack: Stack, client: httpx2.Client, token: str, **fields: Any) -> httpx2.Response:
    data = {"csrf_token": token, "email": "camille@example.test", "name": "Camille", "language": "fr",
            "roles": [role_ids(stack)["member"]], **fields}
    return client.post(stack.url + "/invitations", data=data, follow_redirects=False)


def test_me_is_401_json_when_signed_out_and_the_session_when_signed_in(stack: Stack) -> None:
    with stack.client() as client:
        response = client.get(stack.url + "/me")
        assert response.status_code == 401 and response.json()["error"] == "unauthenticated"
        home = client.get(stack.url + "/")
        assert 'href="/login?organization=acme"' in home.text and 'data-page="signed_out"' in home.text
        stack.sign_in(client)
        me = client.get(stack.url + "/me").json()
    assert me["user"]["email"] == ADMIN_EMAIL and me["user"]["name"] == "Ada Admin" and me["user"]["sub"]
    assert me["organization"] == {"id": ACME, "name": "acme"}
    assert me["roles"] == ["admin"]


def test_the_header_signs_out_with_a_post_form_and_a_bare_get_does_not(stack: Stack) -> None:
    with stack.client() as client:
        stack.sign_in(client)
        home = client.get(stack.url + "/")
        form = next(form for form in forms_of(home.text) if form["action"] == "/logout")
        assert form["fields"]["csrf_token"] and "<a href=\"/logout\"" not in home.text
        client.get(stack.url + "/logout", follow_redirects=False)  # a link or a prefetch: no side effect
        assert client.get(stack.url + "/me").status_code == 200
        out = client.post(stack.url + "/logout", data=form["fields"], follow_redirects=False)
        assert out.status_code == 303
        assert client.get(stack.url + "/me").status_code == 401


def test_admin_invites_in_french_and_the_teammate_joins_with_the_roles(stack: Stack) -> None:
    ids = role_ids(stack)
    with stack.client() as admin:
        dashboard = stack.sign_in(admin)
        assert dashboard.status_code == 200 and 'data-page="dashboard"' in dashboard.text
        assert 'data-email="admin@acme.test"' in dashboard.text and "Acme Inc." in dashboard.text
        token = invite_form(dashboard)["fields"]["csrf_token"]
        sent = post_invite(stack, admin, token, roles=[ids["member"], ids["billing"]])
        assert sent.status_code == 303 and sent.headers["location"] == "/?notice=invited"
        page = admin.get(stack.url + sent.headers["location"])
        assert 'data-notice="invited"' in page.text and 'data-email="camille@example.test"' in page.text
        invitation = stack.tenant.store.list_invitations(ACME)[0][0]
        assert invitation["ticket_id"] not in page.text  # the ticket is a secret: never on a page
        assert invitation["user_metadata"]["lang"] == "fr" and sorted(invitation["roles"]) == sorted(
            [ids["member"], ids["billing"]])
    [email] = stack.outbox.messages()
    assert email.to == ["camille@example.test"] and email.locale == "fr"
    assert "Acme Inc." in email.subject and "Accepter" in (email.part("html") or "")
    with stack.client() as teammate:
        landed = stack.accept(teammate, stack.invitation_link("camille@example.test"), "Camille Martin")
        assert str(landed.url) == stack.url + "/" and 'data-page="dashboard"' in landed.text
        assert 'data-testid="invite-form"' not in landed.text  # a member, not an admin
        me = teammate.get(stack.url + "/me").json()
    assert me["user"]["email"] == "camille@example.test" and sorted(me["roles"]) == ["billing", "member"]
    assert pending(stack) == []


def test_admin_revokes_and_a_second_revoke_says_it_is_gone(stack: Stack) -> None:
    with stack.client() as admin:
        token = invite_form(stack.sign_in(admin))["fields"]["csrf_token"]
        assert post_invite(stack, admin, token).status_code == 303
        page = admin.get(stack.url + "/")
        revoke = next(f for f in forms_of(page.text) if f["action"].endswith("/revoke"))
        done = admin.post(stack.url + revoke["action"], data=revoke["fields"], follow_redirects=False)
        assert done.status_code == 303 and pending(stack) == []
        again = admin.post(stack.url + revoke["action"], data=revoke["fields"])
        assert again.status_code == 404 and "no longer exists" in again.text


def test_forms_without_this_sessions_csrf_token_are_refused(stack: Stack) -> None:
    with stack.client() as admin, stack.client() as other:
        token = invite_form(stack.sign_in(admin))["fields"]["csrf_token"]
        stack.add_member("second-admin@acme.test", MEMBER_PASSWORD, ["admin"])
        other_token = invite_form(stack.sign_in(other, "second-admin@acme.test", MEMBER_PASSWORD))["fields"][
            "csrf_token"]
        assert other_token != token
        for response in (
            post_invite(stack, admin, ""),
            post_invite(stack, admin, "forged"),
            post_invite(stack, admin, other_token),
            admin.post(stack.url + "/invitations", data={"csrf_token": token, "email": "x@example.test"},
                       headers={"origin": "https://evil.example"}),
            admin.post(stack.url + "/invitations", data={"csrf_token": token, "email": "x@example.test"},
                       headers={"sec-fetch-site": "cross-site"}),
        ):
            assert response.status_code == 403 and 'data-error="csrf"' in response.text
    assert pending(stack) == [] and len(stack.outbox) == 0


def test_a_member_who_is_not_admin_cannot_invite_or_revoke(stack: Stack) -> None:
    stack.add_member("max@acme.test", MEMBER_PASSWORD, ["member"])
    with stack.client() as admin:
        token = invite_form(stack.sign_in(admin))["fields"]["csrf_token"]
        assert post_invite(stack, admin, token).status_code == 303
    invitation_id = stack.tenant.store.list_invitations(ACME)[0][0]["id"]
    with stack.client() as member:
        page = stack.sign_in(member, "max@acme.test", MEMBER_PASSWORD)
        assert 'data-page="dashboard"' in page.text and 'data-email="max@acme.test"' in page.text
        assert 'data-testid="invite-form"' not in page.text and 'data-testid="pending"' not in page.text
        assert [f["action"] for f in forms_of(page.text)] == ["/logout"]  # members get no forms but sign-out
        valid = csrf_token(stack.config.login, stack.session_user(member))  # what a forged-by-hand form would send
        refused = post_invite(stack, member, valid, email="friend@example.test")
        assert refused.status_code == 403 and 'data-error="not_admin"' in refused.text
        revoke = member.post(stack.url + f"/invitations/{invitation_id}/revoke", data={"csrf_token": valid})
        assert revoke.status_code == 403 and 'data-error="not_admin"' in revoke.text
    assert pending(stack) == ["camille@example.test"] and len(stack.outbox) == 1


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": ""}, "email", "Enter the email address"),
        ({"email": "not-an-email"}, "email", "This is not an email address"),
        ({"email": "a@b.test\r\nBcc: x@y.test"}, "email", "This is not an email address"),
        ({"name": "x" * 101}, "name", "The name is too long"),
        ({"name": "Eve\r\nBcc: victim@example.test"}, "name", "one line"),
        ({"roles": ["rol_DoesNotExist0001"]}, "roles", "Pick roles from the list"),
        ({"roles": []}, "roles", "Pick at least one role"),
        ({"language": "klingon"}, "language", "Pick the language"),
        ({"email": ["a@example.test", "b@example.test"]}, "email", "more than once"),
    ],
)
def test_bad_invite_input_gets_a_clear_error_and_creates_nothing(
    stack: Stack, fields: dict[str, Any], field: str, message: str
) -> None:
    with stack.client() as admin:
        token = invite_form(stack.sign_in(admin))["fields"]["csrf_token"]
        response = post_invite(stack, admin, token, **fields)
    assert response.status_code == 400
    assert f'data-error="{field}"' in response.text and message in response.text
    assert 'data-testid="invite-form"' in response.text  # the form comes back, to fix and resend
    assert pending(stack) == [] and len(stack.outbox) == 0


def test_typed_text_comes_back_escaped_and_member_names_are_escaped(stack: Stack) -> None:
    stack.add_member("eve@acme.test", MEMBER_PASSWORD, ["member"], name='<img src=x onerror="alert(1)">')
    with stack.client() as admin:
        token = invite_form(stack.sign_in(admin))["fields"]["csrf_token"]
        response = post_invite(stack, admin, token, email='"><script>alert(2)</script>')
        page = admin.get(stack.url + "/")
    assert response.status_code == 400 and "<script>alert(2)" not in response.text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in response.text
    assert '<img src=x onerror="alert(1)">' not in page.text and "&lt;img src=x" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_bidi_overrides_are_refused_in_the_form_and_removed_from_the_inviters_name(stack: Stack) -> None:
    reversed_link = "Amira\u202e moc.evil//:sptth\u202c"
    stack.add_member("amira@acme.test", MEMBER_PASSWORD, ["admin"], name=reversed_link)
    with stack.client() as admin:
        token = invite_form(stack.sign_in(admin, "amira@acme.test", MEMBER_PASSWORD))["fields"]["csrf_token"]
        for name in ("Camille\u202e", "Cam\u2066ille\u2069", "Cam\u200bille", "Camille\u200f"):
            refused = post_invite(stack, admin, token, name=name)
            assert refused.status_code == 400 and "without invisible or direction characters" in refused.text
        assert pending(stack) == []
        assert post_invite(stack, admin, token, name="Camille").status_code == 303
    [invitation] = stack.tenant.store.list_invitations(ACME)[0]
    assert invitation["inviter"]["name"] == "Amira moc.evil//:sptth"  # stored without the override
    [email] = stack.outbox.messages()
    assert "\u202e" not in email.subject and "Amira moc.evil//:sptth" in email.subject
    assert "<bdi>Amira moc.evil//:sptth</bdi>" in (email.part("html") or "")


def test_unreadable_bodies_and_signed_out_posts(stack: Stack) -> None:
    with stack.client() as client:
        signed_out = client.post(stack.url + "/invitations", data={"email": "a@example.test"})
        assert signed_out.status_code == 401 and 'data-error="signed_out"' in signed_out.text
        stack.sign_in(client)
        as_json = client.post(stack.url + "/invitations", json={"email": "a@example.test"})
        assert as_json.status_code == 400 and 'data-error="bad_form"' in as_json.text
        huge = client.post(stack.url + "/invitations", data={"csrf_token": "x" * 10000})
        assert huge.status_code == 400
        bad_id = client.post(stack.url + "/invitations/%3Cscript%3E/revoke", data={"csrf_token": "t"})
        assert bad_id.status_code == 403  # CSRF first: a forged form learns nothing
    assert pending(stack) == []


def test_smtp_down_says_the_invitation_exists_but_its_email_failed(stack: Stack) -> None:
    with stack.client() as admin:
        token = invite_form(stack.sign_in(admin))["fields"]["csrf_token"]
        stack.stop_smtp()
        response = post_invite(stack, admin, token)
    assert response.status_code == 502
    assert "was created, but its email could not be sent" in response.text and "camille@example.test" in response.text
    assert pending(stack) == ["camille@example.test"]  # listed under pending, where it can be revoked


def test_management_api_down_gives_a_page_not_a_500(own_stack: Stack) -> None:
    stack = own_stack
    with stack.client() as admin:
        token = invite_form(stack.sign_in(admin))["fields"]["csrf_token"]
        stack.tenant_server.stop()
        dashboard = admin.get(stack.url + "/")
        invite = post_invite(stack, admin, token)
        me = admin.get(stack.url + "/me")
    assert dashboard.status_code == 502 and 'data-error="management_api"' in dashboard.text
    assert invite.status_code == 502 and 'data-error="management_api"' in invite.text
    assert me.status_code == 200  # the session itself is a cookie: no provider call


def switcher(page: httpx2.Response) -> str | None:
    """The header's organization switcher, or None when the page has none."""
    found = _SWITCHER.search(page.text)
    return found.group(0) if found else None


def test_a_member_of_two_organizations_has_the_switcher_in_the_header_escaped(stack: Stack) -> None:
    stack.tenant.store.update_organization(GLOBEX, {"display_name": 'Globex <script>alert(1)</script> & "Co"'})
    with stack.client() as client:
        page = stack.sign_in(client, DEMO_CONSULTANT_EMAIL, DEMO_CONSULTANT_PASSWORD)
    nav = switcher(page)
    assert nav is not None, page.text[:800]
    assert f'<strong aria-current="true" data-org="{ACME}" data-current="true"><bdi>Acme Inc.</bdi></strong>' in nav
    assert (f'<a href="/login?organization={GLOBEX}&amp;returnTo=%2F&amp;switch=1" data-org="{GLOBEX}">'
            "<bdi>Globex &lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Co&#34;</bdi></a>") in nav
    assert "<script>" not in page.text
    with stack.client() as client:
        alone = stack.sign_in(client)  # the admin of Acme is a member of Acme only: nothing to switch to
    assert 'data-testid="signed-in-as"' in alone.text and switcher(alone) is None


def test_the_header_renders_without_the_switcher_while_the_management_api_is_down(
        own_stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    stack = own_stack
    with stack.client() as client, caplog.at_level(logging.WARNING):
        # lands on /me: no page has asked for the consultant's organizations yet (nothing cached)
        stack.sign_in(client, DEMO_CONSULTANT_EMAIL, DEMO_CONSULTANT_PASSWORD, return_to="/me")
        stack.tenant_server.stop()
        page = client.get(stack.url + "/")
    assert page.status_code == 502 and 'data-error="management_api"' in page.text
    assert 'data-testid="signed-in-as"' in page.text and switcher(page) is None
    # current_organizations' own fallback (only the session's organization), not the workspace's last resort
    assert "only the session's is listed" in caplog.text and "switcher unavailable" not in caplog.text


def test_an_unexpected_switcher_failure_hides_it_and_never_fails_the_page(
        stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import example_app.core

    async def broken(request: Any) -> list[Any]:
        raise RuntimeError("a bug in the switcher")

    monkeypatch.setattr(example_app.core, "current_organizations", broken)
    with stack.client() as client, caplog.at_level(logging.ERROR, "example_app"):
        page = stack.sign_in(client, DEMO_CONSULTANT_EMAIL, DEMO_CONSULTANT_PASSWORD)
    assert page.status_code == 200 and 'data-page="dashboard"' in page.text and switcher(page) is None
    assert "organization switcher unavailable" in caplog.text


def test_configuration_from_the_environment() -> None:
    from example_app.core import DEV_TENANT, WorkspaceConfig

    from orginvite.errors import ConfigurationError

    dev = WorkspaceConfig.from_env({})
    assert dev.login.issuer == DEV_TENANT["issuer"] and dev.organization == "acme"
    assert dev.management_client_id == DEV_TENANT["management_client_id"]
    auth0 = {"AUTH0_DOMAIN": "acme.eu.auth0.com", "AUTH0_CLIENT_ID": "web", "AUTH0_CLIENT_SECRET": "s",
             "ORGINVITE_BASE_URL": "https://app.acme.example", "ORGINVITE_SECRET_KEYS": "k" * 32}
    with pytest.raises(ConfigurationError, match="AUTH0_M2M_CLIENT_ID"):
        WorkspaceConfig.from_env(auth0)
    auth0 |= {"AUTH0_M2M_CLIENT_ID": "m2m", "AUTH0_M2M_CLIENT_SECRET": "m2m-s"}
    with pytest.raises(ConfigurationError, match="ORGINVITE_SMTP_URL"):
        WorkspaceConfig.from_env(auth0)
    real = WorkspaceConfig.from_env(auth0 | {"ORGINVITE_SMTP_URL": "smtp://mail.acme.example:587",
                                              "ORGINVITE_EMAIL_FROM": "Acme <no-reply@acme.example>"})
    assert real.login.issuer == "https://acme.eu.auth0.com/" and real.management_domain == real.login.issuer
    # the login flow gets the machine credentials too (the organization switcher asks the Management API)
    assert (real.login.management_client_id, real.login.management_client_secret) == ("m2m", "m2m-s")
    assert dev.login.management_client_id == DEV_TENANT["management_client_id"]
    assert real.organization is None and real.sign_in_path == "/login"
    with pytest.raises(ConfigurationError, match="ORGINVITE_BASE_URL"):
        WorkspaceConfig.from_env({**auth0, "ORGINVITE_BASE_URL": "http://app.acme.example"})


def test_a_member_removed_since_signing_in_sees_no_members_and_cannot_act(stack: Stack) -> None:
    stack.add_member("gone@acme.test", MEMBER_PASSWORD, ["admin"])
    with stack.client() as client:
        token = invite_form(stack.sign_in(client, "gone@acme.test", MEMBER_PASSWORD))["fields"]["csrf_token"]
        stack.tenant.store.remove_members(ACME, [stack.session_user(client).sub])
        page = client.get(stack.url + "/")
        refused = post_invite(stack, client, token)
    assert page.status_code == 403 and 'data-error="not_a_member"' in page.text
    assert "admin@acme.test" not in page.text
    assert refused.status_code == 403 and 'data-error="not_admin"' in refused.text
    assert pending(stack) == []
