"""Property tests: no input crashes the CSV parser or the error mapping; valid rows survive a CSV round trip."""

from __future__ import annotations

import csv
import io
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from orginvite.management.bulk import InviteRow, parse_people_csv
from orginvite.management.errors import (
    ManagementAPIError,
    RateLimitError,
    ServerError,
    error_class_for,
    error_from_response,
)

LOCALES = ("en", "fr", "de", "pt", "pt_BR", "ja")


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_any_bytes_give_rows_or_line_numbered_errors(data: bytes) -> None:
    rows, errors = parse_people_csv(data, available_locales=LOCALES)
    lines = data.count(b"\n") + data.count(b"\r") + 1
    for error in errors:
        assert 1 <= error.line <= lines
        assert error.message
    if errors:
        return
    assert rows  # a file without errors has people in it
    assert len({row.key for row in rows}) == len(rows)


local = st.text(string.ascii_lowercase + string.digits + "._+-", min_size=1, max_size=20).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s
)
person = st.tuples(
    local,
    st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), max_size=40).map(str.strip),
    st.lists(st.sampled_from(["admin", "member", "billing"]), max_size=3, unique=True),
    st.sampled_from(["", "en", "fr", "pt-BR", "ja"]),
)


@settings(max_examples=200)
@given(st.lists(person, min_size=1, max_size=8, unique_by=lambda p: p[0]), st.sampled_from([",", ";", "\t"]))
def test_valid_people_round_trip_through_csv(people: list, delimiter: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["email", "name", "roles", "language"])
    for name_part, name, roles, language in people:
        writer.writerow([f"{name_part}@example.com", name, "|".join(roles), language])
    rows, errors = parse_people_csv(buffer.getvalue().encode(), available_locales=LOCALES)
    assert errors == []
    assert [(r.email, r.name, r.roles) for r in rows] == [
        (f"{p[0]}@example.com", p[1] or None, tuple(p[2])) for p in people
    ]
    assert all(isinstance(r, InviteRow) for r in rows)


@given(st.integers(min_value=100, max_value=599), st.binary(max_size=300))
def test_any_error_body_maps_to_a_typed_error(status: int, body: bytes) -> None:
    error = error_from_response(status, body, method="GET", path="/api/v2/roles", retry_after=1.0)
    assert isinstance(error, error_class_for(status))
    assert isinstance(error, ManagementAPIError)
    assert error.status_code == status
    assert isinstance(error.message, str) and len(error.message) <= 500
    if status >= 500:
        assert isinstance(error, ServerError)
    if status == 429:
        assert isinstance(error, RateLimitError) and error.retry_after == 1.0
