"""Reading a small ``application/x-www-form-urlencoded`` body without python-multipart, capped.

The login flow's interstitial and the host app's own forms need the same care: refuse other content types,
stop reading past a size cap (the body is untrusted and may be endless), cap the number of fields, and answer
``None`` for anything malformed so the caller shows a 400 page instead of raising.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

__all__ = ["read_urlencoded_form"]


async def read_urlencoded_form(request: Request, *, max_bytes: int, max_fields: int) -> list[tuple[str, str]] | None:
    """The body's ``(name, value)`` pairs in order; None for another content type, a body over ``max_bytes``,
    more than ``max_fields`` fields, or bytes that are not UTF-8."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            return None
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        return None
