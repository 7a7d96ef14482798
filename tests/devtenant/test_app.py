"""DevTenant: one object wiring config, store, keys and the ASGI app; served over real loopback."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from starlette.requests import Request

from orginvite.devtenant import config as demo
from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.config import TenantConfigError
from orginvite.testing import LiveServer


def _request(host: str = "127.0.0.1:8765", scheme: str = "http", root_path: str = "") -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": scheme,
            "server": ("127.0.0.1", 8765),
            "path": "/",
            "root_path": root_path,
            "query_string": b"",
            "headers": [(b"host", host.encode())],
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_demo_tenant_is_seeded() -> None:
    with DevTenant() as tenant:
        assert tenant.store.get_client(demo.DEMO_WEB_CLIENT_ID)["organization_usage"] == "allow"
        assert tenant.store.get_organization_by_name("acme")["id"] == demo.DEMO_ACME_ORG_ID
        assert tenant.settings["friendly_name"] == "orginvite dev tenant"
        assert tenant.settings["allow_organization_name_in_authentication_api"] is True
        assert tenant.settings["id_token_roles_claim"] == "https://orginvite.dev/roles"
        assert tenant.keys.jwks()["keys"][0]["kid"] == tenant.keys.current_kid


def test_settings_defaults_for_a_minimal_config() -> None:
    with DevTenant({}) as tenant:
        assert tenant.settings["default_locale"] == "en"
        assert tenant.settings["allow_organization_name_in_authentication_api"] is False
        assert tenant.settings["management_api_rate_limit"] == 0
        assert tenant.settings["id_token_roles_claim"] is None
        assert tenant.store.list_clients() == []
        # a config without connections still has Auth0's default database connection
        assert tenant.store.get_connection_by_name("Username-Password-Authentication") is not None


def test_settings_come_from_the_tenant_table() -> None:
    with DevTenant({"tenant": {"friendly_name": "Acme Dev", "management_api_rate_limit": 30}}) as tenant:
        assert tenant.settings["friendly_name"] == "Acme Dev"
        assert tenant.settings["management_api_rate_limit"] == 30
        assert tenant.store.get_tenant()["friendly_name"] == "Acme Dev"


def test_config_from_a_toml_path(tmp_path: Path) -> None:
    path = tmp_path / "tenant.toml"
    path.write_text('[tenant]\nfriendly_name = "From file"\n[[organizations]]\nname = "initech"\n')
    with DevTenant(path) as tenant:
        assert tenant.settings["friendly_name"] == "From file"
        assert tenant.store.get_organization_by_name("initech") is not None


def test_a_bad_config_raises_naming_the_field() -> None:
    with pytest.raises(TenantConfigError, match=r"clients\[0\]\.organization_usage"):
        DevTenant({"clients": [{"client_id": "x", "organization_usage": "maybe"}]})


def test_issuer_comes_from_the_request_with_a_trailing_slash() -> None:
    with DevTenant() as tenant:
        assert tenant.issuer_for(_request()) == "http://127.0.0.1:8765/"
        assert tenant.issuer_for(_request("localhost:9000", "https")) == "https://localhost:9000/"
        assert tenant.management_audience_for(_request()) == "http://127.0.0.1:8765/api/v2/"


def test_configured_issuer_wins_and_gets_a_trailing_slash() -> None:
    with DevTenant(issuer="https://tenant.example.test") as tenant:
        assert tenant.configured_issuer == "https://tenant.example.test/"
        assert tenant.issuer_for(_request("evil.test")) == "https://tenant.example.test/"
        assert tenant.management_audience_for(_request()) == "https://tenant.example.test/api/v2/"


@pytest.mark.parametrize("issuer", ["ftp://x/", "tenant.example.test", "http://x/?a=1", "http:///path"])
def test_a_malformed_issuer_is_refused(issuer: str) -> None:
    with pytest.raises(TenantConfigError, match="issuer"):
        DevTenant(issuer=issuer)


def test_now_uses_the_injected_clock_and_drives_store_expiry() -> None:
    clock = Clock()
    with DevTenant(clock=clock) as tenant:
        assert tenant.now() == clock.now
        tenant.store.put_transient("code", "c", {"x": 1}, ttl_seconds=60)
        clock.now += 61
        assert tenant.now() == clock.now
        assert tenant.store.get_transient("code", "c") is None
        user = tenant.store.create_user("new@acme.test")
        assert user["created_at"].startswith("2027-01-15T")


def test_serve_answers_healthz_and_index_over_loopback() -> None:
    with DevTenant() as tenant:
        server = tenant.serve()
        assert isinstance(server, LiveServer)
        with server:
            health = httpx2.get(server.url + "/healthz")
            assert health.status_code == 200 and health.json() == {"status": "ok"}
            index = httpx2.get(server.url + "/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    page = index.text
    assert f"{server.url}/.well-known/openid-configuration" in page
    assert f"{server.url}/api/v2/" in page
    assert demo.DEMO_WEB_CLIENT_ID in page and demo.DEMO_ACME_ORG_ID in page
    assert demo.DEMO_WEB_CLIENT_SECRET not in page  # the browser page does not show secrets


def test_index_escapes_tenant_data() -> None:
    config = {
        "tenant": {"friendly_name": "<script>alert(1)</script>"},
        "organizations": [{"name": "evil", "display_name": '<img src=x onerror="alert(1)">'}],
    }
    with DevTenant(config) as tenant, tenant.serve() as server:
        page = httpx2.get(server.url + "/").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<img" not in page and "&lt;img" in page


def test_unknown_paths_are_404_not_500() -> None:
    with DevTenant() as tenant, tenant.serve() as server:
        assert httpx2.get(server.url + "/no/such/page").status_code == 404
        assert httpx2.post(server.url + "/healthz").status_code == 405


def test_the_management_api_is_mounted_under_api_v2() -> None:
    with DevTenant() as tenant:
        mounts = [route for route in tenant.app.routes if getattr(route, "path", None) == "/api/v2"]
        assert len(mounts) == 1
        with tenant.serve() as server:
            response = httpx2.get(server.url + "/api/v2/organizations")
    assert response.status_code == 401  # answered by the Management API (no bearer token), not a 404
    assert response.json()["statusCode"] == 401


def test_a_file_database_keeps_keys_and_data_across_restarts(tmp_path: Path) -> None:
    db = tmp_path / "tenant.sqlite3"
    with DevTenant(db=db) as first:
        token = first.keys.sign({"sub": "x"})
        created = first.store.create_organization("initech")
        first.store.update_user(demo.DEMO_ADMIN_USER_ID, {"name": "Renamed through the API"})
    with DevTenant(db=db) as second:  # the demo seeds again without failing
        assert second.keys.verify(token) == {"sub": "x"}
        assert second.store.get_organization(created["id"]) == created
        assert second.store.get_user(demo.DEMO_ADMIN_USER_ID)["name"] == "Renamed through the API"
        assert second.store.list_organizations()[1] == 3
