"""The access-log filter redacts the ticket however the key is spelled, and the login refuses encoded keys."""

from __future__ import annotations

import logging

import pytest

from login_support import Browser, MiniOP, import_example_app, settings_kwargs
from loopback_support import Holder
from orginvite.config import Settings
from orginvite.links import ticket_fingerprint
from orginvite.login.redaction import RedactInvitationTickets
from orginvite.testing import LiveServer

SECRET = "SeCrEt-ticket-123"
ORG = "org_AbCdEfGhIjKlMnOp"


def _access_line(path: str) -> str:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:1", "GET", path, "1.1", 400), None)
    assert RedactInvitationTickets().filter(record)
    return record.getMessage()


@pytest.mark.parametrize(
    "key",
    ["invitation=", "INVITATION=", "Invitation=", "invit%61tion=", "invit%41tion=", "%69nvitation=",
     "%69%6e%76%69%74%61%74%69%6f%6e=", "invitation%3D", "invitation%3d", "invit%61tion%3D"],
)
def test_ticket_is_redacted_under_any_spelling_of_the_key(key):
    line = _access_line(f"/login?{key}{SECRET}&organization={ORG}")
    assert SECRET not in line
    assert ticket_fingerprint(SECRET) in line and f"&organization={ORG}" in line


def test_ticket_in_the_message_itself_is_redacted():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, f"GET /login?invit%61tion={SECRET}", None, None)
    RedactInvitationTickets().filter(record)
    assert SECRET not in record.getMessage()


def test_encoded_key_gets_the_invalid_link_page_and_no_redirect():
    op, holder = MiniOP(), Holder()
    with LiveServer(op.app) as op_server, LiveServer(holder) as app_server:
        holder.inner = import_example_app().create_app(
            Settings(**settings_kwargs(op_server.url + "/", app_server.url)))
        browser = Browser()
        try:
            response = browser.get(app_server.url + f"/login?invit%61tion={SECRET}&organization={ORG}")
            assert response.status_code == 400 and 'data-page="invalid_link"' in response.text
            assert "location" not in response.headers and SECRET not in response.text
            assert op.authorize_requests == [] and op.discovery_fetches == 0
        finally:
            browser.close()
