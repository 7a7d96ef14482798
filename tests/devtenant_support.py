"""Walking the embedded dev tenant over loopback HTTP with httpx2, as a browser and a backend would.

Shared by the login, tenancy and example suites: the forms of a page, following the tenant's redirects up to the
app's callback, submitting a hosted page, and creating an invitation through the Management API; and fresh tenants
from one seeded database (:class:`TenantCopies`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx2

from orginvite.devtenant.app import DevTenant

__all__ = [
    "Forms", "TenantCopies", "create_invitation", "first_form", "follow_on_tenant", "forms_of", "m2m_token",
    "submit_form",
]


class TenantCopies:
    """Fresh dev tenants, each on its own copy of one seeded database file.

    Seeding a tenant hashes its users' passwords (scrypt: about 0.14 s a tenant, most of a test's setup); a copy of
    the seeded file opens in a fraction of that with exactly the same records, keys and secrets, and the seed that
    :class:`DevTenant` runs on it again changes nothing. Every tenant is a new object: settings, counters and
    clock are its own. Build one per module (in a ``tmp_path_factory`` folder), open one tenant per test.
    """

    def __init__(self, folder: Path, config: Any = None) -> None:
        self.folder = folder
        self.config = config
        self._pristine = folder / "pristine.sqlite3"
        DevTenant(config, db=self._pristine).close()
        self._numbers = count(1)

    @contextmanager
    def tenant(self, **options: Any) -> Iterator[DevTenant]:
        """A tenant as a fresh ``DevTenant(config, **options)`` would be; its files go when the block ends."""
        path = self.folder / f"tenant-{next(self._numbers)}.sqlite3"
        shutil.copyfile(self._pristine, path)
        try:
            with DevTenant(self.config, db=path, **options) as tenant:
                yield tenant
        finally:
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)


class Forms(HTMLParser):
    """Every ``<form>``: its action and the values its named inputs submit (checkboxes and radios are the test's)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}})
        elif tag == "input" and self.forms and a.get("name") and a.get("type") not in ("checkbox", "radio"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def first_form(html: str) -> dict[str, Any]:
    return forms_of(html)[0]


def follow_on_tenant(http: httpx2.Client, response: httpx2.Response, tenant_url: str) -> httpx2.Response:
    """Follow redirects while they stay on the tenant; stop at a tenant page or at the app's callback."""
    for _ in range(10):
        if response.status_code not in (301, 302, 303):
            return response
        target = urljoin(str(response.url), response.headers["location"])
        if not target.startswith(tenant_url):
            return response
        response = http.get(target)
    return response


def submit_form(http: httpx2.Client, page: httpx2.Response, values: dict[str, str], tenant_url: str) -> httpx2.Response:
    """Post the page's first form with ``values`` over its own fields, then :func:`follow_on_tenant`."""
    form = first_form(page.text)
    response = http.post(urljoin(str(page.url), form["action"]), data={**form["fields"], **values})
    return follow_on_tenant(http, response, tenant_url)


def m2m_token(tenant_url: str, client_id: str = "m2m", client_secret: str = "m2m-secret") -> str:
    """A Management API access token from the tenant's ``/oauth/token`` (client credentials)."""
    response = httpx2.post(tenant_url + "/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
        "audience": tenant_url + "/api/v2/"})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def create_invitation(tenant_url: str, org_id: str, email: str, roles: list[str] | None = None) -> dict[str, Any]:
    """An invitation from Ann to ``email`` for the ``web`` client, created as a backend would (no email sent)."""
    body: dict[str, Any] = {"inviter": {"name": "Ann"}, "invitee": {"email": email}, "client_id": "web",
                            "send_invitation_email": False}
    if roles:
        body["roles"] = roles
    response = httpx2.post(tenant_url + f"/api/v2/organizations/{org_id}/invitations", json=body,
                          headers={"authorization": f"Bearer {m2m_token(tenant_url)}"})
    assert response.status_code == 200, response.text
    return response.json()
