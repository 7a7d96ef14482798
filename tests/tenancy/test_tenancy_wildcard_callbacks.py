"""The dev tenant's wildcard callback and logout URLs, as Auth0 matches them (one '*' in the leftmost label)."""

from __future__ import annotations

import pytest

from orginvite.devtenant.authorize_rules import callback_allowed
from orginvite.devtenant.config import TenantConfigError, load_config

ALLOWED = ["http://*.myapp.test:8000/callback", "https://pr-*-web.preview.myapp.com/callback"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://acme.myapp.test:8000/callback",
        "http://a.myapp.test:8000/callback",
        "http://acme-2.myapp.test:8000/callback",
        "https://pr-12-web.preview.myapp.com/callback",  # a prefix and a suffix around the '*' (Auth0 allows it)
    ],
)
def test_wildcard_callbacks_that_match(uri):
    assert callback_allowed(uri, ALLOWED)


@pytest.mark.parametrize(
    "uri",
    [
        "http://myapp.test:8000/callback",  # the apex is not a subdomain
        "http://a.b.myapp.test:8000/callback",  # one label only
        "http://acme.myapp.test:8001/callback",  # the port is exact
        "http://acme.myapp.test/callback",
        "https://acme.myapp.test:8000/callback",  # so is the scheme
        "http://acme.myapp.test:8000/callback/x",
        "http://acme.myapp.test:8000/callback?next=/",
        "http://acme.myapp.test.evil.test:8000/callback",
        "http://evil.test:8000/callback#.myapp.test:8000/callback",
        "http://acme.myapp.test:8000@evil.test/callback",
        "https://pr--web.preview.myapp.com/callback",  # '*' stands for at least one character
        "https://pr-12.preview.myapp.com/callback",
        "https://xpr-12-web.preview.myapp.com/callback",
        "https://pr-1.2-web.preview.myapp.com/callback",
    ],
)
def test_wildcard_callbacks_that_do_not_match(uri):
    assert not callback_allowed(uri, ALLOWED)


def _config(callback: str) -> dict:
    return {"clients": [{"client_id": "web", "client_secret": "s", "name": "Web", "app_type": "regular_web",
                         "callbacks": [callback], "grant_types": ["authorization_code"]}]}


@pytest.mark.parametrize("callback", ["http://*.myapp.test:8000/callback", "https://pr-*.preview.myapp.com/cb"])
def test_the_tenant_config_accepts_auth0_shaped_wildcards(callback):
    load_config(_config(callback))


@pytest.mark.parametrize(
    "callback",
    ["https://*.com/cb", "https://app.*.myapp.com/cb", "https://*.*.myapp.com/cb", "https://x.myapp.com/*"],
)
def test_the_tenant_config_refuses_other_wildcards(callback):
    with pytest.raises(TenantConfigError):
        load_config(_config(callback))
