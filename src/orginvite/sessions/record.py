"""What one session holds: the member, the provider's tokens (when the app calls an API), and the host binding.

The same record travels in an encrypted cookie or sits, encrypted, in a server-side store; its payload is the
one shape :meth:`SessionRecord.from_payload` accepts, whatever it was read from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from orginvite.errors import InvalidCookieError
from orginvite.sessions.tokens import TokenSet
from orginvite.sessions.user import Binding, OrgUser

__all__ = ["SessionRecord", "confirmed_time", "provider_sid"]


@dataclass(frozen=True)
class SessionRecord:
    user: OrgUser
    tokens: TokenSet | None = None
    bound: Binding | None = None
    #: When membership and roles were last confirmed (the callback, then revalidation): epoch seconds, 0 unknown.
    confirmed_at: float = 0.0
    sid: str | None = None  # the provider's session (the ID token's ``sid``), kept with or without tokens

    @property
    def provider_sid(self) -> str | None:
        """The provider session this session was made from: back-channel logout names sessions by it."""
        if self.sid is not None:
            return self.sid
        return None if self.tokens is None else self.tokens.sid

    def with_tokens(self, tokens: TokenSet | None) -> SessionRecord:
        return replace(self, tokens=tokens)

    def to_payload(self) -> dict[str, Any]:
        payload = {
            "v": 1,
            "u": self.user.to_payload(),
            "t": None if self.tokens is None else self.tokens.to_payload(),
            "b": None if self.bound is None else list(self.bound),
            "c": self.confirmed_at,
        }
        if self.sid is not None:
            payload["s"] = self.sid
        return payload

    @classmethod
    def from_payload(cls, payload: Any) -> SessionRecord:
        if not isinstance(payload, dict) or payload.get("v") != 1:
            raise InvalidCookieError("malformed")
        user = OrgUser.from_payload(payload.get("u") if isinstance(payload.get("u"), dict) else {})
        raw_tokens = payload.get("t")
        tokens = None if raw_tokens is None else TokenSet.from_payload(raw_tokens)
        bound = payload.get("b")
        if bound is not None:
            if (not isinstance(bound, list) or len(bound) != 2 or not isinstance(bound[0], str)
                    or not (bound[1] is None or isinstance(bound[1], str))):
                raise InvalidCookieError("malformed")
            bound = (bound[0], bound[1])
        return cls(user, tokens, bound, confirmed_time(payload.get("c")), provider_sid(payload.get("s")))


def confirmed_time(value: Any) -> float:
    """A payload's confirmation time; absent (a session from before revalidation) or odd is 0: confirm soon."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 0.0


def provider_sid(value: Any) -> str | None:
    """A ``sid`` as kept in a session: a short printable string, else nothing (an odd claim is dropped)."""
    if isinstance(value, str) and 0 < len(value) <= 255 and value.isascii() and value.isprintable():
        return value
    return None
