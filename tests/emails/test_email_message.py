"""The MIME message: part order, Content-Language, encoded headers, neutralized header injection."""

from __future__ import annotations

import datetime as dt
import email
from email import policy
from email.headerregistry import Address

import pytest
from aiosmtplib.email import flatten_message
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


def sent(message) -> tuple[bytes, email.message.EmailMessage]:
    """The bytes exactly as SMTPSender puts them on the wire (aiosmtplib's flattening), and what a client parses."""
    raw = flatten_message(message)
    return raw, email.message_from_bytes(raw, policy=policy.default)


def header_lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


FILLER = "x" * 80  # long enough that the header has to be folded
LONG_HOSTILE_NAMES = [
    f"Zoe Martin, ceo@attacker.example, cfo@attacker.example, {FILLER}",
    f"Bcc: ceo@attacker.example, cfo@attacker.example; {FILLER}",
    f'Zoe "the boss" Martin \\ {FILLER} <ceo@attacker.example>',
    f"Martin; Zoe: {FILLER}; ceo@attacker.example",
    f"<ceo@attacker.example> {' '.join(['word'] * 30)}, cfo@attacker.example",
    f"Zoé Martin, ceo@attacker.example, «chef» {FILLER}",
    "ليلى حداد، ceo@attacker.example, " + "شركة الاتصالات السعودية " * 6,
    "山田太郎, ceo@attacker.example; " + "株式会社" * 40,
    "👩‍💻" * 120 + ", ceo@attacker.example",
    "x" * 150 + ", ceo@attacker.example",
]


@pytest.mark.parametrize("name", LONG_HOSTILE_NAMES)
def test_a_folded_display_name_stays_one_mailbox_in_every_address_header(renderer, name):
    rendered = renderer.render(sample_invitation(), locale="en")
    message = build_message(
        rendered, sender=(name, "no-reply@acme.test"), to=(name, "zoe@example.com"), reply_to=(name, "help@acme.test")
    )
    raw, parsed = sent(message)
    expected = message["To"].addresses[0].display_name
    assert expected and ("ceo@attacker.example" in expected or len(expected) >= 150)
    for header, addr_spec in (("From", "no-reply@acme.test"), ("To", "zoe@example.com"),
                              ("Reply-To", "help@acme.test")):
        assert [(a.display_name, a.addr_spec) for a in parsed[header].addresses] == [(expected, addr_spec)], header
    assert parsed.get_all("Bcc") is None and parsed.get_all("Cc") is None
    assert all(len(line) <= 998 for line in header_lines(raw))


def test_a_display_name_of_200_wide_characters_still_fits_a_header_line(renderer):
    rendered = renderer.render(sample_invitation(), locale="en")
    raw, parsed = sent(build_message(rendered, sender="no-reply@acme.test", to=("😀" * 200, "zoe@example.com")))
    [address] = parsed["To"].addresses
    assert address.addr_spec == "zoe@example.com" and set(address.display_name) == {"😀"}
    assert 100 <= len(address.display_name) <= 200
    assert all(len(line) <= 998 for line in header_lines(raw))


ENCODED_WORD_INJECTIONS = [
    "=?utf-8?q?=0D=0ABcc: evil@x.test",
    "=?utf-8?q?=0D=0ABcc:_evil@x.test?=",
    "Amira =?utf-8?b?DQpCY2M6IGV2aWxAeC50ZXN0?= Haddad",
    "a" * 90 + " =?utf-8?q?=0D=0ABcc:_evil@x.test?=",
    "=?utf-8?q?=0A?=Bcc: evil@x.test",
]


@pytest.mark.parametrize("name", ENCODED_WORD_INJECTIONS)
def test_encoded_words_in_names_and_subjects_never_write_a_header_line(renderer, name):
    """CVE-2024-6923: this interpreter (3.11.7) decodes such words and writes the CRLF out; we never let it."""
    org = dict(sample_invitation().organization, display_name=name)
    rendered = renderer.render(sample_invitation(inviter_name=name, organization=org), locale="en")
    assert "=?" in rendered.subject.replace("= ?", "=?")  # the hostile text did reach the subject
    message = build_message(
        rendered, sender=(name, "no-reply@acme.test"), to=(name, "zoe@example.com"), reply_to=(name, "r@acme.test"),
        headers={"X-Note": name},
    )
    raw, parsed = sent(message)
    names = [line.split(b":", 1)[0] for line in header_lines(raw) if line[:1] not in b" \t"]
    assert sorted(names) == sorted(
        [b"Subject", b"From", b"To", b"Reply-To", b"Date", b"Message-ID", b"Auto-Submitted", b"X-Note",
         b"MIME-Version", b"Content-Type", b"Content-Language"]
    )
    assert not any(line.lower().startswith(b"bcc") for line in header_lines(raw))
    for header in ("From", "To", "Reply-To"):
        [address] = parsed[header].addresses
        assert address.display_name == message[header].addresses[0].display_name  # the literal text, not decoded
        assert not {"\r", "\n"} & set(address.display_name) and "=?" not in address.display_name
    assert "\n" not in parsed["Subject"] and "=?" not in parsed["Subject"]
    assert parsed["Subject"] == message["Subject"]


FORMAT_CHARACTERS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200e\u200f\u061c\ufeff\u00ad"


def test_one_line_removes_bidi_overrides_and_other_format_characters_but_keeps_joiners():
    from orginvite.emails.model import one_line

    assert one_line("Amira\u202e moc.evil//:sptth\u202c") == "Amira moc.evil//:sptth"
    assert one_line("".join(f"a{char}" for char in FORMAT_CHARACTERS)) == "a" * len(FORMAT_CHARACTERS)
    assert one_line("👩\u200d💻 می\u200cخواهم") == "👩\u200d💻 می\u200cخواهم"  # ZWJ, ZWNJ: emoji, Persian


def test_bidi_overrides_reach_no_subject_no_address_header_and_names_stay_in_bdi(renderer):
    hostile = "Amira\u202e moc.evil//:sptth\u202c\u2066x\u2069\u200b"
    org = dict(sample_invitation().organization, display_name="Acme\u202e Inc.\u200f")
    rendered = renderer.render(sample_invitation(inviter_name=hostile, organization=org), locale="en")
    message = build_message(rendered, sender=(hostile, "no-reply@acme.test"), to=(hostile, "zoe@example.com"),
                            reply_to=(hostile, "r@acme.test"))
    _, parsed = sent(message)
    for text in (parsed["Subject"], *(parsed[h].addresses[0].display_name for h in ("From", "To", "Reply-To"))):
        assert not set(text) & set(FORMAT_CHARACTERS), text
    assert parsed["To"].addresses[0].display_name == "Amira moc.evil//:sptthx"
    assert "Amira moc.evil//:sptthx" in parsed["Subject"] and "Acme Inc." in parsed["Subject"]
    assert not set(rendered.text) & set(FORMAT_CHARACTERS)
    assert "<bdi>Amira moc.evil//:sptthx</bdi>" in rendered.html and "<bdi>Acme Inc.</bdi>" in rendered.html


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
long_hostile_text = st.lists(
    st.one_of(hostile_text, st.sampled_from(["x" * 40, "é" * 30, " ", "👩‍💻"])), min_size=1, max_size=8
).map("".join)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=long_hostile_text)
def test_any_display_name_round_trips_as_one_mailbox_without_extra_headers(renderer, name):
    rendered = renderer.render(sample_invitation(), locale="en")
    message = build_message(rendered, sender=(name, "no-reply@acme.test"), to=(name, "zoe@example.com"))
    raw, parsed = sent(message)
    expected = message["To"].addresses[0].display_name
    assert [(a.display_name, a.addr_spec) for a in parsed["To"].addresses] == [(expected, "zoe@example.com")]
    assert [(a.display_name, a.addr_spec) for a in parsed["From"].addresses] == [(expected, "no-reply@acme.test")]
    assert parsed.get_all("Bcc") is None and parsed.get_all("Cc") is None
    header_names = [line.split(b":", 1)[0] for line in header_lines(raw) if line[:1] not in b" \t"]
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
