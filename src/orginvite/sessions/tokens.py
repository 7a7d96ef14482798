"""The provider's tokens kept with a session: what the app's API calls need, and what a refresh replaces.

A :class:`TokenSet` is built from a token endpoint response (the callback's code exchange or a refresh) and kept
in the session record; bearer secrets in it are only ever stored encrypted (see :mod:`orginvite.sessions.store`).
Access tokens for audiences other than the login's (Auth0's multi-resource refresh tokens) are cached per audience
beside the main one.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from orginvite.errors import InvalidCookieError, ProviderError

__all__ = ["AccessToken", "TokenSet", "verified_claims"]

_MAX_TOKEN = 16384
_MAX_AUDIENCES = 8  # cached extra audiences per session: a bound, not a feature


@dataclass(frozen=True)
class AccessToken:
    """One access token and when it stops working (``expires_at``, epoch seconds)."""

    token: str
    expires_at: float
    scope: str | None = None

    def __repr__(self) -> str:
        return f"AccessToken(expires_at={self.expires_at}, scope={self.scope!r})"  # never the token


@dataclass(frozen=True)
class TokenSet:
    """The tokens of one session. ``refresh_token`` is None without ``offline_access``; ``sid`` is the provider's
    session id from the ID token (back-channel logout names sessions by it)."""

    access_token: AccessToken | None
    refresh_token: str | None = None
    id_token: str | None = None
    audience: str | None = None
    sid: str | None = None
    others: Mapping[str, AccessToken] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"TokenSet(access_token={self.access_token!r}, refresh_token={'...' if self.refresh_token else None},"
                f" audience={self.audience!r}, sid={self.sid!r}, others={sorted(self.others)!r})")

    def for_audience(self, audience: str | None) -> AccessToken | None:
        if audience is None or audience == self.audience:
            return self.access_token
        return self.others.get(audience)

    def with_audience(self, audience: str, token: AccessToken, refresh_token: str | None) -> TokenSet:
        """This set with ``token`` cached for another audience (and the refresh token a rotation returned)."""
        others = {k: v for k, v in self.others.items() if k != audience}
        while len(others) >= _MAX_AUDIENCES:
            others.pop(min(others, key=lambda k: others[k].expires_at))
        others[audience] = token
        return replace(self, others=others, refresh_token=refresh_token or self.refresh_token)

    @classmethod
    def from_response(
        cls,
        response: Mapping[str, Any],
        *,
        now: float,
        audience: str | None,
        sid: str | None = None,
        previous: TokenSet | None = None,
    ) -> TokenSet:
        """From a token endpoint answer. A refresh may omit ``refresh_token`` (no rotation: the old one stays) and
        ``id_token``; anything malformed is a :class:`ProviderError` (the provider answered something unusable)."""
        token = response.get("access_token")
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN or not token.isascii():
            raise ProviderError("token endpoint: no usable access_token in the answer")
        lifetime = response.get("expires_in", 3600)
        if isinstance(lifetime, str) and lifetime.isdigit():
            lifetime = int(lifetime)
        if (not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or not math.isfinite(lifetime)
                or lifetime < 0):
            raise ProviderError("token endpoint: expires_in is not a number of seconds")
        scope = response.get("scope")
        scope = scope if isinstance(scope, str) and len(scope) <= 4096 else None
        access = AccessToken(token, float(int(now) + min(int(lifetime), 10 * 365 * 86400)), scope)
        refresh = _optional_token(response.get("refresh_token"), "refresh_token")
        id_token = _optional_token(response.get("id_token"), "id_token")
        if previous is not None:
            refresh = refresh or previous.refresh_token
            id_token = id_token or previous.id_token
            sid = sid or previous.sid
        return cls(access, refresh, id_token, audience, sid, {} if previous is None else previous.others)

    # -- payload (what the session record stores; always encrypted at rest) -----------------------------------

    def to_payload(self) -> dict[str, Any]:
        def at(t: AccessToken | None) -> list[Any] | None:
            return None if t is None else [t.token, t.expires_at, t.scope]

        return {"at": at(self.access_token), "rt": self.refresh_token, "it": self.id_token, "aud": self.audience,
                "sid": self.sid, "o": {k: at(v) for k, v in self.others.items()}}

    @classmethod
    def from_payload(cls, payload: Any) -> TokenSet:
        """Rebuild from a decrypted record; a shape we did not write is ``InvalidCookieError("malformed")``."""
        if not isinstance(payload, dict):
            raise InvalidCookieError("malformed")
        others_raw = payload.get("o") or {}
        if not isinstance(others_raw, dict) or len(others_raw) > _MAX_AUDIENCES:
            raise InvalidCookieError("malformed")
        others = {}
        for key, value in others_raw.items():
            token = _access_from(value)
            if not isinstance(key, str) or token is None:
                raise InvalidCookieError("malformed")
            others[key] = token
        return cls(
            _access_from(payload.get("at")),
            _text(payload.get("rt")),
            _text(payload.get("it")),
            _text(payload.get("aud")),
            _text(payload.get("sid")),
            others,
        )


def verified_claims(token: str | None) -> dict[str, Any] | None:
    """The payload of a JWT this session kept, or None (absent, opaque, encrypted, not JSON).

    Only for tokens verified when they were received (the callback and every refresh verify the ID token and an
    API access token issued as a JWT): reading the payload again needs no signature check. Never for anything
    that came from a request."""
    if token is None or token.count(".") != 2:
        return None
    segment = token.split(".", 2)[1]
    try:
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def _optional_token(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_TOKEN or not value.isascii():
        raise ProviderError(f"token endpoint: {name} is not a usable token")
    return value


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and len(value) <= _MAX_TOKEN):
        return value
    raise InvalidCookieError("malformed")


def _access_from(value: Any) -> AccessToken | None:
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) != 3 or not isinstance(value[0], str)
            or not isinstance(value[1], int | float) or isinstance(value[1], bool)
            or not math.isfinite(value[1]) or (value[2] is not None and not isinstance(value[2], str))):
        raise InvalidCookieError("malformed")
    return AccessToken(value[0], float(value[1]), value[2])
