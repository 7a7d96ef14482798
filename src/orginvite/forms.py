"""Reading a small ``application/x-www-form-urlencoded`` body without python-multipart, capped.

The login flow's interstitial and the host app's own forms need the same care: refuse other content types,
stop reading past a size cap (the body is untrusted and may be endless), cap the number of fields, and answer
``None`` for anything malformed so the caller shows a 400 page instead of raising. :func:`read_capped` is the
one capped body reader under it, also used by the dev tenant for every body it takes (forms and JSON).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

__all__ = ["BodyTooLarge", "read_capped", "read_urlencoded_form"]


class BodyTooLarge(Exception):
    """The body is longer than the reader's cap (declared or streamed); nothing past the cap was buffered."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        super().__init__(f"the request body is longer than {max_bytes} bytes")


async def read_capped(request: Request, max_bytes: int) -> bytes:
    """The whole body, or :class:`BodyTooLarge` as soon as it is known to be longer than ``max_bytes``.

    A declared ``Content-Length`` over the cap is refused before anything is read (it is never trusted the other
    way); a chunked or lying body is refused at the first chunk past the cap, so an endless body costs at most
    ``max_bytes`` plus one chunk of memory.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_urlencoded_form(request: Request, *, max_bytes: int, max_fields: int) -> list[tuple[str, str]] | None:
    """The body's ``(name, value)`` pairs in order; None for another content type, a body over ``max_bytes``,
    more than ``max_fields`` fields, or bytes that are not UTF-8."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    try:
        body = await read_capped(request, max_bytes)
    except BodyTooLarge:
        return None
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        return None
