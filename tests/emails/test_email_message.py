"""The MIME message: part order, Content-Language, encoded headers, neutralized header injection."""

from __future__ import annotations

import datetime as dt
import email
from email import policy
from email.headerregistry import Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orginvite.emails import EmailRenderer, sample_invitation
from orginvite.emails.message import MessageError, build_message, mailbox
from orginvite.errors import OrgInviteError

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def renderer() -> EmailRenderer:
    return EmailRenderer(clock=lambda: NOW)


def reparse(message) -> email.message.EmailMessage:
    return email.message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)


def test_multipart_alternative_with_text_first_and_html_last(renderer):
    rendered = renderer.render(sample_invitation(), locale="ja")
    parsed = reparse(build_message(rendered, sender="no-reply@acme.test", to="zoe@example.com"))
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    # SMTP line endings are CRLF on the wire
    assert parts[0].get_content().replace("\r\n", "\n") == rendered.text
    assert parts[1].get_content().replace("\r\n", "\n").rstrip("\n") == rendered.html.rstrip("\n")
    assert parsed["Content-Language"] == "ja"
    assert [part["Content-Language"] for part in parts] == ["ja", "ja"]
    assert parsed["Subject"] == rendered.subject
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Message-ID"].endswith("@acme.test>")


def test_raw_message_is_7bit_and_headers_are_encoded(renderer):
    rendered = renderer.render(sample_invitation(), locale="ar")
    raw = build_message(rendered, sender=("دعوات Acme", "no-reply@acme.test"), to="zoe@example.com").as_bytes()
    assert all(byte < 128 for byte in raw)
    assert b"=?utf-8?" in raw  # RFC 2047 encoded words for the Arabic subject and display name
    assert b"Content-Language: ar" in raw
    assert b"Content-Transfer-Encoding: quoted-printable" in raw
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["From"].addresses[0].display_name == "دعوات Acme"
    assert parsed["Subject"] == rendered.subject


@pytest.mark.parametrize(
    ("display_name", "expected"),
    [
        ("Acme, Inc.", "Acme, Inc."),
        ('The "Best" Team', 'The "Best" Team'),
        ("Zoé Müller-Łukasz", "Zoé Müller-Łukasz"),
        ("ليلى حداد", "ليلى حداد"),
        ("Eve\r\nBcc: victim@example.com", "Eve Bcc: victim@example.com"),
        ("Eve\nTo: x@y.z\n\nbody", "Eve To: x@y.z body"),
        ("tab\there\x00nul", "tab herenul"),
    ],
)
def test_display_names_survive_a_round_trip_and_cannot_inject_headers(renderer, display_name, expected):
    rendered = renderer.render(sample_invitation(), locale="en")
    message = build_message(rendered, sender=(display_name, "no-reply@acme.test"), to=(display_name, "zoe@example.com"))
    raw = message.as_bytes()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["From"].addresses[0].display_name == expected
    assert parsed["To"].addresses[0].display_name == expected
    assert parsed.get_all("Bcc") is None
    assert len(parsed["To"].addresses) == 1
    header_block = raw.split(b"\n\n", 1)[0]
    assert not any(line.startswith((b"Bcc:", b"To: x@y.z")) for line in header_block.splitlines())


def test_hostile_subject_text_cannot_inject_headers(renderer):
    rendered = renderer.render(sample_invitation(inviter_name="x\r\nBcc: victim@example.com\r\n"), locale="en")
    raw = build_message(rendered, sender="no-reply@acme.test", to="zoe@example.com").as_bytes()
    header_block = raw.split(b"\n\n", 1)[0]
    assert not any(line.startswith(b"Bcc:") for line in header_block.splitlines())


@pytest.mark.parametrize(
    "address",
    [
        "not-an-address",
        "a@b",
        "zoe@example.com\r\nBcc: victim@example.com",
        "zoe@exa mple.com",
        "zo e@example.com",
        "<zoe@example.com>",
        "zoe@@example.com",
        ".zoe@example.com",
        "zoé@example.com",
        "",
    ],
)
def test_invalid_addresses_are_rejected_with_the_field_named(renderer, address):
    rendered = renderer.render(sample_invitation(), locale="en")
    with pytest.raises(MessageError) as info:
        build_message(rendered, sender="no-reply@acme.test", to=address)
    assert info.value.field == "to"
    assert isinstance(info.value, OrgInviteError)


def test_international_domains_are_idna_encoded():
    assert mailbox(("Zoé", "zoe@exämple.com")).addr_spec == "zoe@xn--exmple-cua.com"
    assert mailbox(Address("A", "a", "example.com")).addr_spec == "a@example.com"


def test_extra_headers_are_checked(renderer):
    rendered = renderer.render(sample_invitation(), locale="en")
    message = build_message(
        rendered, sender="no-reply@acme.test", to="zoe@example.com", headers={"X-Invitation-ID": "uinv_1\r\nBcc: x@y.z"}
    )
    assert message["X-Invitation-ID"] == "uinv_1 Bcc: x@y.z"
    with pytest.raises(MessageError, match="set by build_message"):
        build_message(rendered, sender="no-reply@acme.test", to="zoe@example.com", headers={"Bcc": "x@y.z"})
    with pytest.raises(MessageError, match="invalid header name"):
        build_message(rendered, sender="no-reply@acme.test", to="zoe@example.com", headers={"X Bad:": "1"})


def test_several_recipients_and_reply_to(renderer):
    rendered = renderer.render(sample_invitation(), locale="en")
    message = build_message(
        rendered,
        sender="no-reply@acme.test",
        to=["a@example.com", ("B, Jr.", "b@example.com")],
        reply_to=("Support", "support@acme.test"),
    )
    parsed = reparse(message)
    assert [a.addr_spec for a in parsed["To"].addresses] == ["a@example.com", "b@example.com"]
    assert parsed["Reply-To"].addresses[0].addr_spec == "support@acme.test"
    with pytest.raises(MessageError):
        build_message(rendered, sender="no-reply@acme.test", to=[])


# --- property-based --------------------------------------------------------------------------------------------


hostile_text = st.lists(
    st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(["\r", "\n", "\r\n", ",", '"', "<", ">", "@", ":", ";", "\\", "=?utf-8?q?x?=", "Bcc: "]),
    ),
    max_size=30,
).map("".join)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=hostile_text)
def test_any_display_name_round_trips_as_one_mailbox_without_extra_headers(renderer, name):
    rendered = renderer.render(sample_invitation(), locale="en")
    message = build_message(rendered, sender=(name, "no-reply@acme.test"), to=(name, "zoe@example.com"))
    raw = message.as_bytes()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert [a.addr_spec for a in parsed["To"].addresses] == ["zoe@example.com"]
    assert [a.addr_spec for a in parsed["From"].addresses] == ["no-reply@acme.test"]
    assert parsed.get_all("Bcc") is None and parsed.get_all("Cc") is None
    header_names = [line.split(b":", 1)[0] for line in raw.split(b"\n\n", 1)[0].splitlines() if line[:1] not in b" \t"]
    assert sorted(set(header_names)) == sorted(
        {b"Subject", b"From", b"To", b"Date", b"Message-ID", b"Auto-Submitted", b"MIME-Version", b"Content-Type",
         b"Content-Language"}
    )


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inviter=hostile_text, organization=hostile_text)
def test_any_names_render_safely(renderer, inviter, organization):
    org = dict(sample_invitation().organization, display_name=organization)
    rendered = renderer.render(sample_invitation(inviter_name=inviter, organization=org), locale="ar")
    assert not any(ch in rendered.subject for ch in "\r\n\x0b\x0c\x85\u2028\u2029")
    # whatever the names hold, the only tags in the body are the template's own
    assert "<script" not in rendered.html.lower().replace("&lt;script", "")
    for value in (inviter, organization):
        if "<" in value:
            assert f"<bdi>{value}</bdi>" not in rendered.html


def test_parse_mailbox_reads_settings_as_operators_write_them():
    from orginvite.emails.message import MessageError, parse_mailbox

    assert str(parse_mailbox("Acme Inc. <no-reply@acme.example>")) == '"Acme Inc." <no-reply@acme.example>'
    assert parse_mailbox("no-reply@acme.example").display_name == ""
    for bad in ("", "Acme <>", "not an address", "a@b@c.example"):
        with pytest.raises(MessageError) as info:
            parse_mailbox(bad, field="ORGINVITE_EMAIL_FROM")
        assert info.value.field == "ORGINVITE_EMAIL_FROM" and str(info.value).count("ORGINVITE_EMAIL_FROM") == 1


def test_the_dev_tenant_takes_a_from_setting_with_a_display_name(tmp_path):
    from orginvite.devtenant.app import DevTenant
    from orginvite.devtenant.config import TenantConfigError

    tenant = DevTenant(db=":memory:", email_from="Acme Inc. <no-reply@acme.example>")
    try:
        assert (tenant.mail.sender.display_name, tenant.mail.sender.addr_spec) == ("Acme Inc.", "no-reply@acme.example")
    finally:
        tenant.close()
    with pytest.raises(TenantConfigError, match=r"^email_from: not a mailbox$"):
        DevTenant(db=":memory:", email_from="Acme <>")
