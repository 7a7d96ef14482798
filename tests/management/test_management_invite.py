"""invite(): the invitation first (no Auth0 email, language in user_metadata), then orginvite's email."""

from __future__ import annotations

import pytest
from mgmt_fake import APP_CLIENT_ID, FakeAuth0, FakeClock, RecordingSender, make_client

from orginvite.management import NotFoundError
from orginvite.management.errors import InvitationEmailError
from orginvite.management.invite import invite, resend_invitation

pytestmark = pytest.mark.anyio
Fake = tuple[FakeAuth0, str]


async def test_invite_creates_without_auth0_email_and_sends_a_localized_one(
    fake_auth0: Fake, fake_clock: FakeClock
) -> None:
    fake, url = fake_auth0
    org = fake.add_org("acme", "Acme Inc.")
    admin = fake.add_role("admin", "Runs the place")
    sender = RecordingSender()
    async with make_client(url, fake_clock) as client:
        result = await invite(
            client, "acme", "zoe@example.com", client_id=APP_CLIENT_ID, inviter_name="Amira",
            sender=sender, name="Zoé", roles=[admin["id"]], language="fr-fr",
        )
    stored = fake.invitations[result.invitation_id]
    assert stored["send_invitation_email"] is False
    assert stored["user_metadata"] == {"lang": "fr-FR", "name": "Zoé"}
    assert stored["roles"] == [admin["id"]]
    assert (result.organization_id, result.email, result.locale) == (org["id"], "zoe@example.com", "fr")
    [mail] = sender.sent
    assert result.message_id == mail["message_id"]
    assert mail["url"] == stored["invitation_url"]
    assert mail["roles"] == ["admin"]
    assert mail["to_name"] == "Zoé"
    assert "Acme Inc." in mail["subject"] and "rejoindre" in mail["subject"]
    assert stored["ticket_id"] not in repr(result)


async def test_without_a_language_the_organization_default_applies(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    org = fake.add_org("globex", "Globex", metadata={"lang": "de"})
    sender = RecordingSender()
    async with make_client(url, fake_clock) as client:
        result = await invite(client, org["id"], "max@example.com", client_id=APP_CLIENT_ID, inviter_name="Kai",
                              sender=sender)
    assert "lang" not in fake.invitations[result.invitation_id]["user_metadata"]
    assert result.locale == "de"


async def test_bad_language_or_unknown_role_creates_nothing(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    fake.add_org("acme")
    async with make_client(url, fake_clock) as client:
        with pytest.raises(ValueError, match="not a language tag"):
            await invite(client, "acme", "a@example.com", client_id=APP_CLIENT_ID, inviter_name="A",
                         sender=RecordingSender(), language="??")
        with pytest.raises(ValueError, match="unknown role ID"):
            await invite(client, "acme", "a@example.com", client_id=APP_CLIENT_ID, inviter_name="A",
                         sender=RecordingSender(), roles=["rol_doesnotexist00"])
    assert fake.invitations == {}


async def test_a_failed_email_keeps_the_invitation_for_a_resend(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    org = fake.add_org("acme")
    async with make_client(url, fake_clock) as client:
        with pytest.raises(InvitationEmailError) as info:
            await invite(client, "acme", "bo@example.com", client_id=APP_CLIENT_ID, inviter_name="A",
                         sender=RecordingSender(fail_for={"bo@example.com"}), name="Bo", language="ja")
        error = info.value
        assert error.invitation_id in fake.invitations  # not lost
        assert error.organization_id == org["id"]
        assert "exists" in str(error) and "re-sent" in str(error)
        assert fake.invitations[error.invitation_id]["ticket_id"] not in str(error)
        sender = RecordingSender()
        again = await resend_invitation(client, "acme", error.invitation_id, sender=sender)
        # renewed: a fresh invitation replaces the one whose email failed, which is gone
        assert again.replaces == error.invitation_id and again.invitation_id != error.invitation_id
        assert again.locale == "ja"
        assert sender.sent[0]["to_name"] == "Bo"
        assert list(fake.invitations) == [again.invitation_id]
        await client.delete_invitation(org["id"], again.invitation_id)
        with pytest.raises(NotFoundError):
            await resend_invitation(client, "acme", again.invitation_id, sender=sender)


async def test_an_api_refusal_means_no_email(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    fake.add_org("acme")
    sender = RecordingSender()
    async with make_client(url, fake_clock) as client:
        from orginvite.management import BadRequestError

        with pytest.raises(BadRequestError, match="client_id does not exist"):
            await invite(client, "acme", "a@example.com", client_id="nope", inviter_name="A", sender=sender)
    assert sender.sent == []
