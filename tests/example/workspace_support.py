"""The team workspace's world for tests: dev tenant (with a clock to drive), SMTP catcher + outbox, workspace app.

All real servers on loopback: the tenant and the workspace on uvicorn (orginvite.testing.LiveServer), the catcher
on aiosmtpd, so invitations travel over real SMTP into the outbox.
"""

from __future__ import annotations

import re
import secrets
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx2
from aiosmtpd.controller import Controller

from devtenant_support import Forms, TenantCopies, forms_of
from loopback_support import Holder, SharedServer, free_port
from orginvite.config import Settings
from orginvite.demo import demo_tenant_config, import_example_app
from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.config import (
    DEMO_ACME_ORG_ID,
    DEMO_ADMIN_EMAIL,
    DEMO_ADMIN_PASSWORD,
    DEMO_M2M_CLIENT_ID,
    DEMO_M2M_CLIENT_SECRET,
    DEMO_WEB_CLIENT_ID,
    DEMO_WEB_CLIENT_SECRET,
)
from orginvite.emails.catcher import OutboxHandler
from orginvite.emails.outbox import Outbox
from orginvite.testing import LiveServer

__all__ = ["ACME", "ADMIN_EMAIL", "ADMIN_PASSWORD", "Clock", "Forms", "Stack", "WorkspaceServers", "forms_of"]

ACME = DEMO_ACME_ORG_ID
ADMIN_EMAIL = DEMO_ADMIN_EMAIL
ADMIN_PASSWORD = DEMO_ADMIN_PASSWORD
_LINK = re.compile(r"https?://[^\s\"'<>]+/login\?invitation=[^\s\"'<>]+")


class Clock:
    """The tenant's clock: real time plus an offset a test moves forward (expiring invitations in no time)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class WorkspaceServers:
    """The loopback servers of :class:`Stack` and its seeded tenants, started once for a test module: each
    :class:`Stack` built on them serves its own fresh outbox, tenant and app (nothing carries over but ports)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.outbox = SharedServer()
        self.app = SharedServer()
        self.tenant = SharedServer()
        self._running = ExitStack()

    def __enter__(self) -> WorkspaceServers:
        for server in (self.outbox, self.app, self.tenant):
            self._running.enter_context(server)
        self.tenants = TenantCopies(self.folder, demo_tenant_config(self.app.url))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._running.close()


class Stack:
    """Everything ``orginvite demo`` runs, in-process, with the tenant's clock in the test's hands.

    Each Stack starts its own servers, or, given ``servers``, serves its fresh apps on a module's shared ones.
    """

    def __init__(self, *, fastapi: bool = False, servers: WorkspaceServers | None = None,
                 api_token_lifetime: int | None = None, on_invitation_event: Any = None, **login: Any) -> None:
        self.clock = Clock()
        self.fastapi = fastapi
        self.outbox = Outbox()
        self._served = ExitStack()
        self.outbox_server = (LiveServer(self.outbox.app).start() if servers is None
                              else self._served.enter_context(servers.outbox.serving(self.outbox.app)))
        self.outbox_url = self.outbox_server.url
        self.smtp_port = free_port()  # aiosmtpd's Controller connects to its port once started: no port 0
        self.smtp = Controller(OutboxHandler(self.outbox), hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()
        self.smtp_running = True
        self._holder = Holder()  # the inner app's resources are closed by Stack.close
        self.app_server = (LiveServer(self._holder).start() if servers is None
                           else self._served.enter_context(servers.app.serving(self._holder)))
        self.url = self.app_server.url
        if servers is None:
            tenant_config = demo_tenant_config(self.url)
            if api_token_lifetime is not None:  # the demo's Acme API, with short-lived tokens: refreshes to watch
                for api in tenant_config["apis"]:
                    api["token_lifetime"] = api_token_lifetime
            self.tenant = DevTenant(tenant_config, clock=self.clock)
            self.tenant_server = self.tenant.serve().start()
        else:
            assert api_token_lifetime is None, "shared servers serve copies of the one demo tenant"
            self.tenant = self._served.enter_context(servers.tenants.tenant(clock=self.clock))
            self.tenant_server = self._served.enter_context(servers.tenant.serving(self.tenant.app))
        self.shared = servers is not None
        self.tenant_url = self.tenant_server.url
        core = __import__("example_app.core", fromlist=["WorkspaceConfig", "Workspace"])
        self.config = core.WorkspaceConfig(
            login=Settings(**{
                "issuer": self.tenant_url + "/", "client_id": DEMO_WEB_CLIENT_ID,
                "client_secret": DEMO_WEB_CLIENT_SECRET, "secret_keys": (secrets.token_urlsafe(32),),
                "base_url": self.url, "on_invitation_event": on_invitation_event,
                # as in the demo: the header's organization switcher asks the Management API
                "management_client_id": DEMO_M2M_CLIENT_ID, "management_client_secret": DEMO_M2M_CLIENT_SECRET,
                **login}),
            management_domain=self.tenant_url,
            management_client_id=DEMO_M2M_CLIENT_ID,
            management_client_secret=DEMO_M2M_CLIENT_SECRET,
            smtp_url=f"smtp://127.0.0.1:{self.smtp_port}?starttls=off",
            email_from="Acme workspace <no-reply@acme.test>",
            organization="acme",
            app_name="Acme workspace",
        )
        self.workspace = core.Workspace(self.config)
        if fastapi:
            from example_app.fastapi_app import create_app
        else:
            create_app = import_example_app().create_app
        self._holder.inner = create_app(workspace=self.workspace)

    def close(self) -> None:
        if self.shared:
            self._served.close()  # the shared servers stop serving this Stack's apps; the tenant closes
        else:
            self.app_server.stop()
            self.tenant_server.stop()
            self.outbox_server.stop()
            self.tenant.close()
        if self.smtp_running:
            self.smtp.stop()

    def stop_smtp(self) -> None:
        """The mail server goes away (for good: aiosmtpd's Controller cannot start twice)."""
        self.smtp.stop()
        self.smtp_running = False

    # -- helpers for HTTP-level tests --------------------------------------------------------------------------

    def client(self) -> httpx2.Client:
        return httpx2.Client(follow_redirects=True, timeout=15)

    def sign_in(self, client: httpx2.Client, email: str = ADMIN_EMAIL,
                password: str = ADMIN_PASSWORD, return_to: str | None = None) -> httpx2.Response:
        query = "?organization=acme" + (f"&returnTo={return_to}" if return_to else "")
        page = client.get(self.url + "/login" + query)
        assert page.url.path == "/u/login", page.text[:300]
        form = forms_of(page.text)[0]
        done = client.post(urljoin(str(page.url), form["action"]),
                           data={**form["fields"], "email": email, "password": password})
        assert str(done.url).startswith(self.url), done.text[:300]
        return done

    def accept(self, client: httpx2.Client, link: str, name: str,
               password: str = "teammate-pass-123") -> httpx2.Response:
        signup = client.get(link)
        assert signup.url.path == "/u/signup", signup.text[:300]
        form = forms_of(signup.text)[0]
        return client.post(urljoin(str(signup.url), form["action"]),
                           data={**form["fields"], "name": name, "password": password})

    def add_member(self, email: str, password: str, roles: list[str], name: str | None = None) -> None:
        """A member created through the tenant's own store (a second person in the organization)."""
        user = self.tenant.store.create_user(email, password, name=name or email.split("@")[0].title(),
                                             connection="Username-Password-Authentication", email_verified=True)
        self.tenant.store.add_members(ACME, [user["user_id"]])
        role_ids = [r["id"] for r in self.tenant.store.list_roles(0, 100)[0] if r["name"] in roles]
        self.tenant.store.add_member_roles(ACME, user["user_id"], role_ids)

    def session_user(self, client: httpx2.Client) -> Any:
        """The OrgUser of ``client``'s session cookie, as the app reads it."""
        from orginvite.sessions.cookie import SessionCookie

        cookie = next(c for c in client.cookies.jar if c.name == "orginvite_session")
        return SessionCookie(self.config.login).read(cookie.value)[0]

    def invitation_link(self, to: str) -> str:
        for entry in self.outbox.messages():
            if to in entry.to:
                match = _LINK.search(entry.part("plain") or "")
                assert match, entry.part("plain")
                return match.group(0)
        raise AssertionError(f"no email to {to} in the outbox ({[e.to for e in self.outbox.messages()]})")
