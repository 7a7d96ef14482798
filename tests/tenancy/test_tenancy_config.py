"""Tenancy settings: from code and from the environment, checked at start-up; example_app runs multi-tenant from
environment variables alone (a real ``uvicorn example_app.minimal:app`` process), and no tenancy means no change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from tenancy_support import ACME, ToLoopback, free_socket, query_of, tenant_config

from loopback_support import wait_until_answering
from orginvite.config import Settings
from orginvite.devtenant.app import DevTenant
from orginvite.errors import ConfigurationError
from orginvite.tenancy.rules import TenancyRules

ROOT = Path(__file__).resolve().parents[2]
BASE = {
    "ORGINVITE_ISSUER": "http://127.0.0.1:9/",
    "ORGINVITE_CLIENT_ID": "web",
    "ORGINVITE_CLIENT_SECRET": "web-secret",
    "ORGINVITE_SECRET_KEYS": "k" * 32,
    "ORGINVITE_BASE_URL": "https://myapp.com",
}


def test_tenancy_from_the_environment():
    settings = Settings.from_env({
        **BASE, "ORGINVITE_HOST_TEMPLATE": "{organization}.myapp.com", "ORGINVITE_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
        "ORGINVITE_ALLOWED_HOSTS": "admin.myapp.com,*.preview.myapp.com", "ORGINVITE_ORGANIZATION_CACHE_TTL": "60",
    })
    rules = settings.tenancy
    assert rules is not None and rules.apex_host == "myapp.com"
    assert rules.allowed_hosts == ("admin.myapp.com", "*.preview.myapp.com")
    assert rules.trusts("10.1.2.3") and rules.trusts("::1") and not rules.trusts("127.0.0.1")
    assert settings.organization_lookup == "name" and settings.organization_cache_ttl == 60


def test_no_tenancy_variables_means_tenancy_off():
    assert Settings.from_env(BASE).tenancy is None
    assert Settings.from_env({**BASE, "ORGINVITE_HOST_TEMPLATE": "  "}).tenancy is None
    kw = dict(issuer="http://127.0.0.1:9/", client_id="a", client_secret="b", secret_keys=("k" * 32,),
              base_url="https://myapp.com")
    assert Settings(**kw, tenancy=TenancyRules()).tenancy is None  # empty rules: nothing to route


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ORGINVITE_HOST_TEMPLATE": "myapp.com"}, "ORGINVITE_HOST_TEMPLATE"),
        ({"ORGINVITE_HOST_TEMPLATE": "{organization}-x.myapp.com"}, "ORGINVITE_HOST_TEMPLATE"),
        ({"ORGINVITE_PATH_TEMPLATE": "/o/{organization}"}, "ORGINVITE_APEX_HOST"),
        ({"ORGINVITE_PATH_TEMPLATE": "o/{organization}", "ORGINVITE_APEX_HOST": "myapp.com"},
         "ORGINVITE_PATH_TEMPLATE"),
        ({"ORGINVITE_HOST_TEMPLATE": "{organization}.myapp.com", "ORGINVITE_TRUSTED_PROXIES": "proxy.local"},
         "ORGINVITE_TRUSTED_PROXIES"),
        ({"ORGINVITE_ALLOWED_HOSTS": "bad host"}, "ORGINVITE_ALLOWED_HOSTS"),
        ({"ORGINVITE_HOST_TEMPLATE": "{organization}.other.com"}, "ORGINVITE_BASE_URL"),  # base_url not served
        ({"ORGINVITE_HOST_TEMPLATE": "{organization}.myapp.com", "ORGINVITE_ORGANIZATION_LOOKUP": "management"},
         "ORGINVITE_ORGANIZATION_LOOKUP"),
        ({"ORGINVITE_HOST_TEMPLATE": "{organization}.myapp.com", "ORGINVITE_ORGANIZATION_LOOKUP": "guess"},
         "ORGINVITE_ORGANIZATION_LOOKUP"),
        ({"ORGINVITE_HOST_TEMPLATE": "{organization}.myapp.com", "ORGINVITE_MANAGEMENT_CLIENT_ID": "m2m"},
         "ORGINVITE_MANAGEMENT_CLIENT_SECRET"),
        ({"ORGINVITE_ORGANIZATION_CACHE_TTL": "soon"}, "ORGINVITE_ORGANIZATION_CACHE_TTL"),
    ],
)
def test_a_bad_tenancy_setting_stops_start_up_naming_the_variable(env, named):
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({**BASE, **env})
    assert info.value.setting == named


def test_management_credentials_switch_lookup_to_ids():
    settings = Settings.from_env({**BASE, "ORGINVITE_HOST_TEMPLATE": "{organization}.myapp.com",
                                  "ORGINVITE_MANAGEMENT_CLIENT_ID": "m2m", "ORGINVITE_MANAGEMENT_CLIENT_SECRET": "s"})
    assert settings.organization_lookup == "management"
    named = Settings.from_env({**BASE, "ORGINVITE_HOST_TEMPLATE": "{organization}.myapp.com",
                               "ORGINVITE_MANAGEMENT_CLIENT_ID": "m2m", "ORGINVITE_MANAGEMENT_CLIENT_SECRET": "s",
                               "ORGINVITE_ORGANIZATION_LOOKUP": "name"})
    assert named.organization_lookup == "name"


def test_http_is_accepted_for_reserved_test_names_only():
    assert Settings.from_env({**BASE, "ORGINVITE_BASE_URL": "http://myapp.test:8000"}).base_url.startswith("http:")
    with pytest.raises(ConfigurationError):
        Settings.from_env({**BASE, "ORGINVITE_BASE_URL": "http://myapp.com"})
    with pytest.raises(ConfigurationError):
        Settings.from_env({**BASE, "ORGINVITE_BASE_URL": "http://myapp.testing.com"})


def test_without_tenancy_the_middleware_adds_no_routing():
    from orginvite.login.middleware import OrgInviteMiddleware

    middleware = OrgInviteMiddleware(lambda *a: None, Settings.from_env(BASE))
    assert middleware.tenants is None


def test_example_app_runs_multi_tenant_from_environment_variables_only():
    sock = free_socket()  # handed to uvicorn (--fd): the port is known before the app reads its environment
    port = sock.getsockname()[1]
    tenant = DevTenant(config=tenant_config(port))
    server = tenant.serve().start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ORGINVITE_", "AUTH0_"))},
        "ORGINVITE_ISSUER": server.url + "/",
        "ORGINVITE_CLIENT_ID": "web",
        "ORGINVITE_CLIENT_SECRET": "web-secret",
        "ORGINVITE_SECRET_KEYS": "e" * 40,
        "ORGINVITE_BASE_URL": f"http://myapp.test:{port}",
        "ORGINVITE_HOST_TEMPLATE": f"{{organization}}.myapp.test:{port}",
    }
    sock.listen()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "example_app.minimal:app", "--fd", str(sock.fileno()),
         "--no-proxy-headers", "--log-level", "warning"],
        cwd=ROOT, env=env, pass_fds=(sock.fileno(),), stderr=subprocess.PIPE,
    )
    client = httpx2.Client(transport=ToLoopback(), follow_redirects=False, timeout=10)
    try:
        wait_until_answering(f"http://myapp.test:{port}/", process=process, client=client)
        assert client.get(f"http://127.0.0.1:{port}/").status_code == 400  # not a host we serve
        link = f"http://myapp.test:{port}/login?invitation=tkt&organization={ACME}&organization_name=acme"
        moved = client.get(link)
        assert moved.status_code == 303
        assert moved.headers["location"].startswith(f"http://acme.myapp.test:{port}/login?invitation=tkt&")
        start = client.get(f"http://acme.myapp.test:{port}/login")
        authorize = query_of(start.headers["location"])
        assert authorize["organization"] == "acme"
        assert authorize["redirect_uri"] == f"http://acme.myapp.test:{port}/callback"
        assert client.get(f"http://acme.myapp.test:{port}/me").status_code == 401
    finally:
        client.close()
        process.terminate()
        process.wait(10)
        process.stderr.close()
        sock.close()
        server.stop()
        tenant.close()
