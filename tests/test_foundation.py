"""The package skeleton: the CLI dispatcher and the loopback live server every other suite relies on."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from orginvite import ConfigurationError, OrgInviteError
from orginvite.cli import main
from orginvite.testing import LiveServer


def test_cli_without_arguments_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "tenant" in capsys.readouterr().out


def test_cli_rejects_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_live_server_serves_on_loopback_and_stops() -> None:
    async def hello(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse(f"host={request.headers['host']}")

    app = Starlette(routes=[Route("/", hello)])
    with LiveServer(app) as server:
        assert server.url.startswith("http://127.0.0.1:")
        response = httpx.get(server.url + "/")
        assert response.status_code == 200
        assert response.text == f"host=127.0.0.1:{server.port}"
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/", timeout=1)


def test_configuration_error_names_the_setting() -> None:
    error = ConfigurationError("ORGINVITE_ISSUER", "is missing")
    assert isinstance(error, OrgInviteError)
    assert str(error) == "ORGINVITE_ISSUER: is missing"
    assert error.setting == "ORGINVITE_ISSUER"
