"""An embedded development tenant that behaves like Auth0 Organizations (see :class:`DevTenant`)."""

from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.config import TenantConfigError

__all__ = ["DevTenant", "TenantConfigError"]
