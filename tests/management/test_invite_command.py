"""`orginvite invite --org ORG --csv people.csv` against the fake Auth0: validation, resume, report, limits."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from mgmt_fake import APP_CLIENT_ID, M2M_ID, M2M_SECRET, FakeAuth0, FakeClock, RecordingSender, make_client

from orginvite.cli import main as orginvite_main
from orginvite.management.cli import main

Fake = tuple[FakeAuth0, str]

PEOPLE = (
    "email,name,roles,language\n"
    "ana@example.com,Ana Lima,admin;member,pt-BR\n"
    "bo@example.com,Bo,member,fr\n"
    "chen@example.com,Chen,,ja\n"
    "dee@example.com,Dee,member,\n"
)


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(
    fake_auth0: Fake,
    clock: FakeClock,
    argv: list[str],
    *,
    sender: Any = None,
    stdout: io.StringIO | None = None,
) -> tuple[int, str, str]:
    _, url = fake_auth0
    out, err = stdout or io.StringIO(), io.StringIO()
    code = main(
        [*argv, "--client-id", APP_CLIENT_ID],
        environ={},
        stdout=out,
        stderr=err,
        client_factory=lambda args, env: make_client(url, clock),
        sender=sender,
    )
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def acme(fake_auth0: Fake) -> dict:
    fake, _ = fake_auth0
    fake.add_role("admin")
    fake.add_role("member")
    return fake.add_org("acme", "Acme Inc.")


def write(tmp_path: Path, text: str | bytes, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def invited_emails(fake: FakeAuth0, org_id: str) -> list[str]:
    return sorted(i["invitee"]["email"] for i in fake.invitations_for(org_id))


def test_a_bad_file_is_reported_whole_and_nothing_is_sent(
    fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path
) -> None:
    fake, _ = fake_auth0
    csv_path = write(tmp_path, PEOPLE + "nope,X,member,en\nana@EXAMPLE.com,Ana,admin,en\neve@example.com,Eve,boss,sw\n")
    sender = RecordingSender()
    code, _, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name",
                                                "--report", str(tmp_path / "r.json")], sender=sender)
    assert code == 2
    assert "3 problems; nothing was sent" in err
    assert "line 6, email: not a valid email address ('nope')" in err
    assert "line 7, email: duplicate of line 2" in err
    assert "line 8, language: unsupported language" in err
    assert fake.invitations == {} and sender.sent == []
    report = json.loads((tmp_path / "r.json").read_text())
    assert [e["line"] for e in report["validation_errors"]] == [6, 7, 8]
    assert not (tmp_path / "people.csv.invite-state.json").exists()


def test_unknown_roles_are_validation_errors_too(
    fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path
) -> None:
    fake, _ = fake_auth0
    csv_path = write(tmp_path, "email,roles\nana@example.com,admin\nbo@example.com,boss;member\n")
    code, _, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name"],
                       sender=RecordingSender())
    assert code == 2
    assert "line 3, roles: unknown role name (roles: admin, member) ('boss')" in err
    code, _, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path)], sender=RecordingSender())
    assert code == 2
    assert "line 2, roles: unknown role ID (it is a role name: pass --roles-by-name) ('admin')" in err
    assert fake.invitations == {}


def test_everyone_is_invited_in_their_language(
    fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path
) -> None:
    fake, _ = fake_auth0
    csv_path = write(tmp_path, PEOPLE)
    sender = RecordingSender()
    report = tmp_path / "report.json"
    code, out, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name",
                                                  "--inviter", "Amira", "--report", str(report)], sender=sender)
    assert (code, err) == (0, "")
    assert invited_emails(fake, acme["id"]) == ["ana@example.com", "bo@example.com", "chen@example.com",
                                                "dee@example.com"]
    assert [(m["to"], m["locale"]) for m in sender.sent] == [
        ("ana@example.com", "pt_BR"), ("bo@example.com", "fr"), ("chen@example.com", "ja"), ("dee@example.com", "en"),
    ]
    ana = next(i for i in fake.invitations.values() if i["invitee"]["email"] == "ana@example.com")
    assert ana["user_metadata"]["lang"] == "pt-BR"
    assert ana["inviter"] == {"name": "Amira"}
    assert sorted(fake.roles[r]["name"] for r in ana["roles"]) == ["admin", "member"]
    assert "[1/4] line 2 ana@example.com: invited" in out
    assert "done: 4 invited, 0 skipped, 0 failed (of 4)" in out
    assert json.loads(report.read_text())["failures"] == []
    state = json.loads((tmp_path / "people.csv.invite-state.json").read_text())
    assert sorted(state["invited"]) == ["ana@example.com", "bo@example.com", "chen@example.com", "dee@example.com"]
    # a second run invites nobody twice
    code, out, _ = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name"],
                       sender=sender)
    assert code == 0
    assert "done: 0 invited, 4 skipped, 0 failed (of 4)" in out
    assert len(fake.invitations) == 4 and len(sender.sent) == 4


def test_a_failed_email_is_reported_and_resent_by_the_next_run(
    fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path
) -> None:
    fake, _ = fake_auth0
    csv_path = write(tmp_path, PEOPLE)
    report = tmp_path / "failures.json"
    code, out, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name",
                                                  "--report", str(report)],
                         sender=RecordingSender(fail_for={"bo@example.com"}))
    assert code == 1
    assert "done: 3 invited, 0 skipped, 1 failed (of 4)" in out
    [failure] = json.loads(report.read_text())["failures"]
    assert failure["line"] == 3 and failure["email"] == "bo@example.com" and failure["stage"] == "email"
    assert failure["error"] == "InvitationEmailError"
    assert failure["invitation_id"] in fake.invitations
    assert "exists but its email failed" in err
    first_id = failure["invitation_id"]

    sender = RecordingSender()
    code, out, _ = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name"],
                       sender=sender)
    assert code == 0
    assert [m["to"] for m in sender.sent] == ["bo@example.com"]
    assert "email re-sent for the invitation created by an earlier run" in out
    assert first_id in fake.invitations  # the same invitation, not a second one
    assert len(fake.invitations) == 4


def test_an_interrupted_run_resumes_without_inviting_anyone_twice(
    fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path
) -> None:
    fake, _ = fake_auth0
    csv_path = write(tmp_path, PEOPLE)
    state = tmp_path / "my-state.json"
    first = RecordingSender(interrupt_for={"chen@example.com"})
    code, _, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name",
                                                "--state", str(state), "--report", str(tmp_path / "r.json")],
                       sender=first)
    assert code == 130
    assert "interrupted after 2 invitations;" in err
    assert json.loads((tmp_path / "r.json").read_text())["interrupted"] is True
    assert [m["to"] for m in first.sent] == ["ana@example.com", "bo@example.com"]
    # Chen's invitation was created before Ctrl-C hit the email: the state file says so
    assert list(json.loads(state.read_text())["created"]) == ["chen@example.com"]

    second = RecordingSender()
    code, out, _ = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name",
                                                 "--state", str(state)], sender=second)
    assert code == 0
    assert [m["to"] for m in second.sent] == ["chen@example.com", "dee@example.com"]
    assert "done: 2 invited, 2 skipped, 0 failed (of 4)" in out
    assert invited_emails(fake, acme["id"]) == ["ana@example.com", "bo@example.com", "chen@example.com",
                                                "dee@example.com"]


def test_people_with_a_pending_invitation_are_skipped_unless_asked(
    fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path
) -> None:
    fake, _ = fake_auth0
    csv_path = write(tmp_path, "email\nana@example.com\nbo@example.com\n")
    code, _, _ = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--state",
                                              str(tmp_path / "a.json")], sender=RecordingSender())
    assert code == 0
    sender = RecordingSender()
    other_state = str(tmp_path / "b.json")  # as if the state file were lost: the pending invitations still count
    code, out, _ = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--state", other_state,
                                                "--report", str(tmp_path / "r.json")], sender=sender)
    assert code == 0 and sender.sent == []
    assert "already has a pending invitation" in out
    assert [s["reason"] for s in json.loads((tmp_path / "r.json").read_text())["skipped"]] == ["pending_invitation"] * 2
    code, _, _ = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--state", other_state,
                                              "--reinvite-pending"], sender=sender)
    assert code == 0 and len(sender.sent) == 2
    assert len(fake.invitations) == 2  # the new invitations replaced the old ones


def test_a_missing_scope_stops_the_run_and_reports_the_rest(
    fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path
) -> None:
    fake, _ = fake_auth0
    fake.scopes.discard("create:organization_invitations")
    csv_path = write(tmp_path, PEOPLE)
    report = tmp_path / "r.json"
    code, out, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name",
                                                  "--report", str(report)], sender=RecordingSender())
    assert code == 1
    assert "stopped early: ForbiddenError" in err
    assert "done: 0 invited, 0 skipped, 1 failed, 3 not attempted (of 4)" in out
    failures = json.loads(report.read_text())["failures"]
    assert failures[0]["error_code"] == "insufficient_scope" and failures[0]["status_code"] == 403
    assert [f["stage"] for f in failures] == ["create", "not_attempted", "not_attempted", "not_attempted"]


def test_a_rate_limited_tenant_is_waited_for_not_hammered(
    fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path
) -> None:
    fake, _ = fake_auth0
    fake.rate_limit = 2
    csv_path = write(tmp_path, PEOPLE)
    code, out, _ = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name"],
                       sender=RecordingSender())
    assert code == 0
    assert "done: 4 invited" in out
    assert len(fake.requests) == 1 + 1 + 1 + 4  # org, roles, pending list, 4 creations: nothing refused
    assert fake_clock.sleeps  # it waited for the window to reset instead


def test_dry_run_checks_against_the_tenant_and_sends_nothing(
    fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path
) -> None:
    fake, _ = fake_auth0
    csv_path = write(tmp_path, PEOPLE)
    code, out, _ = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name",
                                                "--dry-run"])
    assert code == 0
    assert "dry run: 4 would be invited, 0 skipped; nothing sent" in out
    assert fake.invitations == {}


def test_progress_bar_on_a_terminal(fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path) -> None:
    csv_path = write(tmp_path, PEOPLE)
    tty = TTY()
    code, out, _ = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name"],
                       sender=RecordingSender(), stdout=tty)
    assert code == 0
    assert "\r[##############################] 4/4  4 invited, 0 skipped, 0 failed" in out
    assert "[1/4] line" not in out


def test_unknown_organization_and_missing_file(
    fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path
) -> None:
    code, _, err = run(fake_auth0, fake_clock, ["--org", "nope", "--csv", str(write(tmp_path, PEOPLE))],
                       sender=RecordingSender())
    assert code == 2 and "no organization 'nope'" in err
    code, _, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(tmp_path / "missing.csv")])
    assert code == 2 and "cannot read" in err
    code, _, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(write(tmp_path, PEOPLE)),
                                                "--inviter", "x" * 301])
    assert code == 2 and "--inviter must be 1 to 300 characters" in err
    code, _, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(write(tmp_path, PEOPLE)),
                                                "--ttl", "2592001"])
    assert code == 2 and "--ttl must be from 0 to 2592000" in err


def test_credentials_come_from_the_environment(
    fake_auth0: Fake, acme: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, url = fake_auth0
    csv_path = write(tmp_path, "email\nana@example.com\n")
    # nothing configured: a clear message, exit 2, and the bad file's problems are still shown
    bad = write(tmp_path, "email\nnope\n", "bad.csv")
    for name in ("ORGINVITE_MANAGEMENT_DOMAIN", "ORGINVITE_ISSUER", "AUTH0_DOMAIN", "AUTH0_M2M_CLIENT_ID",
                 "ORGINVITE_MANAGEMENT_CLIENT_ID", "ORGINVITE_MANAGEMENT_CLIENT_SECRET", "AUTH0_M2M_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert orginvite_main(["invite", "--org", "acme", "--csv", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "line 2, email: not a valid email address" in err
    assert "missing Management API settings: ORGINVITE_MANAGEMENT_DOMAIN (or ORGINVITE_ISSUER, or AUTH0_DOMAIN" in err
    # Auth0's names work, and Auth0 can be asked to send its own email (no SMTP needed)
    monkeypatch.setenv("AUTH0_DOMAIN", url)
    monkeypatch.setenv("AUTH0_M2M_CLIENT_ID", M2M_ID)
    monkeypatch.setenv("AUTH0_M2M_CLIENT_SECRET", M2M_SECRET)
    monkeypatch.setenv("ORGINVITE_CLIENT_ID", APP_CLIENT_ID)
    assert orginvite_main(["invite", "--org", "acme", "--csv", str(csv_path), "--auth0-email", "--max-rps", "0"]) == 0
    [invitation] = fake.invitations.values()
    assert invitation["send_invitation_email"] is True
    assert M2M_SECRET not in capsys.readouterr().out


def test_without_read_invitations_scope_the_state_file_alone_guards(
    fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path
) -> None:
    fake, _ = fake_auth0
    fake.scopes.discard("read:organization_invitations")
    csv_path = write(tmp_path, "email\nana@example.com\n")
    sender = RecordingSender()
    code, _, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--app-name", "Acme Cloud"],
                       sender=sender)
    assert code == 0
    assert "warning: cannot list pending invitations" in err
    assert "Acme Cloud" in sender.sent[0]["text"]  # "... has invited you to join Acme Inc. on Acme Cloud."
    code, out, _ = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path)], sender=sender)
    assert code == 0 and "done: 0 invited, 1 skipped" in out
    assert len(fake.invitations) == 1


def test_counts_agree_with_their_noun(fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path) -> None:
    one = write(tmp_path, "email\nana@example.com\n")
    code, out, _ = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(one), "--dry-run"])
    assert code == 0 and "1 person to invite to Acme Inc. (" in out
    code, out, _ = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(write(tmp_path, PEOPLE)), "--dry-run",
                                                "--roles-by-name"])
    assert code == 0 and "4 people to invite to Acme Inc. (" in out
    code, _, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(write(tmp_path, "email\nnope\n"))])
    assert code == 2 and "1 problem; nothing was sent" in err


def test_an_unwritable_state_file_stops_before_the_first_invitation(
    fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path
) -> None:
    fake, _ = fake_auth0
    csv_path = write(tmp_path, "email\nana@example.com\n")
    code, _, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--state",
                                                str(tmp_path / "no-such-dir" / "state.json")], sender=RecordingSender())
    assert code == 2
    assert "cannot write the state file" in err
    assert fake.invitations == {}


def test_an_smtp_outage_stops_the_run_after_the_first_invitation(
    fake_auth0: Fake, fake_clock: FakeClock, acme: dict, tmp_path: Path
) -> None:
    fake, _ = fake_auth0
    csv_path = write(tmp_path, PEOPLE)
    sender = RecordingSender()
    sender.down = True
    report = tmp_path / "r.json"
    code, out, err = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name",
                                                  "--report", str(report)], sender=sender)
    assert code == 1
    assert "stopped early: SMTPConnectionError" in err
    assert "done: 0 invited, 0 skipped, 1 failed, 3 not attempted (of 4)" in out
    assert invited_emails(fake, acme["id"]) == ["ana@example.com"]  # not one invitation per row without email
    assert [f["stage"] for f in json.loads(report.read_text())["failures"]] == ["email"] + ["not_attempted"] * 3
    sender.down = False
    code, out, _ = run(fake_auth0, fake_clock, ["--org", "acme", "--csv", str(csv_path), "--roles-by-name"],
                       sender=sender)
    assert code == 0 and "done: 4 invited" in out
    assert len(fake.invitations) == 4 and len(sender.sent) == 4


def test_help_says_where_every_credential_comes_from() -> None:
    from orginvite.management.cli import build_parser

    text = " ".join(build_parser().format_help().split())
    for variable in ("ORGINVITE_MANAGEMENT_DOMAIN", "ORGINVITE_ISSUER", "AUTH0_DOMAIN",
                     "ORGINVITE_MANAGEMENT_CLIENT_ID", "AUTH0_M2M_CLIENT_ID",
                     "ORGINVITE_MANAGEMENT_CLIENT_SECRET", "AUTH0_M2M_CLIENT_SECRET", "ORGINVITE_MANAGEMENT_AUDIENCE",
                     "ORGINVITE_CLIENT_ID", "AUTH0_CLIENT_ID", "ORGINVITE_SMTP_URL", "ORGINVITE_EMAIL_FROM",
                     "ORGINVITE_EMAIL_REPLY_TO"):
        assert variable in text
    assert "ORGINVITE_SMTP_URL the SMTP server of orginvite's own emails" in text
    assert "ORGINVITE_MANAGEMENT_CLIENT_SECRET its client secret (else AUTH0_M2M_CLIENT_SECRET)" in text


def test_help_documents_the_lock_and_wait() -> None:
    from orginvite.management.cli import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "--wait when another run is using the state file, wait for it to finish instead of refusing" in text
    assert "75 nothing sent (another run holds the state file: see --wait)" in text
