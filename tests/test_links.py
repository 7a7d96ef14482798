from __future__ import annotations

import logging
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orginvite.errors import ConfigurationError, InvalidLinkError
from orginvite.links import TICKET_ALPHABET, LinkRules, LoginRequest, parse_login_query, ticket_fingerprint

ORG = "org_AbCdEfGhIjKlMnOp"
TICKET = "Kx7pQ2rT9vW4yZ1aB3cD5eF7gH9jK1mN"


def link(**params: str) -> str:
    return urlencode(params)


DEFAULT_RULES = LinkRules()


def error_of(query: str | bytes, rules: LinkRules = DEFAULT_RULES) -> InvalidLinkError:
    with pytest.raises(InvalidLinkError) as info:
        parse_login_query(query, rules)
    return info.value


# --- valid links -------------------------------------------------------------------------------------------------


def test_full_invitation_link() -> None:
    request = parse_login_query(link(invitation=TICKET, organization=ORG, organization_name="acme"))
    assert request == LoginRequest(invitation=TICKET, organization=ORG, organization_name="acme", return_to="/")
    assert request.is_invitation
    assert request.organization_is_id


def test_bytes_query_as_asgi_gives_it() -> None:
    request = parse_login_query(link(invitation=TICKET, organization=ORG).encode())
    assert request.invitation == TICKET
    assert request.organization == ORG


def test_leading_question_mark_is_tolerated() -> None:
    assert parse_login_query("?" + link(organization=ORG)).organization == ORG


def test_plain_login() -> None:
    request = parse_login_query("")
    assert request == LoginRequest()
    assert not request.is_invitation
    assert request.organization is None


def test_organization_login_by_id_and_by_name() -> None:
    assert parse_login_query(link(organization=ORG)).organization == ORG
    by_name = parse_login_query(link(organization="acme-corp_2"))
    assert by_name.organization == "acme-corp_2"
    assert not by_name.organization_is_id
    assert not by_name.is_invitation


def test_organization_name_alone_is_a_routing_hint_not_a_login() -> None:
    request = parse_login_query(link(organization_name="acme"))
    assert request.organization is None
    assert request.organization_name == "acme"
    assert not request.is_invitation


def test_name_valued_organization_agreeing_with_organization_name() -> None:
    request = parse_login_query(link(organization="acme", organization_name="acme"))
    assert (request.organization, request.organization_name) == ("acme", "acme")


def test_unknown_keys_are_ignored_and_not_kept() -> None:
    query = link(organization=ORG, redirect_uri="https://evil.example/", client_id="x", prompt="none")
    request = parse_login_query(query + "&x-value=%ff&y=%zz&=&&")
    assert request == LoginRequest(organization=ORG)


def test_undecodable_keys_are_ignored_as_unknown() -> None:
    assert parse_login_query(f"organizatio%zz=acme&organizatio%ff=x&organization={ORG}").organization == ORG


def test_authorize_params_never_carry_the_name_or_return_path() -> None:
    request = parse_login_query(link(invitation=TICKET, organization=ORG, organization_name="acme", returnTo="/x"))
    assert request.authorize_params == {"organization": ORG, "invitation": TICKET}
    assert parse_login_query(link(organization_name="acme")).authorize_params == {}
    assert parse_login_query(link(organization="acme")).authorize_params == {"organization": "acme"}


def test_link_params_round_trip_through_the_parser() -> None:
    request = parse_login_query(link(invitation=TICKET, organization=ORG, organization_name="acme", returnTo="/x?a=1"))
    assert request.link_params() == {
        "invitation": TICKET, "organization": ORG, "organization_name": "acme", "returnTo": "/x?a=1"
    }
    assert parse_login_query(urlencode(request.link_params())) == request


def test_percent_encoded_key_is_recognised() -> None:
    # "organizatio%6E" is "organization": decoding the key first means it cannot dodge any check; it is refused
    # (spelled literally only, so that log redaction of "invitation=" cannot be dodged either).
    assert error_of(f"organization={ORG}&organizatio%6E={ORG}").code == "invalid_encoding"
    assert error_of(f"organizatio%6E={ORG}").code == "invalid_encoding"


def test_return_to_is_kept_when_safe_and_defaulted_otherwise() -> None:
    assert parse_login_query(link(returnTo="/reports?tab=2#top")).return_to == "/reports?tab=2#top"
    assert parse_login_query(link(returnTo="//evil.example")).return_to == "/"
    assert parse_login_query(link(returnTo="https://evil.example/")).return_to == "/"
    assert parse_login_query("returnTo=%zz").return_to == "/"
    assert parse_login_query("returnTo=%ff").return_to == "/"
    assert parse_login_query("", default_return_to="/home").return_to == "/home"
    assert parse_login_query("returnTo=//x", default_return_to="/home").return_to == "/home"


def test_custom_rules_widen_the_id_format() -> None:
    rules = LinkRules(organization_id_pattern=r"org_[A-Za-z0-9]{8,40}")
    long_id = "org_" + "a" * 40
    assert parse_login_query(link(invitation=TICKET, organization=long_id), rules).organization == long_id
    assert error_of(link(invitation=TICKET, organization=long_id)).code == "invalid_organization"


def test_max_id_length_is_enforced_even_when_the_pattern_allows_more() -> None:
    rules = LinkRules(organization_id_pattern=r"org_\w+", organization_id_max_length=20)
    assert error_of(link(organization="org_" + "a" * 30), rules).code == "too_long"


def test_names_can_be_turned_off() -> None:
    rules = LinkRules(accept_organization_names=False)
    error = error_of(link(organization="acme"), rules)
    assert (error.code, error.field) == ("organization_name_not_accepted", "organization")
    assert parse_login_query(link(organization=ORG), rules).organization == ORG


# --- refused links -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["invitation", "organization", "organization_name", "returnTo"])
def test_repeated_keys_are_refused(key: str) -> None:
    values = {"invitation": TICKET, "organization": ORG, "organization_name": "acme", "returnTo": "/a"}
    query = link(invitation=TICKET, organization=ORG, organization_name="acme", returnTo="/a")
    error = error_of(f"{query}&{key}={values[key]}")
    assert (error.code, error.field) == ("repeated_parameter", key)


def test_repeated_key_with_an_empty_second_value_is_refused() -> None:
    error = error_of(f"organization={ORG}&organization")
    assert (error.code, error.field) == ("repeated_parameter", "organization")


def test_invitation_without_organization() -> None:
    error = error_of(link(invitation=TICKET))
    assert (error.code, error.field) == ("missing_organization", "organization")
    assert error_of(link(invitation=TICKET, organization_name="acme")).code == "missing_organization"


def test_invitation_with_a_name_instead_of_an_id() -> None:
    error = error_of(link(invitation=TICKET, organization="acme"))
    assert (error.code, error.field) == ("organization_id_required", "organization")


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("invitation=&organization=" + ORG, "empty_value", "invitation"),
        ("invitation&organization=" + ORG, "empty_value", "invitation"),
        ("organization=", "empty_value", "organization"),
        ("organization_name=", "empty_value", "organization_name"),
        ("organization=org_AbCdEfGhIjKlMnO%00", "control_character", "organization"),
        ("organization=acme%0D%0ASet-Cookie:x", "control_character", "organization"),
        ("organization_name=ac%09me", "control_character", "organization_name"),
        (f"invitation=abc%0A&organization={ORG}", "control_character", "invitation"),
        ("organization=acm%C3%A9", "non_ascii", "organization"),
        ("organization_name=%EF%BD%81cme", "non_ascii", "organization_name"),
        (f"invitation=ti%C3%A7ket&organization={ORG}", "non_ascii", "invitation"),
        ("organization=ac%zzme", "invalid_encoding", "organization"),
        ("organization=acme%", "invalid_encoding", "organization"),
        ("organization=acme%4", "invalid_encoding", "organization"),
        ("organization=%C3%28", "invalid_encoding", "organization"),
        ("organization=%FF", "invalid_encoding", "organization"),
        (f"invitation=%E2%82&organization={ORG}", "invalid_encoding", "invitation"),
        ("organization=Acme", "invalid_organization", "organization"),
        ("organization=Acme+Inc.", "invalid_organization", "organization"),
        ("organization=acme%20inc", "invalid_organization", "organization"),
        ("organization=acme.com", "invalid_organization", "organization"),
        ("organization=org_acme", "invalid_organization", "organization"),
        ("organization=org_AbCdEfGhIjKlMnO", "invalid_organization", "organization"),
        ("organization=" + "a" * 51, "too_long", "organization"),
        ("organization_name=" + "a" * 51, "too_long", "organization_name"),
        ("organization_name=Acme", "invalid_organization_name", "organization_name"),
        ("organization_name=acme%2Fglobex", "invalid_organization_name", "organization_name"),
        (f"invitation={TICKET}&organization=org_short", "invalid_organization", "organization"),
        (f"invitation=a%2Fb&organization={ORG}", "invalid_ticket", "invitation"),
        (f"invitation=a+b&organization={ORG}", "invalid_ticket", "invitation"),
        (f"invitation=a%3Cscript%3E&organization={ORG}", "invalid_ticket", "invitation"),
        (f"invitation={'a' * 257}&organization={ORG}", "too_long", "invitation"),
        ("organization=acme&organization_name=globex", "conflicting_organization", "organization_name"),
    ],
)
def test_specific_errors(query: str, code: str, field: str | None) -> None:
    error = error_of(query)
    assert (error.code, error.field) == (code, field)
    assert str(error)  # a human message, never empty


def test_invalid_utf8_bytes_query() -> None:
    error = error_of(b"organization=acme\xff")
    assert (error.code, error.field) == ("invalid_encoding", None)
    assert "UTF-8" in str(error)


def test_raw_non_ascii_query_string() -> None:
    assert error_of("organization=acmé").code == "non_ascii"


def test_query_length_cap() -> None:
    error = error_of("x=" + "a" * 9000)
    assert (error.code, error.field) == ("too_long", None)
    assert error_of("x=" + "a" * 100, LinkRules(query_max_length=50)).code == "too_long"


def test_ticket_length_is_configurable() -> None:
    rules = LinkRules(ticket_max_length=16)
    assert error_of(link(invitation="a" * 17, organization=ORG), rules).code == "too_long"
    assert parse_login_query(link(invitation="a" * 16, organization=ORG), rules).invitation == "a" * 16
    assert parse_login_query(link(invitation="a" * 256, organization=ORG)).invitation == "a" * 256


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"organization_id_pattern": "org_[a-"}, "organization_id_pattern"),
        ({"organization_name_pattern": "("}, "organization_name_pattern"),
        ({"ticket_max_length": 0}, "ticket_max_length"),
        ({"organization_id_max_length": -1}, "organization_id_max_length"),
        ({"ticket_alphabet": "abc/"}, "ticket_alphabet"),
        ({"ticket_alphabet": ""}, "ticket_alphabet"),
    ],
)
def test_bad_rules_name_the_setting(kwargs: dict, setting: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        LinkRules(**kwargs)
    assert info.value.setting == setting


# --- the ticket is a secret --------------------------------------------------------------------------------------


def test_ticket_is_masked_in_repr_and_str(caplog: pytest.LogCaptureFixture) -> None:
    request = parse_login_query(link(invitation=TICKET, organization=ORG))
    assert TICKET not in repr(request)
    assert TICKET not in str(request)
    assert ticket_fingerprint(TICKET) in repr(request)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("login %s %r", request, request)
    assert TICKET not in caplog.text


def test_fingerprint_is_short_stable_and_distinct() -> None:
    assert ticket_fingerprint(TICKET) == ticket_fingerprint(TICKET)
    assert ticket_fingerprint(TICKET) != ticket_fingerprint(TICKET + "x")
    assert len(ticket_fingerprint(TICKET)) < 24
    assert TICKET not in ticket_fingerprint(TICKET)
    assert ticket_fingerprint(None) == "-"


@pytest.mark.parametrize(
    "bad_ticket",
    ["secretTICKET%0A", "secretTICKET%2F", "secretTICKET%C3%A9", "secretTICKET%zz", "secretTICKET" + "x" * 300],
)
def test_ticket_never_appears_in_error_messages(bad_ticket: str) -> None:
    error = error_of(f"invitation={bad_ticket}&organization={ORG}")
    assert "secretTICKET" not in str(error)
    assert "secretTICKET" not in repr(error)


# --- properties --------------------------------------------------------------------------------------------------

_ticket = st.text(alphabet=TICKET_ALPHABET, min_size=1, max_size=256)
_org_id = st.from_regex(r"\Aorg_[A-Za-z0-9]{16}\Z")
_org_name = st.from_regex(r"\A[a-z0-9_-]{1,50}\Z").filter(lambda name: not name.startswith("org_"))


@given(ticket=_ticket, org=_org_id, name=_org_name)
def test_every_well_formed_invitation_round_trips(ticket: str, org: str, name: str) -> None:
    request = parse_login_query(urlencode({"invitation": ticket, "organization": org, "organization_name": name}))
    assert (request.invitation, request.organization, request.organization_name) == (ticket, org, name)
    assert f"invitation={ticket!r}" not in repr(request)


_anything = st.one_of(st.text(max_size=300), st.binary(max_size=300))


@settings(max_examples=500)
@given(query=_anything)
def test_parser_never_crashes(query: str | bytes) -> None:
    try:
        request = parse_login_query(query)
    except InvalidLinkError as error:
        assert error.code
        assert str(error)
    else:
        assert request.return_to.startswith("/")
        if request.invitation is not None:
            assert request.organization is not None and request.organization_is_id


_key = st.sampled_from(["invitation", "organization", "organization_name", "returnTo", "x", "org", "Invitation"])
_value = st.one_of(
    st.text(max_size=60), _ticket, _org_id, _org_name, st.sampled_from(["%", "%zz", "%FF", "%00", "+", "&", "="])
)


@settings(max_examples=500)
@given(pairs=st.lists(st.tuples(_key, _value), max_size=6))
def test_structured_queries_never_crash_and_repeats_are_always_refused(pairs: list[tuple[str, str]]) -> None:
    query = "&".join(f"{quote(key)}={quote(value, safe='%')}" for key, value in pairs)
    keys = [key for key, _ in pairs]
    repeated = {key for key in keys if keys.count(key) > 1} & {"invitation", "organization", "organization_name",
                                                               "returnTo"}
    try:
        request = parse_login_query(query)
    except InvalidLinkError as error:
        assert str(error)
        return
    assert not repeated, "a repeated key must never be accepted"
    for value in (request.invitation, request.organization, request.organization_name):
        assert value is None or (value.isascii() and value.isprintable() and " " not in value)
    if request.organization is not None and not request.organization_is_id:
        assert LinkRules().is_organization_name(request.organization)
    assert parse_login_query(urlencode(request.link_params())) == request  # re-encoding loses and adds nothing
