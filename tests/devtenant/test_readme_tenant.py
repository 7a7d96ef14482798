"""The dev tenant's documentation, as written: the README section's Python example runs, and the config examples
of its reference (src/orginvite/devtenant/README.md, linked from that section) are valid and do what they say."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.authorize_rules import callback_allowed
from orginvite.devtenant.config import load_config
from orginvite.devtenant.url_placeholders import resolve_login_uri

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
REFERENCE = ROOT / "src" / "orginvite" / "devtenant" / "README.md"


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def section_blocks(heading: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(README.read_text(encoding="utf-8"), heading), re.DOTALL)


def reference_blocks(heading: str, language: str) -> list[str]:
    """The blocks of one section of the dev tenant's reference, which the README's section links."""
    readme_section = _section(README.read_text(encoding="utf-8"), "The development tenant")
    assert "(src/orginvite/devtenant/README.md)" in readme_section
    text = _section(REFERENCE.read_text(encoding="utf-8"), heading)
    return re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)


def test_the_python_example_runs() -> None:
    [example] = section_blocks("The development tenant", "python")
    exec(compile(example, "README.md (dev tenant)", "exec"), {})


def test_the_config_example_is_a_valid_tenant() -> None:
    [example] = reference_blocks("The config file", "toml")
    config = load_config(tomllib.loads(example))
    with DevTenant(config) as tenant:
        [organization] = tenant.store.list_organizations()[0]
        assert organization["name"] == "acme" and organization["metadata"] == {"lang": "fr"}
        owner = tenant.store.get_user_by_email("owner@acme.test")
        roles, _ = tenant.store.list_member_roles(organization["id"], owner["user_id"])
        assert [role["name"] for role in roles] == ["admin"]
        assert tenant.settings["friendly_name"] == "Acme Dev"


def test_the_placeholder_example_does_what_the_readme_says() -> None:
    [example] = reference_blocks("Organization placeholders in URLs", "toml")
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
    [example] = reference_blocks("APIs, access tokens and refresh tokens", "toml")
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
