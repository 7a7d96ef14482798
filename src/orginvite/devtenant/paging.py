"""Auth0's two paging styles for Management API lists.

Offset paging: ``page`` (from 0), ``per_page`` (1..100, default 50) and ``include_totals`` (a bare array, or
``{"start", "limit", "total", "<items>": [...]}``), capped at the first 1000 records (``invalid_paging``).
Checkpoint paging: ``from`` (an opaque checkpoint) and ``take`` (1..100), answered with ``{"<items>": [...],
"next": "..."}`` where ``next`` is absent on the last page. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orginvite.devtenant.management_errors import bad_query, invalid_paging
from orginvite.devtenant.management_schema import QueryParam

__all__ = [
    "CHECKPOINT_QUERY",
    "MAX_RECORDS",
    "OFFSET_QUERY",
    "Checkpoint",
    "OffsetPage",
    "checkpoint_from_query",
    "decode_offset_checkpoint",
    "encode_offset_checkpoint",
    "offset_from_query",
]

MAX_RECORDS = 1000
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100

OFFSET_QUERY: dict[str, QueryParam] = {
    "page": QueryParam("integer", minimum=0, maximum=10**9),
    "per_page": QueryParam("integer", minimum=1, maximum=MAX_PER_PAGE),
    "include_totals": QueryParam("boolean"),
}
CHECKPOINT_QUERY: dict[str, QueryParam] = {
    "from": QueryParam("string", max_length=512),
    "take": QueryParam("integer", minimum=1, maximum=MAX_PER_PAGE),
}


@dataclass(frozen=True)
class OffsetPage:
    page: int
    per_page: int
    include_totals: bool

    @property
    def offset(self) -> int:
        return self.page * self.per_page

    def slice(self, items: list[Any]) -> list[Any]:
        return items[self.offset : self.offset + self.per_page]

    def shape(self, key: str, items: list[Any], total: int | None) -> Any:
        """A bare array, or Auth0's totals envelope (``total`` omitted where Auth0 omits it)."""
        if not self.include_totals:
            return items
        body: dict[str, Any] = {"start": self.offset, "limit": self.per_page}
        if total is not None:
            body["total"] = total
        body[key] = items
        return body


@dataclass(frozen=True)
class Checkpoint:
    from_: str | None
    take: int

    @staticmethod
    def shape(key: str, items: list[Any], next_checkpoint: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {key: items}
        if next_checkpoint:
            body["next"] = next_checkpoint
        return body


def offset_from_query(query: Mapping[str, Any]) -> OffsetPage:
    page = int(query.get("page", 0))
    per_page = int(query.get("per_page", DEFAULT_PER_PAGE))
    if page * per_page + per_page > MAX_RECORDS:
        raise invalid_paging()
    return OffsetPage(page=page, per_page=per_page, include_totals=bool(query.get("include_totals", False)))


def checkpoint_from_query(query: Mapping[str, Any]) -> Checkpoint | None:
    """Checkpoint paging when ``from`` or ``take`` is present (Auth0's rule), else None."""
    if "from" not in query and "take" not in query:
        return None
    if "page" in query or "per_page" in query:
        raise bad_query("Cannot combine from/take with page/per_page", "from")
    return Checkpoint(from_=query.get("from") or None, take=int(query.get("take", DEFAULT_PER_PAGE)))


def encode_offset_checkpoint(offset: int) -> str:
    """An opaque ``next`` for lists the store pages by offset only."""
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_offset_checkpoint(value: str | None) -> int:
    if not value:
        return 0
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise bad_query("Invalid checkpoint", "from") from exc
    prefix, _, number = text.partition(":")
    if prefix != "o" or not number.isdigit() or len(number) > 12:
        raise bad_query("Invalid checkpoint", "from")
    return int(number)
