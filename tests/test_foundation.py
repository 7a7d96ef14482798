"""The package skeleton: the CLI dispatcher and the loopback live server every other suite relies on."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import orginvite
from orginvite import ConfigurationError, OrgInviteError
from orginvite.cli import main
from orginvite.testing import LiveServer


def test_cli_without_arguments_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    # a missing command is a usage error, the same for `orginvite` and `orginvite tenant`
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: orginvite") and "tenant" in err
    assert main(["tenant"]) == 2
    assert capsys.readouterr().err.startswith("usage: orginvite tenant")
    assert main(["--help"]) == 0
    assert "tenant" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_cli_prints_its_version(flag: str) -> None:
    result = subprocess.run([sys.executable, "-m", "orginvite", flag], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"orginvite {importlib.metadata.version('orginvite')}\n"
    assert importlib.metadata.version("orginvite") == orginvite.__version__  # the two places a release bumps


def test_cli_rejects_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_live_server_serves_on_loopback_and_stops() -> None:
    async def hello(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse(f"host={request.headers['host']}")

    app = Starlette(routes=[Route("/", hello)])
    with LiveServer(app) as server:
        assert server.url.startswith("http://127.0.0.1:")
        response = httpx2.get(server.url + "/")
        assert response.status_code == 200
        assert response.text == f"host=127.0.0.1:{server.port}"
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(server.url + "/", timeout=1)


def test_configuration_error_names_the_setting() -> None:
    error = ConfigurationError("ORGINVITE_ISSUER", "is missing")
    assert isinstance(error, OrgInviteError)
    assert str(error) == "ORGINVITE_ISSUER: is missing"
    assert error.setting == "ORGINVITE_ISSUER"


def test_public_api_resolves_every_name_to_its_defining_object() -> None:
    import importlib

    import orginvite

    for name, module in orginvite._LAZY.items():
        assert getattr(orginvite, name) is getattr(importlib.import_module(module), name), name
    assert set(orginvite._LAZY) <= set(orginvite.__all__) <= set(dir(orginvite))
    with pytest.raises(AttributeError, match="no_such_name"):
        orginvite.no_such_name  # noqa: B018


def test_importing_the_package_does_not_load_the_login_or_email_stacks() -> None:
    import subprocess
    import sys

    code = (
        "import sys, orginvite; "
        "print(sorted(m for m in ('orginvite.login.middleware', 'orginvite.emails', 'jinja2', 'httpx2')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_public_error_class_derives_from_the_one_root() -> None:
    import inspect

    import orginvite
    from orginvite.tenancy import routing as tenant_routing

    errors = [value for name in orginvite.__all__ if inspect.isclass(value := getattr(orginvite, name))
              and issubclass(value, BaseException)]
    errors.append(tenant_routing.UnknownOrganization)
    assert len(errors) > 10
    assert [e.__name__ for e in errors if not issubclass(e, OrgInviteError)] == []


def test_property_tests_have_no_deadline() -> None:
    # a deadline is a timed assertion: on a loaded machine it fails tests that pass
    from hypothesis import settings

    assert settings.default.deadline is None
