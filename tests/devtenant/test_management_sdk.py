"""Auth0's official Python SDK (auth0-python 6.x), unchanged, against the dev tenant over loopback.

Two supported ways to point it at the tenant:

- plain http: ``auth0.management.Auth0(base_url="http://127.0.0.1:PORT/api/v2", token=...)`` (the generated
  client ManagementClient wraps; ManagementClient itself always builds ``https://{domain}/api/v2``), with the token
  from ``auth0.authentication.GetToken(domain, ..., protocol="http")``;
- https: ``ManagementClient(domain="127.0.0.1:PORT", client_id=..., client_secret=...)`` exactly as against Auth0,
  with the tenant served over TLS on loopback and its certificate trusted through ``SSL_CERT_FILE`` (the SDK's
  httpx honours it, for the SDK's token fetch too).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from auth0.authentication import GetToken
from auth0.management import Auth0, ManagementClient
from auth0.management.core.api_error import ApiError
from auth0.management.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.config import (
    DEMO_ACME_ORG_ID,
    DEMO_ADMIN_ROLE_ID,
    DEMO_ADMIN_USER_ID,
    DEMO_CONNECTION_ID,
    DEMO_M2M_CLIENT_ID,
    DEMO_M2M_CLIENT_SECRET,
    DEMO_MEMBER_ROLE_ID,
    DEMO_WEB_CLIENT_ID,
    DEMO_WEB_LOGIN_URI,
)
from orginvite.testing import LiveServer

NO_RETRY = {"max_retries": 0}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tenant(clock: Clock) -> Iterator[DevTenant]:
    with DevTenant(clock=clock) as tenant:
        yield tenant


@pytest.fixture
def server(tenant: DevTenant) -> Iterator[LiveServer]:
    with tenant.serve() as server:
        yield server


def sdk_token(server: LiveServer, scope: str | None = None) -> str:
    get_token = GetToken(
        f"127.0.0.1:{server.port}", DEMO_M2M_CLIENT_ID, client_secret=DEMO_M2M_CLIENT_SECRET, protocol="http"
    )
    if scope is None:
        return get_token.client_credentials(server.url + "/api/v2/")["access_token"]
    # GetToken has no scope argument; narrower tokens come straight from /oauth/token.
    import httpx2

    form = {
        "grant_type": "client_credentials",
        "client_id": DEMO_M2M_CLIENT_ID,
        "client_secret": DEMO_M2M_CLIENT_SECRET,
        "audience": server.url + "/api/v2/",
        "scope": scope,
    }
    return httpx2.post(server.url + "/oauth/token", data=form).json()["access_token"]


def close_sdk(client: Auth0 | ManagementClient) -> None:
    """The SDK's clients have no ``close()``: close the httpx client each one builds for itself, or its pooled
    sockets are left to the garbage collector (a ResourceWarning each)."""
    api = client._api if isinstance(client, ManagementClient) else client
    api._client_wrapper.httpx_client.httpx_client.close()


@pytest.fixture
def sdk(server: LiveServer) -> Iterator[Callable[[str], Auth0]]:
    """``sdk(token)``: an SDK client for the tenant's Management API, closed when the test ends."""
    made: list[Auth0] = []

    def make(token: str) -> Auth0:
        made.append(Auth0(base_url=server.url + "/api/v2", token=token))
        return made[-1]

    yield make
    for client in made:
        close_sdk(client)


@pytest.fixture
def auth0(sdk: Callable[[str], Auth0], server: LiveServer) -> Auth0:
    return sdk(sdk_token(server))


def test_invitation_workflow_with_the_sdk(auth0: Auth0, tenant: DevTenant) -> None:
    organization = auth0.organizations.create(
        name="initech",
        display_name="Initech",
        metadata={"lang": "fr"},
        enabled_connections=[{"connection_id": DEMO_CONNECTION_ID, "assign_membership_on_login": False}],
    )
    assert organization.id is not None and organization.id.startswith("org_")
    assert organization.display_name == "Initech" and organization.metadata == {"lang": "fr"}
    assert auth0.organizations.get_by_name("initech").id == organization.id

    user = auth0.users.create(
        connection="Username-Password-Authentication", email="peter@initech.test", password="tps-reports-2026"
    )
    assert user.user_id is not None and user.email == "peter@initech.test"

    auth0.organizations.members.create(organization.id, members=[user.user_id])
    auth0.organizations.members.roles.assign(organization.id, user.user_id, roles=[DEMO_MEMBER_ROLE_ID])
    members = list(auth0.organizations.members.list(organization.id))
    assert [member.user_id for member in members] == [user.user_id]
    roles = list(auth0.organizations.members.roles.list(organization.id, user.user_id))
    assert [role.id for role in roles] == [DEMO_MEMBER_ROLE_ID]
    assert [org.id for org in auth0.users.organizations.list(user.user_id)] == [organization.id]

    invitation = auth0.organizations.invitations.create(
        organization.id,
        inviter={"name": "Bill Lumbergh"},
        invitee={"email": "milton@initech.test"},
        client_id=DEMO_WEB_CLIENT_ID,
        roles=[DEMO_ADMIN_ROLE_ID],
        ttl_sec=3600,
        send_invitation_email=False,
    )
    assert invitation.id is not None and invitation.ticket_id is not None
    assert invitation.invitee is not None and invitation.invitee.email == "milton@initech.test"
    assert invitation.inviter is not None and invitation.inviter.name == "Bill Lumbergh"
    assert invitation.roles == [DEMO_ADMIN_ROLE_ID]
    assert invitation.invitation_url == (
        f"{DEMO_WEB_LOGIN_URI}?invitation={invitation.ticket_id}"
        f"&organization={organization.id}&organization_name=initech"
    )
    assert isinstance(invitation.expires_at, dt.datetime) and isinstance(invitation.created_at, dt.datetime)
    assert (invitation.expires_at - invitation.created_at).total_seconds() == pytest.approx(3600, abs=0.002)

    listed = list(auth0.organizations.invitations.list(organization.id))
    assert [item.id for item in listed] == [invitation.id]
    fetched = auth0.organizations.invitations.get(organization.id, invitation.id)
    assert fetched.ticket_id == invitation.ticket_id and fetched.client_id == DEMO_WEB_CLIENT_ID

    auth0.organizations.invitations.delete(organization.id, invitation.id)
    assert list(auth0.organizations.invitations.list(organization.id)) == []
    with pytest.raises(NotFoundError) as caught:
        auth0.organizations.invitations.get(organization.id, invitation.id)
    assert caught.value.body["errorCode"] == "inexistent_invitation"


def test_sdk_pagers_walk_every_page(auth0: Auth0) -> None:
    organization = auth0.organizations.create(name="umbrella")
    assert organization.id is not None
    user_ids = []
    for index in range(12):
        user = auth0.users.create(
            connection="Username-Password-Authentication", email=f"u{index}@umbrella.test", password="pw-123456"
        )
        assert user.user_id is not None
        user_ids.append(user.user_id)
    auth0.organizations.members.create(organization.id, members=user_ids[:10])
    auth0.organizations.members.create(organization.id, members=user_ids[10:])
    # Checkpoint paging (from/take): the SDK follows `next` until it disappears.
    members = list(auth0.organizations.members.list(organization.id, take=5))
    assert sorted(member.user_id for member in members) == sorted(user_ids)
    assert len(members) == 12
    # Offset paging for invitations: the SDK asks page after page until one is empty.
    for index in range(7):
        auth0.organizations.invitations.create(
            organization.id,
            inviter={"name": "Ann"},
            invitee={"email": f"i{index}@x.test"},
            client_id=DEMO_WEB_CLIENT_ID,
        )
    assert len(list(auth0.organizations.invitations.list(organization.id, per_page=3))) == 7
    organizations = list(auth0.organizations.list(take=1))
    assert {org.name for org in organizations} == {"acme", "globex", "umbrella"}


def test_sdk_errors_carry_auth0_bodies(
    auth0: Auth0, sdk: Callable[[str], Auth0], server: LiveServer, tenant: DevTenant, clock: Clock
) -> None:
    with pytest.raises(NotFoundError) as not_found:
        auth0.organizations.get("org_doesnotexist0000")
    assert not_found.value.body == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "No organization found by that id.",
        "errorCode": "inexistent_organization",
    }
    with pytest.raises(BadRequestError) as bad:
        auth0.organizations.invitations.create(
            "org_AcmeDemoOrg00001", inviter={"name": "Ann"}, invitee={"email": "a@x.test"}, client_id="ghost"
        )
    assert bad.value.body["message"] == "The specified client_id does not exist."
    with pytest.raises(ConflictError):
        auth0.organizations.create(name="acme", request_options=NO_RETRY)
    narrow = sdk(sdk_token(server, scope="read:organizations"))
    with pytest.raises(ForbiddenError) as forbidden:
        narrow.organizations.create(name="nope")
    assert forbidden.value.body["message"] == "Insufficient scope, expected any of: create:organizations"
    with pytest.raises(UnauthorizedError):
        sdk("garbage").organizations.get("org_AcmeDemoOrg00001")
    tenant.settings["management_api_rate_limit"] = 1
    clock.now += 60  # a fresh window: one call allowed, the next refused
    auth0.roles.list(request_options=NO_RETRY)
    with pytest.raises(TooManyRequestsError) as limited:
        auth0.roles.list(request_options=NO_RETRY)
    assert limited.value.body["errorCode"] == "too_many_requests"
    assert limited.value.headers is not None and limited.value.headers["x-ratelimit-remaining"] == "0"


# -- the routes apps use around membership ---------------------------------------------------------------------------


def _not_implemented(caught: pytest.ExceptionInfo[ApiError], what: str) -> None:
    """A 501 (the SDK retries 5xx answers, hence NO_RETRY on those calls) naming what is missing."""
    assert caught.value.status_code == 501
    assert caught.value.body["message"] == f"not implemented by the orginvite dev tenant: {what}"


def test_update_organization_with_the_sdk(auth0: Auth0, sdk: Callable[[str], Auth0], server: LiveServer) -> None:
    updated = auth0.organizations.update(
        DEMO_ACME_ORG_ID,
        display_name="Acme Corporation",
        metadata={"lang": "de", "plan": "team"},
        branding={
            "logo_url": "https://acme.test/logo.svg",
            "colors": {"primary": "#112233", "page_background": "#ffffff"},
        },
    )
    assert updated.display_name == "Acme Corporation" and updated.name == "acme"
    assert updated.metadata == {"lang": "de", "plan": "team"}
    assert updated.branding is not None and updated.branding.logo_url == "https://acme.test/logo.svg"
    assert auth0.organizations.get(DEMO_ACME_ORG_ID).display_name == "Acme Corporation"
    renamed = auth0.organizations.update(DEMO_ACME_ORG_ID, name="acme-corp")
    assert auth0.organizations.get_by_name("acme-corp").id == renamed.id == DEMO_ACME_ORG_ID
    with pytest.raises(ApiError) as taken:  # the SDK maps no 409 for this route; the body is Auth0's
        auth0.organizations.update(DEMO_ACME_ORG_ID, name="globex", request_options=NO_RETRY)
    assert taken.value.status_code == 409 and taken.value.body["errorCode"] == "organization_conflict"
    with pytest.raises(BadRequestError) as bad:
        auth0.organizations.update(DEMO_ACME_ORG_ID, name="Not A Name")
    assert bad.value.body["errorCode"] == "invalid_body" and "on property name" in bad.value.body["message"]
    with pytest.raises(ApiError) as missing:  # nor a 404 (the SDK's own spec lists none for this route)
        auth0.organizations.update("org_doesnotexist0000", display_name="x")
    assert missing.value.status_code == 404 and missing.value.body["errorCode"] == "inexistent_organization"
    narrow = sdk(sdk_token(server, scope="read:organizations"))
    with pytest.raises(ForbiddenError) as forbidden:
        narrow.organizations.update(DEMO_ACME_ORG_ID, display_name="x")
    assert forbidden.value.body["message"] == "Insufficient scope, expected any of: update:organizations"
    with pytest.raises(ApiError) as unsupported:
        auth0.organizations.update(DEMO_ACME_ORG_ID, is_app_entitlement_active=True, request_options=NO_RETRY)
    _not_implemented(unsupported, "PATCH /api/v2/organizations/{id} with is_app_entitlement_active")


def test_users_listing_search_and_lookup_by_email(
    auth0: Auth0, sdk: Callable[[str], Auth0], server: LiveServer
) -> None:
    created = [
        auth0.users.create(
            connection="Username-Password-Authentication", email=f"user{index:02}@paging.test", password="pw-123456"
        )
        for index in range(4)
    ]
    # The SDK's pager walks page after page (include_totals=true) until it has every user.
    every = list(auth0.users.list(per_page=2))
    assert {user.user_id for user in created} <= {user.user_id for user in every}
    assert len(every) == len({user.user_id for user in every}) == 4 + 3  # and the three demo users
    found = list(auth0.users.list(q='email:"USER03@paging.test"', search_engine="v3"))
    assert [user.user_id for user in found] == [created[3].user_id]
    assert list(auth0.users.list(q="email:nobody@paging.test")) == []
    by_id = list(auth0.users.list(q=f'user_id:"{DEMO_ADMIN_USER_ID}"', fields="user_id,email"))
    assert [(user.user_id, user.email) for user in by_id] == [(DEMO_ADMIN_USER_ID, "admin@acme.test")]
    ordered = list(auth0.users.list(sort="email:-1", per_page=100))
    assert [user.email for user in ordered] == sorted((user.email for user in every), reverse=True)
    with pytest.raises(ApiError) as unsupported:
        auth0.users.list(q='name:"User*"', request_options=NO_RETRY)
    _not_implemented(unsupported, 'GET /api/v2/users with q other than email:"..." or user_id:"..."')

    (by_email,) = auth0.users.list_users_by_email(email="User02@Paging.test")
    assert by_email.user_id == created[2].user_id
    assert auth0.users.list_users_by_email(email="nobody@paging.test") == []
    import httpx2

    token = sdk_token(server)
    missing = httpx2.get(server.url + "/api/v2/users-by-email", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 400 and missing.json()["errorCode"] == "invalid_query_string"
    narrow = sdk(sdk_token(server, scope="read:organizations"))
    with pytest.raises(ForbiddenError) as forbidden:
        narrow.users.list()
    assert forbidden.value.body["message"] == "Insufficient scope, expected any of: read:users"


def test_update_user_merges_metadata_and_blocks(auth0: Auth0, tenant: DevTenant) -> None:
    user = auth0.users.create(
        connection="Username-Password-Authentication",
        email="patch@me.test",
        password="pw-123456",
        user_metadata={"lang": "fr", "theme": "dark"},
        app_metadata={"plan": "free"},
    )
    assert user.user_id is not None
    updated = auth0.users.update(
        user.user_id, name="Patched Name", user_metadata={"lang": "de", "theme": None, "tz": "Europe/Berlin"}
    )
    # Auth0's rule: top-level keys merge, null removes one.
    assert updated.name == "Patched Name" and updated.user_metadata == {"lang": "de", "tz": "Europe/Berlin"}
    assert updated.app_metadata == {"plan": "free"}
    assert auth0.users.update(user.user_id, app_metadata={}).app_metadata == {}  # an empty object clears it
    blocked = auth0.users.update(user.user_id, blocked=True)
    assert blocked.blocked is True and tenant.store.get_user(user.user_id)["blocked"] is True
    with pytest.raises(NotFoundError) as missing:
        auth0.users.update("auth0|nobody", name="x")
    assert missing.value.body["errorCode"] == "inexistent_user"
    with pytest.raises(BadRequestError):
        auth0.users.update(user.user_id, picture="not a url")
    with pytest.raises(ApiError) as unsupported:
        auth0.users.update(user.user_id, email="new@me.test", request_options=NO_RETRY)
    _not_implemented(unsupported, "PATCH /api/v2/users/{id} with email")
    assert tenant.store.get_user(user.user_id)["email"] == "patch@me.test"  # refused, so nothing changed


def test_organization_enabled_connections_crud(auth0: Auth0) -> None:
    organization = auth0.organizations.create(name="hooli")
    assert organization.id is not None
    assert list(auth0.organizations.enabled_connections.list(organization.id)) == []
    added = auth0.organizations.enabled_connections.add(organization.id, connection_id=DEMO_CONNECTION_ID)
    assert added.connection_id == DEMO_CONNECTION_ID and added.assign_membership_on_login is False
    fetched = auth0.organizations.enabled_connections.get(organization.id, DEMO_CONNECTION_ID)
    assert fetched.connection is not None and fetched.connection.name == "Username-Password-Authentication"
    updated = auth0.organizations.enabled_connections.update(
        organization.id, DEMO_CONNECTION_ID, assign_membership_on_login=True
    )
    assert updated.assign_membership_on_login is True
    listed = list(auth0.organizations.enabled_connections.list(organization.id))
    assert [(item.connection_id, item.assign_membership_on_login) for item in listed] == [(DEMO_CONNECTION_ID, True)]
    with pytest.raises(ApiError) as unsupported:
        auth0.organizations.enabled_connections.update(
            organization.id, DEMO_CONNECTION_ID, show_as_button=True, request_options=NO_RETRY
        )
    _not_implemented(
        unsupported, "PATCH /api/v2/organizations/{id}/enabled_connections/{connectionId} with show_as_button"
    )
    auth0.organizations.enabled_connections.delete(organization.id, DEMO_CONNECTION_ID)
    assert list(auth0.organizations.enabled_connections.list(organization.id)) == []
    for call in (
        lambda: auth0.organizations.enabled_connections.get(organization.id, DEMO_CONNECTION_ID),
        lambda: auth0.organizations.enabled_connections.delete(organization.id, DEMO_CONNECTION_ID),
        lambda: auth0.organizations.enabled_connections.update(
            organization.id, DEMO_CONNECTION_ID, assign_membership_on_login=False
        ),
    ):
        with pytest.raises(NotFoundError) as gone:
            call()
        assert gone.value.body["errorCode"] == "inexistent_connection"


def test_role_users_and_member_roles_of_several_users(auth0: Auth0) -> None:
    # The demo's admin holds the admin role as an organization member role, which Auth0 does not list under
    # /roles/{id}/users (only direct assignments): an app must read member roles per organization instead.
    assert list(auth0.roles.users.list(DEMO_ADMIN_ROLE_ID)) == []
    with pytest.raises(NotFoundError) as unknown:
        list(auth0.roles.users.list("rol_doesnotexist0000"))
    assert unknown.value.body["errorCode"] == "inexistent_role"
    # The member roles of several users in one call: the members list with fields=roles.
    second = auth0.users.create(
        connection="Username-Password-Authentication", email="two@acme.test", password="pw-1234567"
    )
    assert second.user_id is not None
    auth0.organizations.members.create(DEMO_ACME_ORG_ID, members=[second.user_id])
    auth0.organizations.members.roles.assign(DEMO_ACME_ORG_ID, second.user_id, roles=[DEMO_MEMBER_ROLE_ID])
    members = list(auth0.organizations.members.list(DEMO_ACME_ORG_ID, fields="user_id,roles"))
    roles = {member.user_id: sorted(role.id for role in member.roles or []) for member in members}
    assert roles[second.user_id] == [DEMO_MEMBER_ROLE_ID]
    assert DEMO_ADMIN_ROLE_ID in roles[DEMO_ADMIN_USER_ID]


# -- ManagementClient itself, unchanged, over https on loopback -----------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tenant.pem", directory / "tenant.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_management_client_unchanged_over_https(
    tenant: DevTenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with LiveServer(tenant.app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as server:
        # Exactly what an app does against Auth0: a domain and client credentials; the SDK fetches the token.
        client = ManagementClient(
            domain=f"127.0.0.1:{server.port}", client_id=DEMO_M2M_CLIENT_ID, client_secret=DEMO_M2M_CLIENT_SECRET
        )
        try:
            organization = client.organizations.create(name="hooli", display_name="Hooli")
            assert organization.id is not None
            client.organizations.members.create(organization.id, members=["auth0|64656d6f0000000000000001"])
            invitation = client.organizations.invitations.create(
                organization.id,
                inviter={"name": "Gavin"},
                invitee={"email": "richard@hooli.test"},
                client_id=DEMO_WEB_CLIENT_ID,
            )
            assert invitation.invitation_url is not None
            assert f"organization={organization.id}&organization_name=hooli" in invitation.invitation_url
            members = client.organizations.members.list(organization.id)
            assert [member.email for member in members] == ["admin@acme.test"]
            assert [item.id for item in client.organizations.invitations.list(organization.id)] == [invitation.id]
        finally:
            close_sdk(client)
