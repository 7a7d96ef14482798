"""The servers of the load test, each in its own process (so the load generator never shares their GIL).

    python -m benchmarks.serve login PORT             orginvite's /login (with a loopback OpenID provider)
    python -m benchmarks.serve tenant PORT APP_URL    the dev tenant, its client's callbacks at APP_URL
    python -m benchmarks.serve app PORT TENANT_URL    an app under orginvite, signing in at TENANT_URL

Loopback only; prints ``ready`` once listening; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn


def _serve(app: object, port: int) -> None:
    # Keep-alive longer than uvicorn's 5 s default: under a long burst a client may reuse a connection the server
    # is just closing as idle, and that race is the load generator's, not the app's (proxies use 60-75 s).
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                            lifespan="off", timeout_keep_alive=75, backlog=4096)
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        await task

    asyncio.run(run())


def main(argv: list[str]) -> None:
    kind, port = argv[0], int(argv[1])
    if kind == "login":
        from benchmarks.login import orginvite_app
        from benchmarks.provider import Provider

        provider = Provider().start()
        try:
            _serve(orginvite_app(provider), port)
        finally:
            provider.stop()
    elif kind == "tenant":
        from benchmarks.world import tenant_config
        from orginvite.devtenant.app import DevTenant

        tenant = DevTenant(config=tenant_config(argv[2]))
        _serve(tenant.app, port)
    elif kind == "app":
        from benchmarks.world import app_under_orginvite

        _serve(app_under_orginvite(argv[2], f"http://127.0.0.1:{port}"), port)
    else:
        raise SystemExit(f"unknown server {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
