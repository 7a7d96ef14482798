"""orginvite: from an organization invitation link to a signed-in member of the right organization."""

from orginvite.errors import ConfigurationError, OrgInviteError

__version__ = "0.1.0"

__all__ = ["ConfigurationError", "OrgInviteError", "__version__"]
