"""`orginvite tenant serve` on loopback answers only requests addressed to loopback names, --issuer's host and
--allowed-host names: a DNS-rebinding page (its own name re-resolved to 127.0.0.1, so its requests carry
``Host: attacker.test``) cannot read the outbox or use the published demo credentials. On another interface
(``--host 0.0.0.0``) nothing changes: that is checked on the decision, not with non-loopback traffic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from test_cli import Running

from orginvite.devtenant import DevTenant
from orginvite.devtenant.cli import build_parser, host_patterns, main
from orginvite.devtenant.config import DEMO_M2M_CLIENT_ID, DEMO_M2M_CLIENT_SECRET
from orginvite.devtenant.hosts import allowed_host_pattern, host_allowed, is_loopback_bind, request_host

PATHS = ("/outbox/", "/.well-known/openid-configuration")


def start(tmp_path: Path, *options: str) -> tuple[Running, str]:
    running = Running("serve", "--port", "0", "--ephemeral", "--log-level", "warning", *options, cwd=tmp_path)
    port = running.wait_for(r"listening on:\s+http://127\.0\.0\.1:(\d+)/").group(1)
    running.wait_serving(f"http://127.0.0.1:{port}")
    return running, port


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[tuple[Running, str]]:
    running, port = start(tmp_path)
    try:
        yield running, port
    finally:
        assert running.stop() == 0


def get(port: str, path: str, host: str) -> httpx2.Response:
    return httpx2.get(f"http://127.0.0.1:{port}{path}", headers={"host": host}, timeout=10)


def assert_refused(response: httpx2.Response) -> None:
    assert response.status_code == 400
    assert response.text == "host not allowed\n"
    assert "location" not in response.headers


def test_a_foreign_host_is_refused_without_echo_or_redirect(tenant: tuple[Running, str]) -> None:
    _, port = tenant
    for path in PATHS:
        for host in (f"attacker.test:{port}", "attacker.test", f"127.0.0.1.attacker.test:{port}",
                     f"localhost.attacker.test:{port}", "www.localhost.attacker.test", "", "a b"):
            assert_refused(get(port, path, host))
    token = httpx2.post(f"http://127.0.0.1:{port}/oauth/token", headers={"host": "attacker.test"}, timeout=10,
                       data={"grant_type": "client_credentials", "client_id": DEMO_M2M_CLIENT_ID,
                             "client_secret": DEMO_M2M_CLIENT_SECRET})
    assert_refused(token)


def test_loopback_names_are_answered(tenant: tuple[Running, str]) -> None:
    running, port = tenant
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"app.localhost:{port}", f"[::1]:{port}"):
        for path in PATHS:
            assert get(port, path, host).status_code == 200, (host, path)
    # The issuer is still derived from the (now allow-listed) Host.
    discovery = get(port, "/.well-known/openid-configuration", f"localhost:{port}").json()
    assert discovery["issuer"] == f"http://localhost:{port}/"
    assert "answers Host: loopback names (--allowed-host adds one)" in "".join(running.output)


def test_issuer_host_and_allowed_hosts_are_answered(tmp_path: Path) -> None:
    running, port = start(tmp_path, "--issuer", "http://tenant.dev.test:8765", "--allowed-host", "*.myapp.test",
                          "--allowed-host", "Box.Example.")
    try:
        for host in ("tenant.dev.test:8765", f"acme.myapp.test:{port}", "a.b.myapp.test", "box.example",
                     f"127.0.0.1:{port}"):
            for path in PATHS:
                assert get(port, path, host).status_code == 200, (host, path)
        discovery = get(port, "/.well-known/openid-configuration", "acme.myapp.test").json()
        assert discovery["issuer"] == "http://tenant.dev.test:8765/"  # pinned: the Host does not move it
        for host in ("myapp.test", "evilmyapp.test", "other.dev.test", "attacker.test", "box.example.attacker.test"):
            assert_refused(get(port, "/outbox/", host))
        assert "answers Host: loopback names, *.myapp.test, box.example, tenant.dev.test" in "".join(running.output)
    finally:
        assert running.stop() == 0


def test_a_bad_allowed_host_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("http://acme.myapp.test", "acme.myapp.test:8000", "*", "a.*.test", "*.127.0.0.1"):
        assert main(["serve", "--ephemeral", "--allowed-host", value]) == 2
        assert "--allowed-host" in capsys.readouterr().err


def test_in_process_dev_tenant_is_not_guarded() -> None:
    with DevTenant() as tenant, tenant.serve() as server:
        response = httpx2.get(server.url + "/.well-known/openid-configuration", headers={"host": "acme.myapp.test"})
    assert response.status_code == 200
    assert response.json()["issuer"] == "http://acme.myapp.test/"


@pytest.mark.parametrize(("interface", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("", False), ("myhost.lan", False),
])
def test_the_guard_applies_only_to_a_loopback_interface(interface: str, loopback: bool) -> None:
    assert is_loopback_bind(interface) is loopback
    args = build_parser().parse_args(["serve", "--host", interface, "--allowed-host", "*.myapp.test"])
    assert host_patterns(args) == (["*.myapp.test"] if loopback else None)


def test_host_patterns_add_the_issuer_host() -> None:
    args = build_parser().parse_args(["serve", "--issuer", "https://Auth.Dev.Test:9443/t/"])
    assert host_patterns(args) == ["auth.dev.test"]
    args = build_parser().parse_args(["serve", "--issuer", "http://[::1]:8765/"])
    assert host_patterns(args) == ["::1"]


@pytest.mark.parametrize(("header", "host"), [
    ("127.0.0.1:8765", "127.0.0.1"), ("LocalHost", "localhost"), ("localhost.:80", "localhost"),
    ("[::1]:8765", "::1"), ("[0:0::1]", "::1"), ("acme.myapp.test:8000", "acme.myapp.test"),
    (None, None), ("", None), ("a b", None), ("x:y", None), ("[::1", None), ("user@host", None),
    ("[nope]:1", None), ("a:1:2", None), ("-bad-.test", None),
])
def test_request_host(header: str | None, host: str | None) -> None:
    assert request_host(header) == host


@pytest.mark.parametrize(("host", "allowed"), [
    ("127.0.0.1", True), ("127.255.0.9", True), ("::1", True), ("localhost", True), ("a.b.localhost", True),
    ("acme.myapp.test", True), ("x.y.myapp.test", True), ("box.example", True),
    ("myapp.test", False), ("evilmyapp.test", False), ("127.0.0.1.attacker.test", False),
    ("localhost.attacker.test", False), ("128.0.0.1", False), ("10.0.0.1", False), ("::2", False),
    ("::ffff:7f00:1", False), ("box.example.test", False), (None, False),
])
def test_host_allowed(host: str | None, allowed: bool) -> None:
    assert host_allowed(host, ["*.myapp.test", "box.example"]) is allowed


def test_without_loopback_only_the_listed_names_pass() -> None:
    assert host_allowed("localhost", ["127.0.0.1", "localhost"], loopback=False)
    assert not host_allowed("127.0.0.2", ["127.0.0.1", "localhost"], loopback=False)
    assert not host_allowed("app.localhost", ["127.0.0.1", "localhost"], loopback=False)


def test_allowed_host_pattern_normalises() -> None:
    assert allowed_host_pattern("*.MyApp.Test.") == "*.myapp.test"
    assert allowed_host_pattern("[::1]") == "::1"
    assert allowed_host_pattern("192.168.1.5") == "192.168.1.5"
