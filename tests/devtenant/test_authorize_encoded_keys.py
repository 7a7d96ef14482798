"""The dev tenant redacts tickets with the app's redaction and refuses percent-encoded keys (issue 13, item 13).

Its access-log filter matched only a literal ``invitation=``, while ``/authorize`` read ``invit%61tion=`` as the
invitation: the ticket was logged in clear. Now both filters are one redaction (:mod:`orginvite.links`), and
``/authorize`` answers such a request with an error page, never a redirect, as the app's ``/login`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx2
import pytest
from test_auth_support import ACME, CALLBACK, make_invitation, running

from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.authorize_rules import AUTHORIZE_PARAMETERS, encoded_parameter_names
from orginvite.devtenant.cli import RedactTickets
from orginvite.links import ticket_fingerprint
from orginvite.login.redaction import RedactInvitationTickets

SECRET = "SeCrEt-ticket-123"
SPELLINGS = [
    "invitation=", "INVITATION=", "Invitation=", "invit%61tion=", "invit%41tion=", "%69nvitation=",
    "%69%6e%76%69%74%61%74%69%6f%6e=", "invitation%3D", "invitation%3d", "invit%61tion%3D",
]  # fmt: skip


def _access_line(log_filter: logging.Filter, path: str) -> str:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:1", "GET", path, "1.1", 302), None)  # fmt: skip
    assert log_filter.filter(record)
    return record.getMessage()


@pytest.mark.parametrize("key", SPELLINGS)
def test_the_tenant_filter_redacts_every_spelling_as_the_app_does(key: str) -> None:
    path = f"/authorize?client_id=web&{key}{SECRET}&organization={ACME}"
    line = _access_line(RedactTickets(), path)
    assert SECRET not in line and ticket_fingerprint(SECRET) in line and f"&organization={ACME}" in line
    assert line == _access_line(RedactInvitationTickets(), path)  # one redaction for both sides


@pytest.fixture
def live() -> Iterator[tuple[DevTenant, str]]:
    with running() as pair:
        yield pair


@pytest.mark.parametrize(
    ("key", "name", "refused"),
    [("invit%61tion", "invitation", True), ("%69nvitation", "invitation", True), ("client%5Fid", "client_id", True),
     ("redirect%5furi", "redirect_uri", True), ("organizatio%6E", "organization", True),
     ("invitation%20", "invitation", False), ("invitation+", "invitation", False)],
)  # fmt: skip
def test_authorize_refuses_an_encoded_key_on_a_page(live, key: str, name: str, refused: bool) -> None:
    tenant, base = live
    ticket = make_invitation(tenant, "new@acme.test")["ticket_id"]
    params = {"client_id": "webapp", "redirect_uri": CALLBACK, "response_type": "code", "state": "s",
              "invitation": ticket, "organization": ACME}  # fmt: skip
    value = params.pop(name)
    query = "&".join(f"{k}={v}" for k, v in params.items()) + f"&{key}={value}"
    response = httpx2.get(f"{base}/authorize?{query}")
    if refused:
        assert response.status_code == 400 and 'data-error="encoded_parameter"' in response.text, response.text[:300]
        assert "location" not in response.headers and ticket not in response.text
    else:  # "invitation " is no name /authorize reads: ignored like any unknown parameter, and no ticket is read
        assert response.status_code == 302 and response.headers["location"].startswith("/u/login"), response.text


def test_plain_keys_still_work(live) -> None:
    tenant, base = live
    ticket = make_invitation(tenant, "new@acme.test")["ticket_id"]
    response = httpx2.get(f"{base}/authorize", params={"client_id": "webapp", "redirect_uri": CALLBACK,
                                                      "response_type": "code", "invitation": ticket,
                                                      "organization": ACME})  # fmt: skip
    assert response.status_code == 302 and response.headers["location"].startswith("/u/signup")


def test_encoded_parameter_names() -> None:
    names = AUTHORIZE_PARAMETERS
    assert encoded_parameter_names("client_id=a&invit%61tion=b&invit%61tion=c", names) == ["invitation"]
    assert encoded_parameter_names("client%5Fid=a&x%20y=b&state=%61", names) == ["client_id"]  # values may be encoded
    assert encoded_parameter_names("", names) == [] and encoded_parameter_names("%zz=1&&=", names) == []
