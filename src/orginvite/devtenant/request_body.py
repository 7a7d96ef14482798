"""Request bodies of the dev tenant: one capped reader and one strict JSON parser for every route that takes one.

The reader is :func:`orginvite.forms.read_capped` (a declared or streamed body past its cap is refused without
being buffered). :func:`parse_json` refuses what ``json.loads`` lets through or crashes on: nesting past
:data:`MAX_JSON_DEPTH` (``json.loads`` raises RecursionError near 1000 levels, and a recursive serializer fails
later on less), and strings holding a lone UTF-16 surrogate: ``"\\ud800"`` is valid JSON, but such a string cannot
be encoded as UTF-8, so once stored it breaks every later answer and page that shows it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from orginvite.forms import BodyTooLarge, read_capped

__all__ = ["MAX_JSON_DEPTH", "BodyTooLarge", "InvalidJson", "check_json", "parse_json", "read_capped"]

MAX_JSON_DEPTH = 32  # Auth0's bodies nest a few levels (metadata at most 10): far below json's recursion limit
_SURROGATE = re.compile("[\ud800-\udfff]")  # after json.loads a paired escape is one code point: these are lone


class InvalidJson(ValueError):
    """A body the tenant refuses; ``location`` is the property path of a bad string, never its text."""

    def __init__(
        self, kind: Literal["malformed", "too_deep", "surrogate"], problem: str, location: str | None = None
    ) -> None:
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
    """Refuse nesting past :data:`MAX_JSON_DEPTH` and lone surrogates in any string, key or value (iteratively:
    the document may be as deep as json.loads allows)."""
    stack: list[tuple[Any, str | None, int]] = [(value, None, 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise InvalidJson("surrogate", "holds a string with an unpaired UTF-16 surrogate", _shown(path))
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise InvalidJson("too_deep", f"nests JSON more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(item, list):
            stack.extend((child, f"{path or ''}[{index}]", depth + 1) for index, child in enumerate(item))
            continue
        for key, child in item.items():
            if _SURROGATE.search(key):
                raise InvalidJson("surrogate", "holds a property name with an unpaired UTF-16 surrogate", _shown(path))
            stack.append((child, f"{path}.{key}" if path else key, depth + 1))


def _shown(path: str | None) -> str | None:
    """A property path fit for an error message: its names are the client's, so keep it short."""
    return path if path is None or len(path) <= 200 else path[:200] + "..."
