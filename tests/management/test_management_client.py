"""ManagementClient against a fake Auth0 on loopback: tokens, paging, rate limits, error mapping."""

from __future__ import annotations

import httpx2
import pytest
from mgmt_fake import APP_CLIENT_ID, M2M_ID, M2M_SECRET, FakeAuth0, FakeClock, make_client

from orginvite.errors import ConfigurationError, OrgInviteError
from orginvite.management import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InvalidResponseError,
    ManagementAPIError,
    ManagementClient,
    ManagementConnectionError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnauthorizedError,
    normalize_issuer,
)

pytestmark = pytest.mark.anyio
Fake = tuple[FakeAuth0, str]


# -- configuration -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("acme.eu.auth0.com", "https://acme.eu.auth0.com/"),
        ("https://acme.eu.auth0.com", "https://acme.eu.auth0.com/"),
        ("https://acme.eu.auth0.com/", "https://acme.eu.auth0.com/"),
        ("https://acme.eu.auth0.com/api/v2/", "https://acme.eu.auth0.com/"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/"),
        ("http://[::1]:8765/", "http://[::1]:8765/"),
        ("http://localhost:8765", "http://localhost:8765/"),
    ],
)
def test_normalize_issuer(given: str, expected: str) -> None:
    assert normalize_issuer(given) == expected


@pytest.mark.parametrize(
    "bad", ["", "   ", "http://acme.example.com", "ftp://acme.auth0.com", "https://acme.auth0.com/?x=1", "https://"]
)
def test_normalize_issuer_rejects(bad: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        normalize_issuer(bad)
    assert info.value.setting == "domain"


def test_plain_http_to_a_remote_host_needs_an_explicit_opt_in() -> None:
    assert normalize_issuer("http://tenant.internal:8080", allow_http=True) == "http://tenant.internal:8080/"


async def test_defaults_follow_auth0_conventions_and_repr_hides_the_secret() -> None:
    async with ManagementClient("acme.us.auth0.com", "cid", "very-secret") as client:
        assert client.audience == "https://acme.us.auth0.com/api/v2/"
        assert client.token_url == "https://acme.us.auth0.com/oauth/token"
        assert "very-secret" not in repr(client)
        assert "cid" in repr(client)


@pytest.mark.parametrize(("cid", "secret", "setting"), [("", "s", "client_id"), ("c", "", "client_secret")])
def test_missing_credentials_are_configuration_errors(cid: str, secret: str, setting: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        ManagementClient("acme.auth0.com", cid, secret)
    assert info.value.setting == setting


# -- tokens --------------------------------------------------------------------------------------------------------


async def test_token_is_fetched_once_and_reused(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    fake.add_org("acme")
    async with make_client(url, fake_clock) as client:
        for _ in range(3):
            await client.list_organizations()
        assert client.token_requests == 1
    assert len(fake.token_requests) == 1
    sent = fake.token_requests[0]
    assert sent["grant_type"] == "client_credentials"
    assert sent["client_id"] == M2M_ID
    assert sent["audience"] == url + "/api/v2/"


async def test_token_is_renewed_shortly_before_it_expires(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    fake.token_ttl = 600  # leeway is min(60 s, 10% of the lifetime) = 60 s
    async with make_client(url, fake_clock) as client:
        await client.list_roles()
        fake_clock.advance(530)
        await client.list_roles()
        assert len(fake.token_requests) == 1
        fake_clock.advance(15)  # 545 s: inside the last minute
        await client.list_roles()
        assert len(fake.token_requests) == 2


async def test_a_401_fetches_a_new_token_once_and_retries(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    org = fake.add_org("acme")
    async with make_client(url, fake_clock) as client:
        await client.get_organization(org["id"])
        fake.revoke_tokens()  # the tenant rotated its keys: the cached token is dead
        assert (await client.get_organization(org["id"]))["name"] == "acme"
    assert len(fake.token_requests) == 2


async def test_a_persistent_401_is_an_unauthorized_error(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    fake.script(401, {"statusCode": 401, "error": "Unauthorized", "message": "Client is not global."}, times=2)
    async with make_client(url, fake_clock) as client:
        with pytest.raises(UnauthorizedError) as info:
            await client.list_roles()
    assert info.value.status_code == 401
    assert info.value.message == "Client is not global."
    assert len(fake.token_requests) == 2  # one refresh, not a loop


async def test_wrong_client_secret(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    _, url = fake_auth0
    async with ManagementClient(url, M2M_ID, "wrong", clock=fake_clock.time, sleep=fake_clock.sleep) as client:
        with pytest.raises(UnauthorizedError) as info:
            await client.list_roles()
    error = info.value
    assert isinstance(error, ManagementAPIError)
    assert isinstance(error, OrgInviteError)
    assert (error.status_code, error.error_code, error.message) == (401, "access_denied", "Unauthorized")
    assert error.path == "/oauth/token"
    assert "wrong" not in str(error)


async def test_token_endpoint_answers_garbage(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    fake.script(200, "<html>maintenance</html>", path_contains="/oauth/token")
    fake.script(200, {"access_token": "", "expires_in": 10}, path_contains="/oauth/token")
    fake.script(200, {"access_token": "abc", "expires_in": "soon"}, path_contains="/oauth/token")
    async with make_client(url, fake_clock) as client:
        for expected in ("JSON object", "access_token", "expires_in"):
            with pytest.raises(InvalidResponseError, match=expected):
                await client.list_roles()


# -- rate limits ---------------------------------------------------------------------------------------------------


async def test_429_is_retried_after_retry_after(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    fake.add_role("admin")
    body = {"statusCode": 429, "error": "Too Many Requests", "message": "Global limit has been reached"}
    fake.script(429, body, {"Retry-After": "3"}, times=2, path_contains="/roles")
    async with make_client(url, fake_clock) as client:
        page = await client.list_roles()
    assert [r["name"] for r in page.items] == ["admin"]
    assert fake_clock.sleeps == [3.0, 3.0]


async def test_429_uses_x_ratelimit_reset_when_there_is_no_retry_after(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    reset = int(fake_clock.time()) + 7
    fake.script(429, {"statusCode": 429, "message": "slow down"}, {"X-RateLimit-Reset": str(reset)})
    async with make_client(url, fake_clock) as client:
        await client.list_roles()
    assert fake_clock.sleeps == [pytest.approx(reset - 1_800_000_000.0)]


async def test_429_retries_are_bounded(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    body = {"statusCode": 429, "error": "Too Many Requests", "message": "Global limit has been reached",
            "errorCode": "too_many_requests"}
    fake.script(429, body, {"Retry-After": "1"}, times=10)
    async with make_client(url, fake_clock, max_retries=2) as client:
        with pytest.raises(RateLimitError) as info:
            await client.list_roles()
    assert info.value.error_code == "too_many_requests"
    assert info.value.retry_after == 1.0
    assert fake_clock.sleeps == [1.0, 1.0]
    assert len(fake.requests) == 3


async def test_a_reset_too_far_away_raises_instead_of_waiting(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    fake.script(429, {"statusCode": 429, "message": "daily quota"}, {"Retry-After": "3600"})
    async with make_client(url, fake_clock, max_retry_wait=30) as client:
        with pytest.raises(RateLimitError) as info:
            await client.list_roles()
    assert info.value.retry_after == 3600
    assert fake_clock.sleeps == []


async def test_an_exhausted_window_is_waited_out_before_refusal(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    fake.rate_limit = 2
    fake.add_role("admin")
    async with make_client(url, fake_clock) as client:
        for _ in range(7):
            await client.list_roles()
    assert len(fake.requests) == 7  # every request the fake saw was served: none was refused and retried
    assert len(fake_clock.sleeps) == 3  # waited for the reset after every second request


async def test_client_side_pacing_spaces_requests(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    _, url = fake_auth0
    async with make_client(url, fake_clock, requests_per_second=4) as client:
        for _ in range(3):
            await client.list_roles()
    # the token request and three API calls: the 2nd, 3rd and 4th wait a quarter second each
    assert fake_clock.sleeps == [pytest.approx(0.25)] * 3


# -- errors --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequestError), (403, ForbiddenError), (404, NotFoundError), (409, ConflictError),
     (500, ServerError), (503, ServerError), (418, ManagementAPIError)],
)
async def test_status_codes_map_to_typed_errors(
    fake_auth0: Fake, fake_clock: FakeClock, status: int, cls: type[ManagementAPIError]
) -> None:
    fake, url = fake_auth0
    body = {"statusCode": status, "error": "Some Error", "message": "it failed", "errorCode": "code_x"}
    fake.script(status, body, times=4)  # 503 is retried three times before it becomes an error
    async with make_client(url, fake_clock) as client:
        with pytest.raises(cls) as info:
            await client.list_roles()
    error = info.value
    assert type(error) is cls
    assert (error.status_code, error.error, error.message, error.error_code) == (status, "Some Error", "it failed",
                                                                                  "code_x")
    assert error.method == "GET"
    assert error.path == "/api/v2/roles"
    assert "it failed" in str(error)


async def test_not_found_and_missing_scope_from_the_api(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    async with make_client(url, fake_clock) as client:
        with pytest.raises(NotFoundError) as info:
            await client.get_organization("org_0000000000000000")
        assert info.value.error_code == "inexistent_organization"
        fake.scopes.discard("read:roles")
        with pytest.raises(ForbiddenError) as forbidden:
            await client.list_roles()
        assert forbidden.value.error_code == "insufficient_scope"
        assert "read:roles" in forbidden.value.message


async def test_an_html_error_page_is_a_readable_error(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    fake.script(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", {"content-type": "text/html"}, times=4)
    async with make_client(url, fake_clock) as client:
        with pytest.raises(ServerError) as info:
            await client.list_roles()
    assert info.value.status_code == 502
    assert "502 Bad Gateway" in info.value.message
    assert info.value.error_code is None


async def test_a_garbage_success_body_is_an_invalid_response(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    org = fake.add_org("acme")
    truncated = b'{"id": "uinv_x", "ticket_id": "s3cr3tT1ck3t", "invitation_url": "http'
    fake.script(200, truncated, {"content-type": "text/x"})
    fake.script(200, "[1, 2]")
    fake.script(200, {"organizations": "nope"})
    async with make_client(url, fake_clock) as client:
        with pytest.raises(InvalidResponseError, match=r"not JSON \(text/x, \d+ bytes\)") as info:
            await client.get_organization(org["id"])
        assert "s3cr3tT1ck3t" not in str(info.value)  # a truncated invitation must not leak its ticket
        with pytest.raises(InvalidResponseError, match="JSON object"):
            await client.get_organization(org["id"])
        with pytest.raises(InvalidResponseError, match="list under 'organizations'"):
            await client.list_organizations()


async def test_an_unreachable_tenant_is_a_connection_error(fake_clock: FakeClock) -> None:
    # a port nothing listens on: bind, read the port, close
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with make_client(f"http://127.0.0.1:{port}", fake_clock) as client:
        with pytest.raises(ManagementConnectionError) as info:
            await client.list_roles()
    assert info.value.status_code is None
    assert M2M_SECRET not in str(info.value)


async def test_empty_ids_are_refused_before_any_request(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    async with make_client(url, fake_clock) as client:
        with pytest.raises(ValueError, match="org_id"):
            await client.get_organization("")
        with pytest.raises(ValueError, match="user_id"):
            await client.add_members("org_x", [])
        with pytest.raises(ValueError, match="per_page"):
            await client.list_roles(per_page=1000)
    assert fake.requests == []


# -- resources -----------------------------------------------------------------------------------------------------


async def test_organizations_crud_and_lookup_by_name_or_id(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    _, url = fake_auth0
    async with make_client(url, fake_clock) as client:
        org = await client.create_organization("globex", display_name="Globex Corp", metadata={"lang": "fr"})
        assert org["id"].startswith("org_")
        with pytest.raises(ConflictError):
            await client.create_organization("globex")
        assert (await client.get_organization_by_name("globex"))["id"] == org["id"]
        assert (await client.resolve_organization(org["id"]))["name"] == "globex"
        assert (await client.resolve_organization("Globex"))["id"] == org["id"]
        page = await client.list_organizations()
        assert [o["name"] for o in page.items] == ["globex"]
        assert page.total == 1
        await client.delete_organization(org["id"])
        with pytest.raises(NotFoundError):
            await client.get_organization(org["id"])


async def test_members_member_roles_and_user_organizations(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    org = fake.add_org("acme")
    admin = fake.add_role("admin")
    async with make_client(url, fake_clock) as client:
        user = await client.create_user("ana@example.com", password="pw-Long-enough-1", name="Ana")
        assert (await client.get_user(user["user_id"]))["email"] == "ana@example.com"
        await client.add_members(org["id"], [user["user_id"]])
        await client.add_member_roles(org["id"], user["user_id"], [admin["id"]])
        roles = await client.list_member_roles(org["id"], user["user_id"])
        assert [r["name"] for r in roles.items] == ["admin"]
        orgs = await client.list_user_organizations(user["user_id"])
        assert [o["id"] for o in orgs.items] == [org["id"]]
        await client.remove_member_roles(org["id"], user["user_id"], [admin["id"]])
        assert (await client.list_member_roles(org["id"], user["user_id"])).items == []
        await client.remove_members(org["id"], [user["user_id"]])
        assert (await client.list_members(org["id"])).items == []
    # the pipe of "auth0|..." went over the wire percent-encoded, as one path segment
    assert any(path.endswith("/roles") and "auth0|" in path for _, path, _ in fake.requests)


async def test_member_paging_by_page_and_by_checkpoint(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    org = fake.add_org("big")
    fake.members[org["id"]] = [fake.add_user(f"u{i:03}@example.com")["user_id"] for i in range(120)]
    async with make_client(url, fake_clock) as client:
        first = await client.list_members(org["id"], page=0, per_page=50)
        last = await client.list_members(org["id"], page=2, per_page=50)
        assert (len(first.items), first.total, first.has_more) == (50, 120, True)
        assert (len(last.items), last.start, last.has_more) == (20, 100, False)
        everyone = [m async for m in client.iter_members(org["id"], take=50)]
    assert len({m["user_id"] for m in everyone}) == 120
    assert [q.get("from") for m, p, q in fake.requests if p.endswith("/members") and "take" in q] == [None, "50", "100"]


async def test_invitations_create_list_get_delete(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    org = fake.add_org("acme")
    role = fake.add_role("editor")
    async with make_client(url, fake_clock) as client:
        created = [
            await client.create_invitation(
                org["id"], inviter_name="Ana", invitee_email=f"p{i}@example.com", client_id=APP_CLIENT_ID,
                roles=[role["id"]], user_metadata={"lang": "fr"}, ttl_sec=3600,
            )
            for i in range(5)
        ]
        stored = fake.invitations[created[0]["id"]]
        assert stored["send_invitation_email"] is False
        assert stored["user_metadata"] == {"lang": "fr"}
        assert created[0]["invitation_url"].startswith("http://127.0.0.1:9/login?invitation=")
        listed = [i["id"] async for i in client.iter_invitations(org["id"], per_page=2)]
        assert sorted(listed) == sorted(i["id"] for i in created)
        one = await client.get_invitation(org["id"], created[1]["id"])
        assert one["invitee"]["email"] == "p1@example.com"
        await client.delete_invitation(org["id"], created[1]["id"])
        with pytest.raises(NotFoundError):
            await client.get_invitation(org["id"], created[1]["id"])
        with pytest.raises(BadRequestError, match="roles do not exist"):
            await client.create_invitation(org["id"], inviter_name="Ana", invitee_email="x@example.com",
                                           client_id=APP_CLIENT_ID, roles=["rol_nope"])
        with pytest.raises(ValueError, match="ttl_sec"):
            await client.create_invitation(org["id"], inviter_name="Ana", invitee_email="x@example.com",
                                           client_id=APP_CLIENT_ID, ttl_sec=2592001)


async def test_raw_request_reaches_other_endpoints_with_the_same_token(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    fake.add_role("admin")
    async with make_client(url, fake_clock) as client:
        roles = await client.request("GET", "/roles")
    assert [r["name"] for r in roles] == ["admin"]


async def test_a_shared_http_client_is_not_closed(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    _, url = fake_auth0
    async with httpx2.AsyncClient() as http:
        async with ManagementClient(url, M2M_ID, M2M_SECRET, http=http, clock=fake_clock.time) as client:
            await client.list_roles()
        assert not http.is_closed
        own = ManagementClient(url, M2M_ID, M2M_SECRET)
        await own.aclose()
        assert own._http.is_closed


async def test_reads_are_retried_on_a_passing_5xx_but_writes_are_not(fake_auth0: Fake, fake_clock: FakeClock) -> None:
    fake, url = fake_auth0
    fake.add_role("admin")
    org = fake.add_org("acme")
    fake.script(503, "<html>busy</html>", path_contains="/roles")
    fake.script(502, "bad gateway", {"Retry-After": "2"}, path_contains="/roles")
    async with make_client(url, fake_clock) as client:
        assert [r["name"] for r in (await client.list_roles()).items] == ["admin"]
        assert fake_clock.sleeps == [0.5, 2.0]
        fake.script(503, "busy", path_contains="/invitations")
        with pytest.raises(ServerError):
            await client.create_invitation(org["id"], inviter_name="A", invitee_email="a@example.com",
                                           client_id=APP_CLIENT_ID)
    assert fake.invitations == {}
    assert [m for m, p, _ in fake.requests if p.endswith("/invitations")] == ["POST"]  # tried once
