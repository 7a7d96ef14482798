"""The error hierarchy.

Every error orginvite raises derives from :class:`OrgInviteError`, so host apps can catch one class.
Subsystems subclass the branch that fits instead of inventing parallel roots.
"""

from __future__ import annotations


class OrgInviteError(Exception):
    """Base class of every orginvite error."""


class ConfigurationError(OrgInviteError, ValueError):
    """A setting is missing or malformed; raised at start-up, naming the setting."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")
