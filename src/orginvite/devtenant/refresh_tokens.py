"""Auth0's refresh token rules, as pure functions: which family settings a login gets, and what one use does.

A *family* is every refresh token descended from one login. Its settings come from the client's ``refresh_token``
object when the login happens (Auth0's names; see ``config._normalize_refresh_token``), so a later change of the
client applies to later logins.

Rotation (``rotation_type = "rotating"``, Auth0's "Configure Refresh Token Rotation"): each exchange returns a new
refresh token, the next *generation* of the family. "Only the previous token can be reused" within the ``leeway``
("Reuse Interval": "during the leeway window the breach detection features don't apply and a new rotating refresh
token is issued"): the previous generation, exchanged less than ``leeway`` seconds after the family last rotated,
gets a valid new set whose refresh token joins the current generation. Any other token of the family (the
previous one after the leeway, or an older one) is reuse, breach detection: the whole family is revoked and the
exchange refused. Concurrent exchanges of the newest token therefore end up in one family (the first rotates, the
others are reuses inside the leeway, or revoke the family when there is none), never in two live ones.

Lifetimes (``token_lifetime`` absolute, from the login; ``idle_token_lifetime``, since the token was issued or, for
a non-rotating token, last used) are enforced unless their ``infinite_*`` flag is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["family_settings", "refresh_decision"]


def family_settings(client_settings: Mapping[str, Any], now: float) -> tuple[dict[str, Any], float | None]:
    """The rotation settings a new family keeps, and its absolute expiry (None: never)."""
    settings = {
        "rotation_type": str(client_settings.get("rotation_type") or "non-rotating"),
        "leeway": int(client_settings.get("leeway") or 0),
        "idle_lifetime": None
        if client_settings.get("infinite_idle_token_lifetime", True)
        else int(client_settings["idle_token_lifetime"]),
    }
    expires_at = (
        None if client_settings.get("infinite_token_lifetime", True) else now + float(client_settings["token_lifetime"])
    )
    return settings, expires_at


def refresh_decision(family: Mapping[str, Any], token: Mapping[str, Any], *, client_id: str, now: float) -> str:
    """``keep`` | ``rotate`` | ``reuse`` | ``refuse`` | ``revoke`` (see :meth:`Store.exchange_refresh_token`)."""
    if family["client_id"] != client_id:
        return "refuse"  # another client's token: refused, and not revoked (it is not this client's to burn)
    expires_at = family.get("expires_at")
    if expires_at is not None and now >= float(expires_at):
        return "revoke"
    settings = family["data"]
    idle = settings.get("idle_lifetime")
    if idle is not None and now >= float(token["last_used_at"]) + float(idle):
        return "revoke"
    if settings.get("rotation_type") != "rotating":
        return "keep"
    if token["generation"] == family["generation"]:
        return "rotate"
    leeway = int(settings.get("leeway") or 0)
    if token["generation"] == family["generation"] - 1 and leeway > 0 and now - float(family["rotated_at"]) <= leeway:
        return "reuse"
    return "revoke"  # breach detection
