"""A cookie value too large for one cookie, split over numbered cookies and joined again (pure, no I/O).

Browsers keep about 4096 bytes per cookie (name and attributes included) and answer 431 or drop cookies silently
past it (nextjs-auth0 #279). The first cookie keeps the session's usual name and says how many parts there are
(``3~<part 0>``); the others are ``<name>_1``, ``<name>_2``, .... A value that needs more than
:data:`MAX_CHUNKS` cookies is refused before anything is sent, so a session can never loop on a cookie the
browser would not keep. The parts are not authenticated here: the joined value is a JWE, whose tag fails for
any truncated, reordered or foreign part.
"""

from __future__ import annotations

from collections.abc import Mapping

from orginvite.errors import InvalidCookieError

__all__ = ["CHUNK_SIZE", "MAX_CHUNKS", "TooLarge", "chunk_names", "join", "split"]

CHUNK_SIZE = 3800  # the value; name and attributes fit in the rest of the browsers' 4096 bytes
MAX_CHUNKS = 8


class TooLarge(ValueError):
    """The value needs more than :data:`MAX_CHUNKS` cookies."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"{size} bytes need more than {MAX_CHUNKS} cookies ({limit} bytes at most)")


def chunk_names(name: str) -> list[str]:
    """Every cookie name a split value of ``name`` may use, the first included."""
    return [name] + [f"{name}_{index}" for index in range(1, MAX_CHUNKS)]


def split(name: str, value: str) -> list[tuple[str, str]]:
    """``[(cookie name, cookie value), ...]``: one pair for a value that fits, else a counted sequence."""
    if len(value) <= CHUNK_SIZE:
        return [(name, value)]
    size = CHUNK_SIZE - 3  # room for the "N~" count on the first part
    parts = [value[i:i + size] for i in range(0, len(value), size)]
    if len(parts) > MAX_CHUNKS:
        raise TooLarge(len(value), MAX_CHUNKS * CHUNK_SIZE - 3)
    return [(name, f"{len(parts)}~{parts[0]}")] + [(f"{name}_{i}", part) for i, part in enumerate(parts[1:], 1)]


def join(name: str, cookies: Mapping[str, str]) -> str | None:
    """The value of ``name`` with its parts put back together; None without the cookie.

    A missing part, a count out of range or a part larger than we write is ``InvalidCookieError("malformed")``."""
    first = cookies.get(name)
    if not first:
        return None
    count, sep, head = first.partition("~")
    if not sep:
        return first
    if not count.isdigit() or not 2 <= int(count) <= MAX_CHUNKS or len(first) > CHUNK_SIZE:
        raise InvalidCookieError("malformed")
    parts = [head]
    for index in range(1, int(count)):
        part = cookies.get(f"{name}_{index}")
        if not part or len(part) > CHUNK_SIZE:
            raise InvalidCookieError("malformed")
        parts.append(part)
    return "".join(parts)
