"""Auth0's official Python SDK (auth0-python 6.x), unchanged, against the dev tenant over loopback.

Two supported ways to point it at the tenant:

- plain http: ``auth0.management.Auth0(base_url="http://127.0.0.1:PORT/api/v2", token=...)`` (the generated
  client ManagementClient wraps; ManagementClient itself always builds ``https://{domain}/api/v2``), with the token
  from ``auth0.authentication.GetToken(domain, ..., protocol="http")``;
- https: ``ManagementClient(domain="127.0.0.1:PORT", client_id=..., client_secret=...)`` exactly as against Auth0,
  with the tenant served over TLS on loopback and its certificate trusted through ``SSL_CERT_FILE`` (httpx honours
  it, for the SDK's token fetch too).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from auth0.authentication import GetToken
from auth0.management import Auth0, ManagementClient
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
    DEMO_ADMIN_ROLE_ID,
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
    import httpx

    form = {
        "grant_type": "client_credentials",
        "client_id": DEMO_M2M_CLIENT_ID,
        "client_secret": DEMO_M2M_CLIENT_SECRET,
        "audience": server.url + "/api/v2/",
        "scope": scope,
    }
    return httpx.post(server.url + "/oauth/token", data=form).json()["access_token"]


@pytest.fixture
def auth0(server: LiveServer) -> Auth0:
    return Auth0(base_url=server.url + "/api/v2", token=sdk_token(server))


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


def test_sdk_errors_carry_auth0_bodies(auth0: Auth0, server: LiveServer, tenant: DevTenant, clock: Clock) -> None:
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
    narrow = Auth0(base_url=server.url + "/api/v2", token=sdk_token(server, scope="read:organizations"))
    with pytest.raises(ForbiddenError) as forbidden:
        narrow.organizations.create(name="nope")
    assert forbidden.value.body["message"] == "Insufficient scope, expected any of: create:organizations"
    with pytest.raises(UnauthorizedError):
        Auth0(base_url=server.url + "/api/v2", token="garbage").organizations.get("org_AcmeDemoOrg00001")
    tenant.settings["management_api_rate_limit"] = 1
    clock.now += 60  # a fresh window: one call allowed, the next refused
    auth0.roles.list(request_options=NO_RETRY)
    with pytest.raises(TooManyRequestsError) as limited:
        auth0.roles.list(request_options=NO_RETRY)
    assert limited.value.body["errorCode"] == "too_many_requests"
    assert limited.value.headers is not None and limited.value.headers["x-ratelimit-remaining"] == "0"


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
        assert [member.email for member in client.organizations.members.list(organization.id)] == ["admin@acme.test"]
        assert [item.id for item in client.organizations.invitations.list(organization.id)] == [invitation.id]
