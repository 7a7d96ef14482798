"""Invitation tickets out of log lines: access logs print the full login URL, ticket included.

The ticket is a bearer secret until accepted, so it must not land in log storage; the filter replaces it by its
short hash (:func:`~orginvite.links.ticket_fingerprint`), which is what orginvite's own log lines carry.
"""

from __future__ import annotations

import logging
import re

from orginvite.links import ticket_fingerprint

__all__ = ["RedactInvitationTickets"]

#: ``invitation=`` as a log line may spell it: any case, any letter percent-encoded, ``=`` as ``%3D`` (the login
#: refuses such links, but the access log has already printed the URL by then).
_TICKET_KEY = "".join(f"(?:{c}|%{ord(c):02x}|%{ord(c.upper()):02x})" for c in "invitation")
_TICKET_IN_URL = re.compile("(" + _TICKET_KEY + r"(?:=|%3d))([^&\s\"']+)", re.IGNORECASE)


class RedactInvitationTickets(logging.Filter):
    """A logging filter that replaces ``invitation=<ticket>`` in log lines by the ticket's short hash
    (uvicorn: ``logging.getLogger("uvicorn.access").addFilter(RedactInvitationTickets())``)."""

    @staticmethod
    def _redact(text: str) -> str:
        return _TICKET_IN_URL.sub(lambda m: m.group(1) + ticket_fingerprint(m.group(2)), text)

    def filter(self, record: logging.LogRecord) -> bool:
        search = _TICKET_IN_URL.search
        if isinstance(record.msg, str) and search(record.msg):
            record.msg = self._redact(record.msg)
        if isinstance(record.args, tuple) and any(isinstance(a, str) and search(a) for a in record.args):
            record.args = tuple(self._redact(a) if isinstance(a, str) else a for a in record.args)
        return True
