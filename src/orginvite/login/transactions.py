"""Login transactions: one signed cookie per ``state``, capped, with a TTL long enough for sign-up.

One transaction cookie per browser breaks the first tab when a second one starts a login; per-state cookies
without a cap pile up until the server answers 413 (nextjs-auth0 #1862, #2209). Here each login writes its own
cookie named after its state, at most ``max_transactions`` live (the oldest are evicted when a new one starts),
each lives ``transaction_ttl`` seconds (default one hour: sign-up plus an email verification), and the callback
deletes its cookie whatever the outcome.

Cookie attributes, and why ``Path=/``: on https the cookie is ``__Host-`` prefixed, which forces ``Secure``, no
``Domain`` and ``Path=/``. The strongest prefix matters for apps that route organizations by subdomain: a sibling
subdomain cannot plant or shadow a ``__Host-`` cookie. ``Path=/`` is also what makes the cap enforceable: the login
route must see the live transactions to evict the oldest, and a cookie scoped to the callback path is never sent to
the login path. The price is a few hundred bytes per live transaction on other requests for at most the TTL,
bounded by the cap; the pass-through path does not parse them. ``SameSite=Lax`` lets the top-level redirect back
from the provider carry the cookie; ``HttpOnly`` keeps scripts away from the PKCE verifier.

The invitation ticket is not stored: it is needed only for the ``/authorize`` URL, and the callback needs just
the fact that this was an invitation (to pick the right error page).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orginvite.config import Settings
from orginvite.errors import InvalidCookieError
from orginvite.sessions.signing import CookieSigner, pick_evictions, set_cookie_header

__all__ = ["STATE_PATTERN", "Transaction", "TransactionCookies"]

#: What our states look like (``oidc.new_state``: 40 hex digits; before it, 32 letters and digits); anything else
#: cannot name one of our cookies.
STATE_PATTERN = re.compile(r"[A-Za-z0-9]{16,64}")


@dataclass(frozen=True)
class Transaction:
    """What the callback needs to check the provider's answer against the login that started it."""

    state: str
    nonce: str
    code_verifier: str
    organization: str | None
    invitation: bool
    return_to: str
    created_at: float
    redirect_uri: str
    #: Multi-tenant routing: the organization of the host (or path) the login started on, checked at the callback
    #: against the token and bound into the session; its ID when it was looked up, and the host itself.
    host_organization: str | None = None
    host_organization_id: str | None = None
    host: str | None = None
    #: Path routing: the organization's path (``/o/acme``) the login started under; the callback (on the apex's
    #: ``/callback``) links back under it.
    path_prefix: str | None = None
    #: ``"none"`` for a silent organization switch: ``login_required`` at the callback restarts it interactively.
    prompt: str | None = None
    #: Invitation preflight: the invitation's ID and invitee (never the ticket), for the callback's events.
    invitation_id: str | None = None
    invitee_email: str | None = None

    def __repr__(self) -> str:  # nonce and verifier are secrets of this login
        return (
            f"Transaction(state={self.state[:6]}..., organization={self.organization!r}, "
            f"invitation={self.invitation}, return_to={self.return_to!r})"
        )

    def to_payload(self) -> dict[str, Any]:
        """The cookie's JSON object (``dataclasses.asdict`` deep-copies, and this is on every login)."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Transaction:
        strings = ("state", "nonce", "code_verifier", "return_to", "redirect_uri")
        if not all(isinstance(payload.get(name), str) and payload[name] for name in strings):
            raise InvalidCookieError("malformed")
        organization = payload.get("organization")
        created_at = payload.get("created_at")
        if (
            (organization is not None and (not isinstance(organization, str) or not organization))
            or not isinstance(payload.get("invitation"), bool)
            or not isinstance(created_at, int | float)
            or isinstance(created_at, bool)
            or not math.isfinite(created_at)
        ):
            raise InvalidCookieError("malformed")
        optional = _OPTIONAL
        for name in optional:
            value = payload.get(name)
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidCookieError("malformed")
        return cls(**{name: payload[name] for name in _REQUIRED}, **{name: payload.get(name) for name in optional})


_FIELDS = tuple(Transaction.__dataclass_fields__)
_OPTIONAL = ("host_organization", "host_organization_id", "host", "path_prefix", "prompt", "invitation_id",
             "invitee_email")
_REQUIRED = tuple(name for name in _FIELDS if name not in _OPTIONAL)


class TransactionCookies:
    """Write, find and delete transaction cookies for one :class:`Settings`."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.prefix = ("__Host-" if settings.secure else "") + settings.transaction_cookie_prefix
        self._clock = clock
        self._signer = CookieSigner(settings.secret_keys, "orginvite.transaction", clock=clock)

    def cookie_name(self, state: str) -> str:
        return self.prefix + state

    def _header(self, name: str, value: str, max_age: int) -> tuple[bytes, bytes]:
        return set_cookie_header(name, value, max_age=max_age, secure=self.settings.secure)

    def delete_header(self, state: str) -> tuple[bytes, bytes]:
        return self._header(self.cookie_name(state), "", 0)

    def _created_at(self, value: str) -> float | None:
        try:
            payload = self._signer.unsign(value, max_age=self.settings.transaction_ttl)
        except InvalidCookieError:
            return None
        created_at = payload.get("created_at")
        ok = isinstance(created_at, int | float) and not isinstance(created_at, bool) and math.isfinite(created_at)
        return float(created_at) if ok else None

    def start(self, transaction: Transaction, cookies: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
        """Headers that store ``transaction`` and evict what must go: expired, invalid, then the oldest over the cap."""
        headers: list[tuple[bytes, bytes]] = []
        live: dict[str, float] = {}
        for name, value in cookies.items():
            if not name.startswith(self.prefix) or name == self.cookie_name(transaction.state):
                continue
            created_at = self._created_at(value)
            if created_at is None:
                headers.append(self._header(name, "", 0))  # garbage, tampered or expired: clean it up now
            else:
                live[name] = created_at
        for name in pick_evictions(live, self.settings.max_transactions):
            headers.append(self._header(name, "", 0))
        value = self._signer.sign(transaction.to_payload())
        headers.append(self._header(self.cookie_name(transaction.state), value, self.settings.transaction_ttl))
        return headers

    def load(self, state: str | None, cookies: Mapping[str, str]) -> Transaction:
        """The transaction of ``state``; :class:`InvalidCookieError` (missing, tampered, expired, malformed) else."""
        if not state or not STATE_PATTERN.fullmatch(state):
            raise InvalidCookieError("missing")
        value = cookies.get(self.cookie_name(state))
        if value is None:
            raise InvalidCookieError("missing")
        transaction = Transaction.from_payload(self._signer.unsign(value, max_age=self.settings.transaction_ttl))
        if transaction.state != state:  # a cookie copied under another state's name
            raise InvalidCookieError("tampered")
        if transaction.created_at > self._clock() + 60:
            raise InvalidCookieError("malformed")
        return transaction
