"""Auth0-compatible Management API v2 for the dev tenant (placeholder until implemented)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute


def routes(tenant: Any) -> list[BaseRoute]:
    """Routes relative to /api/v2 (mounted by DevTenant)."""
    return []
