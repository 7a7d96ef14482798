"""The README's dev tenant section, as written there: its Python example runs and its config example is valid."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.authorize_rules import callback_allowed
from orginvite.devtenant.config import load_config
from orginvite.devtenant.url_placeholders import resolve_login_uri

README = Path(__file__).resolve().parents[2] / "README.md"


def section_blocks(heading: str, language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    return re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)


def test_the_python_example_runs() -> None:
    [example] = section_blocks("The development tenant", "python")
    exec(compile(example, "README.md (dev tenant)", "exec"), {})


def test_the_config_example_is_a_valid_tenant() -> None:
    example = section_blocks("The development tenant", "toml")[0]
    config = load_config(tomllib.loads(example))
    with DevTenant(config) as tenant:
        [organization] = tenant.store.list_organizations()[0]
        assert organization["name"] == "acme" and organization["metadata"] == {"lang": "fr"}
        owner = tenant.store.get_user_by_email("owner@acme.test")
        roles, _ = tenant.store.list_member_roles(organization["id"], owner["user_id"])
        assert [role["name"] for role in roles] == ["admin"]
        assert tenant.settings["friendly_name"] == "Acme Dev"


def test_the_placeholder_example_does_what_the_readme_says() -> None:
    example = section_blocks("The development tenant", "toml")[1]
    config = load_config(tomllib.loads(example))
    [client], [organization] = config.clients, config.organizations
    callbacks = client["callbacks"]
    assert callback_allowed("http://acme.myapp.test:8000/callback", callbacks, organization_name="acme")
    assert not callback_allowed("http://acme.myapp.test:8000/callback", callbacks, organization_name="globex")
    assert not callback_allowed("http://acme.myapp.test:8000/callback", callbacks)
    assert resolve_login_uri(client["initiate_login_uri"], organization["metadata"]) == (
        "http://acme.myapp.test:8000/login"
    )
    assert config.settings["default_redirection_uri"] == "http://127.0.0.1:8000/login"


def test_the_api_example_is_valid_as_written() -> None:
    example = section_blocks("The development tenant", "toml")[2]
    config = load_config(tomllib.loads(example))
    [api], [role], [client] = config.apis, config.roles, config.clients
    assert api["token_lifetime"] == 300 and api["token_dialect"] == "access_token_authz"
    assert [scope["value"] for scope in api["scopes"]] == ["invoices:read", "invoices:write"]
    assert role["permissions"] == [
        {"resource_server_identifier": "https://api.acme.test/", "permission_name": "invoices:write"}
    ]
    settings = client["refresh_token"]
    assert settings["rotation_type"] == "rotating" and settings["leeway"] == 2
    assert not settings["infinite_token_lifetime"] and settings["idle_token_lifetime"] == 1296000
