"""CSV validation for `orginvite invite`: every bad row reported by line number, nothing accepted half-way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orginvite.management.bulk import (
    INTENT_MARKER,
    InviteRow,
    InviteState,
    StateFileError,
    StateLock,
    StateLockedError,
    describe_holder,
    is_valid_email,
    parse_people_csv,
    resolve_roles,
)

LOCALES = ("en", "fr", "de", "pt", "pt_BR", "ar", "ja")


def parse(text: str | bytes) -> tuple[list[InviteRow], list[str]]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    rows, errors = parse_people_csv(data, available_locales=LOCALES)
    return rows, [str(e) for e in errors]


def test_a_good_file_gives_one_row_per_person() -> None:
    rows, errors = parse(
        "email,name,roles,language\n"
        "ana@example.com,Ana Lima,admin;editor,pt-BR\n"
        "\n"
        'bo@example.org,"Bo, Jr.",editor | viewer ,FR\n'
        "chen@example.net,,,\n"
    )
    assert errors == []
    assert rows == [
        InviteRow(2, "ana@example.com", "Ana Lima", ("admin", "editor"), "pt_BR"),
        InviteRow(4, "bo@example.org", "Bo, Jr.", ("editor", "viewer"), "fr"),
        InviteRow(5, "chen@example.net", None, (), None),
    ]


def test_columns_in_any_order_and_optional_ones_absent() -> None:
    rows, errors = parse("Language,EMAIL\nde,dora@example.com\n")
    assert errors == []
    assert rows == [InviteRow(2, "dora@example.com", None, (), "de")]


def test_every_bad_row_is_reported_with_its_line() -> None:
    rows, errors = parse(
        "email,name,roles,language\n"  # 1
        "ana@example.com,Ana,admin,en\n"  # 2 good
        "not-an-email,Bad,admin,en\n"  # 3
        "ANA@example.com,Ana again,admin,fr\n"  # 4 duplicate of 2
        "carl@example.com,Carl,admin,xx-notalang-really\n"  # 5 not a tag
        "dina@example.com,Dina,admin,sw\n"  # 6 unsupported
        "ed@example.com,Ed\n"  # 7 missing fields
        "fay@example.com,Fay,admin,en,surprise\n"  # 8 extra field
        "gus@example.com,Gus\x07,admin,en\n"  # 9 control character
        ",Nobody,admin,en\n"  # 10 empty email
        "hal@example.com,Hal," + ";".join(f"r{i}" for i in range(51)) + ",en\n"  # 11 too many roles
        "ivy@example.com,Ivy,,ja\n"  # 12 good
    )
    assert [r.line for r in rows] == [2, 12]
    assert errors == [
        "line 3, email: not a valid email address",
        "line 4, email: duplicate of line 2",
        "line 5, language: not a language tag (e.g. fr, pt-BR)",
        "line 6, language: unsupported language (available: en, fr, de, pt, pt_BR, ar, ja)",
        "line 7: missing fields 'roles', 'language': expected 4 fields, found 2",
        "line 8: expected 4 fields, found 5 (quote cells that contain the delimiter)",
        "line 9, name: contains control characters",
        "line 10, email: the email is empty",
        "line 11, roles: 51 roles; at most 50 per invitation",
    ]


def test_field_counts_agree_with_their_noun() -> None:
    assert parse("email,name\nana@example.com\n")[1] == [
        "line 2: missing field 'name': expected 2 fields, found 1"]
    assert parse("email\nana@example.com,Ana\n")[1] == [
        "line 2: expected 1 field, found 2 (quote cells that contain the delimiter)"]


@pytest.mark.parametrize(
    "email",
    ["a@b", "a b@example.com", "a@@example.com", "a@example..com", ".a@example.com", "a@-example.com",
     "a@example.c0m1", "a" * 65 + "@example.com", "é@example.com", "a@example.com\n"],
)
def test_invalid_emails(email: str) -> None:
    assert not is_valid_email(email)


@pytest.mark.parametrize("email", ["a@example.com", "first.last+tag@sub.example.co.uk", "x@xn--p1ai.example"])
def test_valid_emails(email: str) -> None:
    assert is_valid_email(email)


def test_multiline_cells_are_refused_and_later_line_numbers_stay_right() -> None:
    rows, errors = parse('email,name\n"ana@example.com","Ana\nLima"\nbad-email,Bo\nbo@example.com,"Bo\n\n"\nbad2,X\n')
    assert [(r.line, r.name) for r in rows] == [(5, "Bo")]  # surrounding whitespace, line breaks included, is trimmed
    assert errors == [
        "line 2, name: contains control characters",  # a line break would end up in the email's greeting
        "line 4, email: not a valid email address",
        "line 8, email: not a valid email address",
    ]


def test_header_problems() -> None:
    _, errors = parse("mail,name\nana@example.com,Ana\n")
    assert "line 1: missing column 'email' (columns: email, name, roles, language)" in errors
    assert "line 1, mail: unknown column 'mail' (expected: email, name, roles, language)" in errors
    _, errors = parse("email,name,name\nana@example.com,A,B\n")
    assert errors == ["line 1, name: column 'name' appears more than once"]


def test_empty_files() -> None:
    assert parse("")[1] == ["line 1: the file is empty: expected a header row with an 'email' column"]
    assert parse("\n\nemail,name\n\n")[1] == ["line 3: no people to invite below the header row"]


def test_bad_encoding_is_reported_per_line_and_the_rest_still_checked() -> None:
    data = b"email,name\nana@example.com,Ana\n" + b"bo@example.com,Jos\xe9\n" + b"nope,Carl\n"
    rows, errors = parse(data)
    assert errors == [
        "line 3: not valid UTF-8 (byte 0xE9 at column 19); save the file as UTF-8",
        "line 4, email: not a valid email address",
    ]
    assert [r.email for r in rows] == ["ana@example.com"]


def test_utf16_and_bom() -> None:
    assert parse("email\nana@example.com\n".encode("utf-16"))[1][0].startswith("line 1: the file is UTF-16")
    rows, errors = parse(b"\xef\xbb\xbfemail\nana@example.com\n")
    assert errors == [] and rows[0].email == "ana@example.com"


def test_semicolon_delimited_exports_work() -> None:
    rows, errors = parse("email;name;roles;language\nana@example.com;Ana;admin|editor;fr\n")
    assert errors == []
    assert rows == [InviteRow(2, "ana@example.com", "Ana", ("admin", "editor"), "fr")]


def test_an_unterminated_quote_is_an_error_not_a_crash() -> None:
    _, errors = parse('email,name\nana@example.com,"Ana\n')
    assert len(errors) == 1 and "unreadable CSV" in errors[0]


# -- roles -----------------------------------------------------------------------------------------------------


ROLES = [
    {"id": "rol_AAAAAAAAAAAAAAAA", "name": "admin", "description": "Admins"},
    {"id": "rol_BBBBBBBBBBBBBBBB", "name": "Editor", "description": "Edits"},
]


def test_roles_by_id() -> None:
    rows = [InviteRow(2, "a@example.com", roles=("rol_AAAAAAAAAAAAAAAA",)),
            InviteRow(3, "b@example.com", roles=("admin", "rol_nope"))]
    resolved, errors = resolve_roles(rows, ROLES, by_name=False)
    assert [r.roles for r in resolved] == [("rol_AAAAAAAAAAAAAAAA",)]
    assert [str(e) for e in errors] == [
        "line 3, roles: unknown role ID (it is a role name: pass --roles-by-name)",
        "line 3, roles: unknown role ID",
    ]


def test_roles_by_name_case_insensitively_when_unambiguous() -> None:
    rows = [InviteRow(2, "a@example.com", roles=("admin", "editor")), InviteRow(3, "b@example.com", roles=("boss",))]
    resolved, errors = resolve_roles(rows, ROLES, by_name=True)
    assert resolved == [InviteRow(2, "a@example.com", roles=("rol_AAAAAAAAAAAAAAAA", "rol_BBBBBBBBBBBBBBBB"))]
    assert [str(e) for e in errors] == ["line 3, roles: unknown role name (roles: Editor, admin)"]
    assert errors[0].value == "boss"


# -- state file ------------------------------------------------------------------------------------------------


def test_state_round_trip_and_atomic_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    row = InviteRow(2, "Ana@Example.com")
    state = InviteState.load(path, "org_1")
    state.mark_created(row, "uinv_1")
    again = InviteState.load(path, "org_1")
    assert again.created_invitation(InviteRow(9, "ana@example.com")) == "uinv_1"
    assert not again.is_invited(row)
    again.mark_invited(row, "uinv_1", "<m1@example>")
    final = InviteState.load(path, "org_1")
    assert final.is_invited(row) and final.created == {}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left behind
    assert json.loads(path.read_text())["invited"]["ana@example.com"]["message_id"] == "<m1@example>"


def test_a_state_file_of_another_organization_or_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    InviteState.load(path, "org_1").mark_created(InviteRow(2, "a@example.com"), "uinv_1")
    with pytest.raises(StateFileError, match="belongs to organization 'org_1'"):
        InviteState.load(path, "org_2")
    path.write_text("{not json")
    with pytest.raises(StateFileError, match="cannot read"):
        InviteState.load(path, "org_1")
    path.write_text('{"version": 7}')
    with pytest.raises(StateFileError, match="not an orginvite state file"):
        InviteState.load(path, "org_1")


def test_only_the_intents_own_invitation_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = InviteState.load(path, "org_1")
    ana, bo = InviteRow(2, "Ana@Example.com"), InviteRow(3, "bo@example.com")
    marker, bo_marker = state.mark_intent(ana), state.mark_intent(bo)
    assert InviteState.load(path, "org_1").intents["ana@example.com"]["marker"] == marker  # on disk before the call

    def invitation(id_: str, email: str, mark: str | None, org: str = "org_1") -> dict:
        return {"id": id_, "organization_id": org, "invitee": {"email": email},
                "app_metadata": {INTENT_MARKER: mark} if mark else {}}

    adopted = state.adopt([
        invitation("uinv_other_admin", "ana@example.com", None),  # same person, someone else's invitation
        invitation("uinv_wrong_marker", "ana@example.com", "f" * 32),
        invitation("uinv_other_org", "ana@example.com", marker, org="org_2"),
        invitation("uinv_other_person", "chen@example.com", marker),  # the marker copied onto someone else
        invitation("uinv_ours", "ANA@example.com", marker),
    ])
    assert adopted == ["ana@example.com"]
    reloaded = InviteState.load(path, "org_1")
    assert reloaded.created_invitation(ana) == "uinv_ours"
    assert list(reloaded.intents) == ["bo@example.com"] and reloaded.intents["bo@example.com"]["marker"] == bo_marker
    reloaded.mark_invited(bo, "uinv_2", None)
    assert InviteState.load(path, "org_1").intents == {}


def test_a_state_file_without_intents_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "organization_id": "org_1", "created": {},
                                "invited": {"a@example.com": {"invitation_id": "uinv_1"}}}))
    state = InviteState.load(path, "org_1")
    assert state.is_invited(InviteRow(2, "a@example.com")) and state.intents == {}


def test_the_state_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    import os

    path = tmp_path / "state.json"
    first, second = StateLock(path), StateLock(path)
    assert first.acquire() is True
    with pytest.raises(StateLockedError) as info:
        second.acquire()  # another open file description: flock refuses it even in the same process
    assert info.value.holder["pid"] == os.getpid()
    assert f"pid {os.getpid()} on host " in str(info.value)
    first.release()
    assert second.acquire() is True
    second.release()
    (tmp_path / "state.json.lock").write_text("garbage")  # a holder's details unreadable: still a clear message
    assert describe_holder(StateLock(path).holder(attempts=1)) == "pid unknown"
