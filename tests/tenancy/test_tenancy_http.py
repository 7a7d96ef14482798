"""Multi-tenant routing over real loopback HTTP: the app as ``*.myapp.test`` against the dev tenant.

Every rule of issue 5: hosts that match nothing (400, never a redirect), forwarded headers only from trusted
proxies, the apex -> organization 303 with validated parameters only, contradicting links refused, the
organization taken from the host (by name, or by ID through the Management API), the token checked against the
host, per-host callback URLs and sessions that do not travel between organizations.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from tenancy_support import ACME, GLOBEX, MiniOP, TenancyServers, TenantWorld, query_of

from login_support import sign_out
from orginvite.tenancy.rules import TenancyRules
from orginvite.testing import LiveServer


def assert_refused(response, page: str, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert "location" not in response.headers
    assert "set-cookie" not in response.headers
    assert f'data-page="{page}"' in response.text


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TenancyServers]:
    with TenancyServers(tmp_path_factory.mktemp("tenancy")) as servers:
        yield servers


@pytest.fixture
def world(servers: TenancyServers) -> Iterator[TenantWorld]:
    # conftest's world, with a fresh tenant and app per test served on the module's two servers
    w = TenantWorld(servers=servers)
    w.configure()
    yield w
    w.close()


# -- the host check -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "evil.test",
        "myapp.test.evil.test",
        "acme.myapp.test.evil.test",
        "evilmyapp.test",
        "a.b.myapp.test",  # one label only stands for the organization
        "www.myapp.test",  # reserved label
        "xn--80ak6aa92e.myapp.test",  # punycode label: never an organization name
        "ACME.myapp.test:1",  # right shape, wrong port
        "acme.myapp.test@evil.test",
        "acme.myapp.test/evil",
        "127.0.0.1",
        "",
    ],
)
def test_hosts_that_match_nothing_get_a_400_page_never_a_redirect(world, host):
    for path in ("/", "/me", "/login?organization_name=acme&organization=" + ACME, "/callback?state=x", "/logout"):
        host_header = host.replace(":1", f":{world.port + 1 if world.port < 65535 else 1}")
        response = world.raw(path, host_header, headers={"accept": "text/html"})
        assert_refused(response, "unknown_host")
        assert "evil" not in response.text  # the header value is never echoed


def test_unknown_host_answers_json_to_api_clients(world):
    response = world.raw("/me", "evil.test", headers={"accept": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_host" and response.json()["code"] == "unknown_host"


def test_known_hosts_are_served_case_and_trailing_dot_insensitively(world):
    for host in (f"acme.myapp.test:{world.port}", f"ACME.MyApp.test.:{world.port}"):
        assert world.raw("/me", host).json()["organization"] == {"id": None, "name": "acme"}
    apex = world.raw("/me", f"myapp.test:{world.port}")
    assert apex.status_code == 401 and apex.json()["organization"] is None


def _raw_http(world, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", world.port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_two_host_headers_and_a_missing_host_are_refused(world):
    port = world.port
    two = _raw_http(world, f"GET /me HTTP/1.1\r\nHost: acme.myapp.test:{port}\r\nHost: globex.myapp.test:{port}\r\n"
                           "Connection: close\r\n\r\n".encode())
    assert two.split(b"\r\n", 1)[0].split(b" ")[1] == b"400"
    assert b"globex" not in two.split(b"\r\n\r\n", 1)[1]
    missing = _raw_http(world, b"GET /me HTTP/1.0\r\n\r\n")
    assert missing.split(b"\r\n", 1)[0].split(b" ")[1] == b"400"
    assert b'data-page="unknown_host"' in missing


# -- forwarded headers ----------------------------------------------------------------------------------------


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(world):
    port = world.port
    acme = f"acme.myapp.test:{port}"
    for header, value in (("x-forwarded-host", f"globex.myapp.test:{port}"),
                          ("forwarded", f'host="globex.myapp.test:{port}";proto=https'),
                          ("x-forwarded-host", "evil.test")):
        response = world.raw("/me", acme, headers={header: value})
        assert response.json()["organization"]["name"] == "acme", header
    # an unserved Host is not rescued by a forwarded header from an untrusted peer
    assert_refused(world.raw("/me", "evil.test", headers={"x-forwarded-host": acme}), "unknown_host")
    # nor does a forged X-Forwarded-For make the peer look like a proxy (uvicorn's proxy handling is off)
    response = world.raw("/me", acme, headers={"x-forwarded-for": "10.0.0.1", "x-forwarded-host": "evil.test"})
    assert response.status_code == 401 and response.json()["organization"]["name"] == "acme"


@pytest.fixture
def proxied(world):
    world.configure(tenancy=TenancyRules(host_template=f"{{organization}}.myapp.test:{world.port}",
                                         trusted_proxies=("127.0.0.0/8",), allowed_hosts=("internal.test",)))
    return world


def test_forwarded_host_from_a_trusted_proxy_decides(proxied):
    port = proxied.port
    for header, value in (("x-forwarded-host", f"globex.myapp.test:{port}"),
                          ("forwarded", f'for=1.2.3.4;host="globex.myapp.test:{port}"')):
        response = proxied.raw("/me", "internal.test", headers={header: value})
        assert response.json()["organization"]["name"] == "globex", header
    start = proxied.raw("/login", "internal.test", headers={"x-forwarded-host": f"globex.myapp.test:{port}"})
    assert start.status_code == 302
    assert query_of(start.headers["location"])["redirect_uri"] == f"http://globex.myapp.test:{port}/callback"


@pytest.mark.parametrize(
    "headers",
    [
        {"x-forwarded-host": "evil.test"},  # the proxy passes on a host we do not serve
        {"x-forwarded-host": "acme.myapp.test:{port}, evil.test"},  # appended, not overwritten: the forgery shows
        {"x-forwarded-host": "acme.myapp.test:{port}", "forwarded": "host=globex.myapp.test:{port}"},
        {"forwarded": "host=acme.myapp.test:{port}, host=evil.test"},
        {"x-forwarded-host": "acme.myapp.test:{port}\\@evil.test"},
    ],
)
def test_forwarded_host_attacks_through_a_trusted_proxy_are_refused(proxied, headers):
    headers = {k: v.format(port=proxied.port) for k, v in headers.items()}
    for path in ("/me", "/login"):
        assert_refused(proxied.raw(path, "internal.test", headers=headers), "unknown_host")


# -- invitation links: apex -> organization host ------------------------------------------------------------


def test_invitation_on_the_apex_is_moved_303_with_the_validated_parameters_only(world):
    url = (f"/login?invitation=tkt_Abc-123&organization={ACME}&organization_name=acme&returnTo=/me"
           "&redirect_uri=http://evil.test/&prompt=none&foo=bar")
    response = world.http.get(world.apex + url)
    assert response.status_code == 303
    assert "set-cookie" not in response.headers
    assert response.headers["location"] == (
        f"{world.org_url('acme')}/login?invitation=tkt_Abc-123&organization={ACME}&organization_name=acme"
        "&returnTo=%2Fme"
    )
    assert response.headers["cache-control"] == "no-store" and response.headers["referrer-policy"] == "no-referrer"


def test_an_invalid_link_on_the_apex_is_a_400_not_a_redirect(world):
    response = world.http.get(world.apex + "/login?invitation=x&organization_name=acme")  # no organization
    assert_refused(response, "invalid_link")
    response = world.http.get(world.apex + f"/login?organization={ACME}&organization_name=www")  # reserved name
    assert_refused(response, "organization_mismatch")


def test_a_link_contradicting_its_host_is_refused_with_a_page_that_explains(world):
    acme = world.org_url("acme")
    response = world.http.get(f"{acme}/login?invitation=tkt1&organization={GLOBEX}&organization_name=globex",
                              headers={"accept-language": "de"})
    assert_refused(response, "organization_mismatch")
    assert "<bdi>globex</bdi>" in response.text and "<bdi>acme</bdi>" in response.text
    assert "tkt1" not in response.text
    assert response.headers["content-language"] == "de" and "Organisation" in response.text
    # an organization given by name that is not the host's
    response = world.http.get(f"{acme}/login?organization=globex", headers={"accept": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "organization_mismatch"


def test_invitation_from_the_apex_to_a_member_session_on_the_org_host(world):
    invitation = world.invite(ACME, "newbie@acme.test")
    assert invitation["invitation_url"].startswith(world.apex + "/login?")
    moved = world.http.get(invitation["invitation_url"])
    assert moved.status_code == 303 and moved.headers["location"].startswith(world.org_url("acme") + "/login?")
    start = world.http.get(moved.headers["location"])
    assert start.status_code == 302
    authorize = query_of(start.headers["location"])
    assert authorize["organization"] == ACME and authorize["invitation"] == invitation["ticket_id"]
    assert authorize["redirect_uri"] == world.org_url("acme") + "/callback"
    assert "organization_name" not in authorize
    done = world.sign_in(start, "newbie@acme.test", name="New Bie")
    assert done.status_code == 303 and done.headers["location"] == "/"
    me = world.http.get(world.org_url("acme") + "/me").json()
    assert me["email"] == "newbie@acme.test" and me["organization"] == {"id": ACME, "name": "acme"}
    # the session stays on acme's host: the jar does not send it elsewhere, and a copied cookie is worthless there
    assert world.http.get(world.org_url("globex") + "/me").status_code == 401
    assert world.http.get(world.apex + "/me").status_code == 401


# -- ordinary login on an organization's host -----------------------------------------------------------------


def test_ordinary_login_takes_the_organization_from_the_host(world):
    start = world.http.get(world.org_url("acme") + "/login")
    authorize = query_of(start.headers["location"])
    assert authorize["organization"] == "acme"  # the provider accepts names
    assert authorize["redirect_uri"] == world.org_url("acme") + "/callback"
    done = world.sign_in(start, "ann@acme.test")
    assert done.status_code == 303
    assert world.http.get(world.org_url("acme") + "/me").json()["organization"] == {"id": ACME, "name": "acme"}


def test_a_session_is_not_valid_on_another_organizations_host(world):
    world.sign_in(world.http.get(world.org_url("acme") + "/login"), "ann@acme.test")
    [cookie] = [c for c in world.http.cookies.jar if c.name == "orginvite_session"]
    assert cookie.domain == "acme.myapp.test"  # host-only: the browser keeps it on acme's host
    stolen = {"cookie": f"orginvite_session={cookie.value}"}
    port = world.port
    assert world.raw("/me", f"acme.myapp.test:{port}", headers=stolen).status_code == 200
    for host in (f"globex.myapp.test:{port}", f"myapp.test:{port}"):
        replay = world.raw("/me", host, headers=stolen)
        assert replay.status_code == 401, host
        assert replay.json()["organization"] == (None if host.startswith("myapp") else {"id": None, "name": "globex"})


def test_anonymous_requests_see_the_hosts_organization(world):
    assert world.http.get(world.org_url("globex") + "/me").json() == {
        "authenticated": False, "email": None, "organization": {"id": None, "name": "globex"}}


def test_logout_returns_to_the_organizations_own_host(world):
    world.sign_in(world.http.get(world.org_url("acme") + "/login"), "ann@acme.test")
    out = sign_out(world.http, world.org_url("acme") + "/logout")
    assert out.status_code == 303
    back = query_of(out.headers["location"])
    assert world.org_url("acme") + "/" in back.values()
    assert world.http.get(world.org_url("acme") + "/me").status_code == 401
    # the dev tenant accepts the wildcard logout URL and sends the browser back there
    assert world.http.get(out.headers["location"]).headers["location"] == world.org_url("acme") + "/"


def test_another_organizations_host_cannot_sign_a_member_out(world):
    """``same-site`` is another subdomain: here globex's host, whose pages are not acme's to trust."""
    world.sign_in(world.http.get(world.org_url("acme") + "/login"), "ann@acme.test")
    for headers in ({"sec-fetch-site": "same-site"}, {"origin": world.org_url("globex")}):
        for method in ("GET", "POST"):
            refused = world.http.request(method, world.org_url("acme") + "/logout", headers=headers)
            assert refused.status_code == 403 and 'data-page="logout_confirm"' in refused.text
            assert "set-cookie" not in refused.headers
    assert world.http.get(world.org_url("acme") + "/me").status_code == 200
    own = sign_out(world.http, world.org_url("acme") + "/logout", headers={"origin": world.org_url("acme"),
                                                                          "sec-fetch-site": "same-origin"})
    assert own.status_code == 303 and world.http.get(world.org_url("acme") + "/me").status_code == 401


def test_the_interstitial_form_is_same_origin_on_the_org_host(world):
    world.sign_in(world.http.get(world.org_url("acme") + "/login"), "ann@acme.test")
    acme = world.org_url("acme")
    page = world.http.get(f"{acme}/login?invitation=tkt2&organization={ACME}&organization_name=acme")
    assert 'data-page="interstitial"' in page.text
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    foreign = world.http.post(acme + "/login", data={"csrf_token": token, "action": "continue"},
                              headers={"origin": world.org_url("globex")})
    assert foreign.status_code == 403
    page = world.http.get(f"{acme}/login?invitation=tkt2&organization={ACME}&organization_name=acme")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    same = world.http.post(acme + "/login", data={"csrf_token": token, "action": "continue"},
                           headers={"origin": acme})
    assert same.status_code == 303 and query_of(same.headers["location"])["redirect_uri"] == acme + "/callback"


# -- the token must belong to the host's organization ---------------------------------------------------------


@pytest.fixture
def mini(world):
    op = MiniOP()
    server = LiveServer(op.app).start()
    world.configure(issuer=server.url + "/", client_id="test-client", client_secret="test-client-secret")
    yield world, op
    server.stop()


@pytest.mark.parametrize("claims", [{"org_name": "globex", "org_id": GLOBEX}, {"org_name": None}])
def test_a_token_for_another_organization_than_the_hosts_is_refused(mini, claims):
    world, op = mini
    op.claims = claims
    start = world.http.get(world.org_url("acme") + "/login")
    assert query_of(start.headers["location"])["organization"] == "acme"
    callback = world.http.get(start.headers["location"]).headers["location"]
    page = world.http.get(callback)
    assert page.status_code == 403 and 'data-page="forbidden"' in page.text
    assert world.http.get(world.org_url("acme") + "/me").status_code == 401


def test_an_invitation_by_id_on_the_org_host_is_checked_against_the_host_at_the_callback(mini):
    world, op = mini
    op.claims = {"org_id": GLOBEX, "org_name": "globex"}  # the ID of another organization slipped in
    start = world.http.get(world.org_url("acme") + f"/login?invitation=tkt3&organization={GLOBEX}")
    page = world.http.get(world.http.get(start.headers["location"]).headers["location"])
    assert page.status_code == 403
    op.claims = {"org_id": ACME, "org_name": "acme"}
    start = world.http.get(world.org_url("acme") + f"/login?invitation=tkt4&organization={ACME}")
    done = world.http.get(world.http.get(start.headers["location"]).headers["location"])
    assert done.status_code == 303 and world.http.get(world.org_url("acme") + "/me").status_code == 200


def test_a_callback_replayed_on_another_host_is_refused(mini):
    world, op = mini
    start = world.http.get(world.org_url("acme") + "/login")
    callback = world.http.get(start.headers["location"]).headers["location"]
    parts = urlsplit(callback)
    tx = {c.name: c.value for c in world.http.cookies.jar if c.name.startswith("orginvite_tx_")}
    cookie = "; ".join(f"{k}={v}" for k, v in tx.items())
    replay = world.raw(f"{parts.path}?{parts.query}", f"globex.myapp.test:{world.port}", headers={"cookie": cookie})
    assert replay.status_code == 400 and 'data-page="transaction_expired"' in replay.text
    assert op.token_requests == 0


# -- names resolved to IDs through the Management API --------------------------------------------------------


@pytest.fixture
def managed(servers):
    w = TenantWorld(names=False, servers=servers)
    w.configure(management_client_id="m2m", management_client_secret="m2m-secret", organization_cache_ttl=300)
    yield w
    w.close()


def test_the_hosts_name_is_resolved_to_an_id_once_and_cached(managed):
    world = managed
    directory = world.middleware.tenants.directory
    for _ in range(2):
        start = world.http.get(world.org_url("acme") + "/login")
        assert start.status_code == 302, start.text[:300]
        assert query_of(start.headers["location"])["organization"] == ACME
    assert directory.lookups == 1
    done = world.sign_in(start, "ann@acme.test")
    assert done.status_code == 303
    me = world.http.get(world.org_url("acme") + "/me").json()
    assert me["organization"] == {"id": ACME, "name": "acme"}
    # anonymous requests see the cached ID, and never wait on the Management API for it
    assert world.http.get(world.org_url("acme") + "/me").json()["organization"]["id"] == ACME
    with world.client() as anonymous:
        assert anonymous.get(world.org_url("globex") + "/me").json()["organization"] == {"id": None,
                                                                                          "name": "globex"}
    assert directory.lookups == 1


def test_an_unknown_organization_name_gets_a_clear_page(managed):
    world = managed
    page = world.http.get(world.org_url("nosuch") + "/login", headers={"accept-language": "fr"})
    assert page.status_code == 404 and 'data-page="unknown_organization"' in page.text
    assert "<bdi>nosuch</bdi>" in page.text and "location" not in page.headers
    assert not [c for c in world.http.cookies.jar if c.name.startswith("orginvite_tx_")]
    again = world.http.get(world.org_url("nosuch") + "/login", headers={"accept": "application/json"})
    assert again.json() == {"error": "unknown_organization", "organization": "nosuch",
                            "message": "No organization has this name."}
    assert world.middleware.tenants.directory.lookups == 1  # the miss is cached too


def test_an_invitation_for_another_organizations_id_is_refused_before_the_provider(managed):
    world = managed
    query = f"/login?invitation=tkt5&organization={GLOBEX}&organization_name=acme"
    page = world.http.get(world.org_url("acme") + query)
    assert page.status_code == 400 and 'data-page="organization_mismatch"' in page.text


def test_management_api_down_gives_the_provider_unavailable_page(managed):
    world = managed
    world.configure(management_client_id="m2m", management_client_secret="wrong-secret")
    page = world.http.get(world.org_url("acme") + "/login")
    assert page.status_code == 502 and 'data-page="provider_unavailable"' in page.text


# -- path routing -------------------------------------------------------------------------------------------


@pytest.fixture
def paths(world):
    world.configure(tenancy=TenancyRules(path_template="/o/{organization}", apex_host=f"myapp.test:{world.port}"))
    return world


def test_path_routing_from_the_apex_link_to_a_session_under_the_orgs_path(paths):
    world = paths
    moved = world.http.get(world.apex + f"/login?invitation=t&organization={ACME}&organization_name=acme")
    assert moved.status_code == 303
    assert moved.headers["location"] == (
        f"{world.apex}/o/acme/login?invitation=t&organization={ACME}&organization_name=acme")
    start = world.http.get(world.apex + "/o/acme/login")
    authorize = query_of(start.headers["location"])
    assert authorize["organization"] == "acme" and authorize["redirect_uri"] == world.apex + "/callback"
    done = world.sign_in(start, "ann@acme.test")
    assert done.status_code == 303 and done.headers["location"] == "/o/acme/"
    assert world.http.get(world.apex + "/o/acme/me").json()["organization"] == {"id": ACME, "name": "acme"}
    assert world.http.get(world.apex + "/o/globex/me").status_code == 401  # same host, other organization
    # an invitation while signed in: the interstitial's form posts back under the organization's path
    page = world.http.get(world.apex + f"/o/acme/login?invitation=t2&organization={ACME}&organization_name=acme")
    assert 'data-page="interstitial"' in page.text and 'action="/o/acme/login"' in page.text
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    go = world.http.post(world.apex + "/o/acme/login", data={"csrf_token": token, "action": "continue"})
    assert go.status_code == 303 and query_of(go.headers["location"])["invitation"] == "t2"
    assert world.http.get(world.apex + "/o/globex/login?organization=acme").status_code == 400
