"""Request bodies of the dev tenant: one capped reader and one strict JSON parser for every route that takes one.

The reader is :func:`orginvite.forms.read_capped` (a declared or streamed body past its cap is refused without
being buffered). :func:`parse_json` refuses what ``json.loads`` crashes on or lets through to crash later:
nesting past :data:`MAX_JSON_DEPTH` (``json.loads`` raises RecursionError near 1000 levels, and a recursive
serializer fails later on less).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from orginvite.forms import BodyTooLarge, read_capped

__all__ = ["MAX_JSON_DEPTH", "BodyTooLarge", "InvalidJson", "check_json", "parse_json", "read_capped"]

MAX_JSON_DEPTH = 32  # Auth0's bodies nest a few levels (metadata at most 10): far below json's recursion limit


class InvalidJson(ValueError):
    """A body the tenant refuses; ``location`` is the property path of the fault, never its text."""

    def __init__(self, kind: Literal["malformed", "too_deep"], problem: str, location: str | None = None) -> None:
        self.kind = kind
        self.problem = problem
        self.location = location
        super().__init__(problem if location is None else f"{problem} (at {location})")


def parse_json(raw: bytes) -> Any:
    """The JSON document in ``raw``, checked by :func:`check_json`; :class:`InvalidJson` otherwise."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise InvalidJson("too_deep", f"nests JSON more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError:  # also UnicodeDecodeError
        raise InvalidJson("malformed", "is not valid JSON") from None
    check_json(value)
    return value


def check_json(value: Any) -> None:
    """Refuse nesting past :data:`MAX_JSON_DEPTH` (iteratively: the document may be as deep as json.loads
    allows)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise InvalidJson("too_deep", f"nests JSON more than {MAX_JSON_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
