"""Invitation tickets out of log lines: access logs print the full login URL, ticket included.

The ticket is a bearer secret until accepted, so it must not land in log storage; the filter replaces it by its
short hash (:func:`~orginvite.links.ticket_fingerprint`), which is what orginvite's own log lines carry. The
matching itself is :func:`orginvite.links.redact_log_record`, shared with the dev tenant's log filter.
"""

from __future__ import annotations

import logging

from orginvite.links import redact_log_record

__all__ = ["RedactInvitationTickets"]


class RedactInvitationTickets(logging.Filter):
    """A logging filter that replaces ``invitation=<ticket>`` (any case, any letter percent-encoded, ``=`` as
    ``%3D``) in log lines by the ticket's short hash
    (uvicorn: ``logging.getLogger("uvicorn.access").addFilter(RedactInvitationTickets())``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_log_record(record)
        return True
