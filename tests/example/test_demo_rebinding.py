"""`orginvite demo` answers only requests addressed to loopback names: a DNS-rebinding page (its own name
resolved to 127.0.0.1, so its requests carry ``Host: attacker.example``) cannot read the outbox's invitation links
or drive the tenant and the workspace."""

from __future__ import annotations

import signal

import httpx2
from test_demo_command import FREE_PORTS, Demo, url


def test_the_demo_refuses_foreign_host_headers() -> None:
    demo = Demo(*FREE_PORTS)
    try:
        out = demo.wait_started()
        targets = {"outbox (caught emails)": "/", "dev tenant": "/.well-known/openid-configuration",
                   "workspace (example_app)": "/"}
        for label, path in targets.items():
            base = url(out, label)
            port = base.rsplit(":", 1)[1]
            assert httpx2.get(base + path, timeout=10).status_code == 200, label
            assert httpx2.get(base + path, headers={"host": f"localhost:{port}"}, timeout=10).status_code == 200
            for host in (f"attacker.example:{port}", "attacker.example", f"127.0.0.1.attacker.example:{port}"):
                refused = httpx2.get(base + path, headers={"host": host}, timeout=10)
                assert refused.status_code == 400, (label, host, refused.status_code)
                assert "invitation" not in refused.text
        token = httpx2.post(url(out, "dev tenant") + "/oauth/token", headers={"host": "attacker.example"}, timeout=10,
                           data={"grant_type": "client_credentials", "client_id": "demo-m2m",
                                 "client_secret": "demo-m2m-secret-for-local-development-only"})
        assert token.status_code == 400 and "access_token" not in token.text
    finally:
        code, _ = demo.stop(signal.SIGTERM)
        demo.close()
    assert code == 0
