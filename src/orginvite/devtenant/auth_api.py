"""The dev tenant's Authentication API at Auth0's paths (placeholder until the routes land)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute


def routes(tenant: Any) -> list[BaseRoute]:
    """The Authentication API routes, mounted at the tenant's root."""
    return []
