"""The Management API's pure parts: schema messages, query parsing, paging rules, the rate limiter."""

from __future__ import annotations

import pytest

from orginvite.devtenant.management_errors import ManagementApiError
from orginvite.devtenant.management_schema import (
    Array,
    Boolean,
    Integer,
    Metadata,
    Object,
    QueryParam,
    String,
    check_body,
    check_query,
    parse_query_string,
)
from orginvite.devtenant.paging import (
    checkpoint_from_query,
    decode_offset_checkpoint,
    encode_offset_checkpoint,
    offset_from_query,
)
from orginvite.devtenant.ratelimit import UNLIMITED_REPORTED_LIMIT, RateLimiter

INVITE = Object(
    properties={
        "inviter": Object(properties={"name": String(min_length=1, max_length=300)}, required=frozenset({"name"})),
        "invitee": Object(properties={"email": String(format="email")}, required=frozenset({"email"})),
        "ttl_sec": Integer(minimum=0, maximum=2_592_000),
        "roles": Array(String(), max_items=50),
        "send_invitation_email": Boolean(),
    },
    required=frozenset({"inviter", "invitee"}),
)


def body_error(value: object) -> ManagementApiError:
    with pytest.raises(ManagementApiError) as caught:
        check_body(INVITE, value)
    assert caught.value.status_code == 400
    assert caught.value.error_code == "invalid_body"
    return caught.value


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"inviter": {"name": "a"}, "invitee": {}},
            "Payload validation error: 'Missing required property: email' on property invitee.",
        ),
        ({"invitee": {"email": "a@b.c"}}, "Payload validation error: 'Missing required property: inviter'."),
        (
            {"inviter": {"name": "a" * 301}, "invitee": {"email": "a@b.c"}},
            "Payload validation error: 'String is too long (301 chars), maximum 300' on property inviter.name.",
        ),
        (
            {"inviter": {"name": "a"}, "invitee": {"email": "a@b.c"}, "ttl_sec": "60"},
            "Payload validation error: 'Expected type integer but found type string' on property ttl_sec.",
        ),
        (
            {"inviter": {"name": "a"}, "invitee": {"email": "a@b.c"}, "ttl_sec": 2_592_001},
            "Payload validation error: 'Value 2592001 is greater than maximum 2592000' on property ttl_sec.",
        ),
        (
            {"inviter": {"name": "a"}, "invitee": {"email": "a@b.c"}, "ttl_sec": True},
            "Payload validation error: 'Expected type integer but found type boolean' on property ttl_sec.",
        ),
        (
            {"inviter": {"name": "a"}, "invitee": {"email": "a@b.c"}, "roles": ["r"] * 51},
            "Payload validation error: 'Array is too long (51), maximum 50' on property roles.",
        ),
        (
            {"inviter": {"name": "a"}, "invitee": {"email": "a@b.c"}, "roles": ["r", 5]},
            "Payload validation error: 'Expected type string but found type integer' on property roles[1].",
        ),
        (
            {"inviter": {"name": "a"}, "invitee": {"email": "not-an-email"}},
            "Payload validation error: 'Object didn't pass validation for format email' on property invitee.email.",
        ),
        (
            {"inviter": {"name": "a"}, "invitee": {"email": "a@b.c"}, "extra": 1},
            "Payload validation error: 'Additional properties not allowed: extra'.",
        ),
        ([], "Payload validation error: 'Expected type object but found type array'."),
        (None, "Payload validation error: 'Expected type object but found type null'."),
    ],
)
def test_body_errors_name_the_property_as_auth0_does(body: object, message: str) -> None:
    assert body_error(body).message == message


def test_valid_body_passes_and_integral_floats_become_ints() -> None:
    checked = check_body(INVITE, {"inviter": {"name": "Ann"}, "invitee": {"email": "b@c.de"}, "ttl_sec": 60.0})
    assert checked["ttl_sec"] == 60 and isinstance(checked["ttl_sec"], int)


def test_control_characters_in_strings_are_refused() -> None:
    error = body_error({"inviter": {"name": "Ann\r\nBcc: x"}, "invitee": {"email": "b@c.de"}})
    assert "on property inviter.name" in error.message


SPEC = {
    "page": QueryParam("integer", minimum=0),
    "per_page": QueryParam("integer", minimum=1, maximum=100),
    "include_totals": QueryParam("boolean"),
}


def query_error(raw: str) -> ManagementApiError:
    with pytest.raises(ManagementApiError) as caught:
        check_query(parse_query_string(raw), SPEC)
    assert caught.value.error_code == "invalid_query_string"
    return caught.value


def test_query_values_are_typed() -> None:
    assert check_query(parse_query_string(b"page=2&per_page=10&include_totals=true"), SPEC) == {
        "page": 2,
        "per_page": 10,
        "include_totals": True,
    }


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("per_page=abc", "'Expected type integer but found type string' on property per_page."),
        ("per_page=101", "'Value 101 is greater than maximum 100' on property per_page."),
        ("page=-1", "'Value -1 is less than minimum 0' on property page."),
        ("include_totals=yes", "'Expected type boolean but found type string' on property include_totals."),
        ("page=1&page=2", "'Expected type integer but found type array' on property page."),
        ("bogus=1", "'Additional properties not allowed: bogus'"),
        ("page=%ff", "Query string is not valid UTF-8"),
        ("page=", "'Expected type integer but found type null' on property page."),
    ],
)
def test_bad_query_strings_name_the_parameter(raw: str, fragment: str) -> None:
    assert fragment in query_error(raw).message


def test_too_many_query_fields_is_a_400() -> None:
    assert "Too many" in query_error("&".join(f"a{i}=1" for i in range(100))).message


def test_paging_cap_is_1000_records() -> None:
    assert offset_from_query({"page": 19, "per_page": 50}).offset == 950
    assert offset_from_query({"page": 9, "per_page": 100}).offset == 900
    for query in ({"page": 20, "per_page": 50}, {"page": 10, "per_page": 100}, {"page": 1000, "per_page": 1}):
        with pytest.raises(ManagementApiError) as caught:
            offset_from_query(query)
        assert caught.value.error_code == "invalid_paging"
        assert caught.value.message == "Requesting page exceeds the allowed maximum of 1000 records."


def test_totals_envelope_and_bare_array() -> None:
    page = offset_from_query({"page": 1, "per_page": 2, "include_totals": True})
    assert page.shape("members", ["c", "d"], 5) == {"start": 2, "limit": 2, "total": 5, "members": ["c", "d"]}
    assert page.shape("invitations", [], None) == {"start": 2, "limit": 2, "invitations": []}
    assert offset_from_query({}).shape("members", ["a"], 1) == ["a"]
    assert page.slice(list("abcde")) == ["c", "d"]


def test_checkpoint_mode_is_chosen_by_from_or_take() -> None:
    assert checkpoint_from_query({"page": 1}) is None
    checkpoint = checkpoint_from_query({"take": 5})
    assert checkpoint is not None and checkpoint.take == 5 and checkpoint.from_ is None
    with pytest.raises(ManagementApiError):
        checkpoint_from_query({"take": 5, "page": 1})
    assert decode_offset_checkpoint(encode_offset_checkpoint(150)) == 150
    for bad in ("!!!", "eDox", encode_offset_checkpoint(1)[:-1] + "$"):
        with pytest.raises(ManagementApiError):
            decode_offset_checkpoint(bad)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_counts_per_key_and_resets_after_a_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(lambda: 2, clock)
    first, second, third = limiter.hit("a"), limiter.hit("a"), limiter.hit("a")
    assert (first.allowed, first.remaining, first.limit) == (True, 1, 2)
    assert (second.allowed, second.remaining) == (True, 0)
    assert not third.allowed
    assert third.headers()["Retry-After"] == "60"
    assert third.reset == 1_060
    assert limiter.hit("b").allowed  # another client has its own window
    clock.now += 59
    assert not limiter.hit("a").allowed
    assert limiter.hit("a").headers()["Retry-After"] == "1"
    clock.now += 1
    again = limiter.hit("a")
    assert again.allowed and again.remaining == 1 and "Retry-After" not in again.headers()


def test_unlimited_reports_a_large_limit_and_never_refuses() -> None:
    limiter = RateLimiter(lambda: 0, Clock())
    decisions = [limiter.hit("a") for _ in range(500)]
    assert all(decision.allowed for decision in decisions)
    assert decisions[-1].limit == UNLIMITED_REPORTED_LIMIT
    assert decisions[-1].remaining == UNLIMITED_REPORTED_LIMIT - 500


def test_metadata_is_bounded_in_depth_and_size() -> None:
    schema = Object(properties={"user_metadata": Metadata()})
    assert (
        check_body(schema, {"user_metadata": {"lang": "fr", "prefs": {"a": [1, 2]}}})["user_metadata"]["lang"] == "fr"
    )
    deep: dict = {}
    cursor = deep
    for _ in range(900):  # deep enough to break a recursive serializer later, shallow enough for json.loads
        cursor["a"] = {}
        cursor = cursor["a"]
    for value, fragment in (
        ({"user_metadata": deep}, "'Object is nested too deeply, maximum 10 levels' on property user_metadata."),
        ({"user_metadata": {"x": "y" * 17_000}}, "'Object is too large (17009 bytes), maximum 16384'"),
        ({"user_metadata": "fr"}, "'Expected type object but found type string' on property user_metadata."),
    ):
        with pytest.raises(ManagementApiError) as caught:
            check_body(schema, value)
        assert fragment in caught.value.message
