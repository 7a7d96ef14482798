"""Section 6: the dev tenant, in-process (no sockets): complete invitation acceptances and Management API calls.

An acceptance is everything from the backend's ``POST /api/v2/organizations/{id}/invitations`` to the invitee's
first signed-in request: the invitation link at the app, ``/authorize``, the hosted sign-up page and its POST
(one scrypt password hash: the dev tenant hashes like a real one), the code exchange and ID token check at the
callback, and ``/me`` showing the organization. Wall time: the tenant writes SQLite.
"""

from __future__ import annotations

import time

from benchmarks.harness import Case, Section
from benchmarks.world import ORG_ID, InProcessWorld, accept, count_members, create_invitation, management_token


async def build() -> Section:
    world = InProcessWorld()
    client = world.client()
    token = await management_token(client, world.tenant_url)
    created: list[int] = [0]

    async def acceptance() -> None:
        email = f"accept{created[0]}@bench.test"
        created[0] += 1
        invitation = await create_invitation(client, world.tenant_url, token, email)
        async with world.client() as browser:
            await accept(browser, invitation["invitation_url"], world.app_url, email)

    async def mgmt_create() -> None:
        await create_invitation(client, world.tenant_url, token, f"pending{time.perf_counter_ns()}@bench.test")

    async def mgmt_get() -> None:
        response = await client.get(f"{world.tenant_url}/api/v2/organizations/{ORG_ID}",
                                    headers={"authorization": f"Bearer {token}"})
        response.raise_for_status()

    facts: dict[str, object] = {}

    async def teardown() -> None:
        members = await count_members(client, world.tenant_url, token)
        facts["acceptances run"] = created[0]
        facts["members in the organization afterwards"] = members
        facts["lost memberships"] = created[0] - members
        await client.aclose()
        await world.aclose()

    cases = [
        Case("management API: GET organization", mgmt_get),
        Case("management API: create invitation", mgmt_create),
        Case("complete invitation acceptance", acceptance, note="6 app/tenant requests + sign-up (scrypt)"),
    ]
    return Section(key="devtenant", title="6. Dev tenant (in-process)", cases=cases, baseline=cases[0].name,
                   teardown=teardown, extra=facts, timer=time.perf_counter)
