"""orginvite: from an organization invitation link to a signed-in member of the right organization."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orginvite.errors import ConfigurationError, OrgInviteError

if TYPE_CHECKING:
    from orginvite.session import Organization, current_organization
    from orginvite.tenancy import TenancyRules

__version__ = "0.1.0"

__all__ = ["ConfigurationError", "OrgInviteError", "Organization", "TenancyRules", "__version__",
           "current_organization"]

# Imported on first use: ``import orginvite`` stays light (no Starlette) and free of import cycles.
_LAZY = {
    "Organization": "orginvite.session",
    "current_organization": "orginvite.session",
    "TenancyRules": "orginvite.tenancy",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orginvite' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
