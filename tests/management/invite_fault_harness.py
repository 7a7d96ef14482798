"""Runs the real ``orginvite invite`` command and SIGKILLs itself at one step of one person's invitation.

Used by test_invite_kill.py as a subprocess: ``python invite_fault_harness.py <orginvite invite arguments>`` with
``FAULT_KILL_AT`` (a step below) and ``FAULT_KILL_EMAIL`` (whose invitation) in the environment. The kill is a real
SIGKILL of this process: no ``finally``, no atexit, no flush. Steps the process cannot see from inside (a create
or an email in flight) are the servers' to hold while the test kills the process; they need no hook here.

Steps: ``before_intent`` (nothing recorded yet), ``before_create`` (intent on disk, request not sent),
``after_create_response`` (the invitation exists, the answer arrived, nothing recorded), ``after_create``
(recorded as created, no email), ``after_email`` (the SMTP server accepted the email, not recorded), and
``after_invited`` (recorded as done).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install(step: str, target: str) -> None:
    from orginvite.management import ManagementClient
    from orginvite.management import bulk_runner as bulk_invite_runner
    from orginvite.management.bulk import InviteRow, InviteState

    def around_state(name: str, *, before: bool) -> None:
        original = getattr(InviteState, name)

        def hooked(self: InviteState, row: InviteRow, *args: Any) -> Any:
            if row.email == target and before:
                _die()
            result = original(self, row, *args)
            if row.email == target and not before:
                _die()
            return result

        setattr(InviteState, name, hooked)

    if step == "before_intent":
        around_state("mark_intent", before=True)
    elif step == "after_create_response":
        around_state("mark_created", before=True)
    elif step == "after_create":
        around_state("mark_created", before=False)
    elif step == "after_invited":
        around_state("mark_invited", before=False)
    elif step == "before_create":
        create = ManagementClient.create_invitation

        async def hooked_create(self: ManagementClient, org_id: str, **kwargs: Any) -> Any:
            if kwargs.get("invitee_email") == target:
                _die()
            return await create(self, org_id, **kwargs)

        ManagementClient.create_invitation = hooked_create  # type: ignore[method-assign]
    elif step == "after_email":
        send = bulk_invite_runner.send_invitation

        async def hooked_send(invitation: Any, **kwargs: Any) -> Any:
            result = await send(invitation, **kwargs)
            if result.email == target:
                _die()
            return result

        bulk_invite_runner.send_invitation = hooked_send  # type: ignore[assignment]
    elif step:
        raise SystemExit(f"unknown FAULT_KILL_AT {step!r}")


if __name__ == "__main__":
    _install(os.environ.get("FAULT_KILL_AT", ""), os.environ.get("FAULT_KILL_EMAIL", ""))
    from orginvite.management.cli import main

    sys.exit(main())
