"""The decisions /authorize and /oauth/token make, as pure functions (no I/O, no ASGI).

Auth0 splits authorization errors in two: when the client or the redirect URI cannot be trusted the error is
shown on a page (redirecting would make the tenant an open redirector); every other error goes back to the
validated redirect URI as ``error``, ``error_description`` and ``state``. :class:`AuthorizeError` carries
which of the two applies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from orginvite.errors import OrgInviteError

from .url_placeholders import ORGANIZATION_NAME, matches_organization_callback

__all__ = [
    "AUTHORIZE_PARAMETERS",
    "INVITATION_INVALID",
    "AuthorizeError",
    "add_query",
    "callback_allowed",
    "check_organization_parameter",
    "has_organization_callback",
    "parse_single_valued",
    "pkce_s256",
    "response_mode_for",
    "response_type_of",
    "valid_code_challenge",
    "valid_code_verifier",
    "verify_pkce",
]

#: What /authorize reads; anything else in the query is ignored and never forwarded.
AUTHORIZE_PARAMETERS = (
    "response_type",
    "response_mode",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "organization",
    "invitation",
    "ui_locales",
    "login_hint",
    "screen_hint",
    "prompt",
    "audience",
    "max_age",
)

#: The response types served, by their (unordered) parts: the code flow, implicit ID token, and hybrid.
RESPONSE_TYPES = {
    frozenset({"code"}): "code",
    frozenset({"id_token"}): "id_token",
    frozenset({"code", "id_token"}): "code id_token",
}
RESPONSE_MODES = ("query", "fragment", "form_post")

#: Auth0 gives the same answer for an unknown, expired, used or foreign invitation (they cannot be told apart).
INVITATION_INVALID = ("invalid_request", "invitation not found or already used")

_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_ORG_ID = re.compile(r"^org_[A-Za-z0-9]{1,46}$")
_ORG_NAME = re.compile(r"^[a-z0-9_-]{1,50}$")


class AuthorizeError(OrgInviteError):
    """An /authorize failure: ``redirect`` says whether it may go back to the redirect URI."""

    def __init__(self, error: str, description: str, *, redirect: bool = True) -> None:
        self.error = error
        self.description = description
        self.redirect = redirect
        super().__init__(f"{error}: {description}")


def parse_single_valued(pairs: Iterable[tuple[str, str]], names: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """The values of ``names`` and the names given more than once (RFC 6749 3.1: parameters are single-valued)."""
    values: dict[str, str] = {}
    repeated: list[str] = []
    for key, value in pairs:
        if key not in names:
            continue
        if key in values and key not in repeated:
            repeated.append(key)
        values[key] = value
    return values, repeated


def callback_allowed(uri: str, allowed: Iterable[str], *, organization_name: str | None = None) -> bool:
    """Exact match, or Auth0's wildcard subdomain (``https://*.myapp.com/callback``, or ``https://pr-*.myapp.com``).

    Auth0's rules: http(s) only; one ``*``, in the leftmost label of the host, never directly above the top-level
    domain (``*.com``); it stands for one or more characters of exactly one label (``*.myapp.com`` does not
    match ``a.b.myapp.com``, nor ``myapp.com``); scheme, port, path and query must match exactly.

    A ``{organization_name}`` URL is evaluated beside them, only with ``organization_name`` (the organization of
    the transaction): it then allows that organization's URL exactly, and without one it allows nothing.
    """
    if not uri or "#" in uri or any(ord(c) < 0x21 or ord(c) == 0x7F for c in uri):
        return False
    try:
        parts = urlsplit(uri)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return False
    for pattern in allowed:
        if ORGANIZATION_NAME in pattern:
            if matches_organization_callback(uri, pattern, organization_name):
                return True
            continue
        if uri == pattern:
            return True
        if "*" in pattern and _wildcard_match(parts, pattern):
            return True
    return False


def has_organization_callback(allowed: Iterable[str]) -> bool:
    """Whether any allowed callback needs the transaction's organization to be evaluated."""
    return any(ORGANIZATION_NAME in pattern for pattern in allowed)


def _wildcard_match(parts: object, pattern: str) -> bool:
    try:
        wanted = urlsplit(pattern)
        wanted_port = wanted.port
        port = parts.port  # type: ignore[attr-defined]
    except ValueError:
        return False
    host = wanted.hostname or ""
    labels = host.split(".")
    # one "*" in the leftmost label (optionally with a prefix and/or suffix), never directly above a TLD ("*.com").
    if labels[0].count("*") != 1 or len(labels) < 3 or any("*" in label for label in labels[1:]):
        return False
    prefix, _, suffix = labels[0].partition("*")
    if "*" in (wanted.path + wanted.query) or "@" in wanted.netloc:
        return False
    candidate = (parts.hostname or "").split(".")  # type: ignore[attr-defined]
    return (
        parts.scheme.lower() == wanted.scheme.lower()  # type: ignore[attr-defined]
        and port == wanted_port
        and len(candidate) == len(labels)
        and _LABEL.match(candidate[0]) is not None
        and len(candidate[0]) > len(prefix) + len(suffix)  # "*" stands for at least one character
        and candidate[0].startswith(prefix)
        and candidate[0].endswith(suffix)
        and candidate[1:] == labels[1:]
        and parts.path == wanted.path  # type: ignore[attr-defined]
        and parts.query == wanted.query  # type: ignore[attr-defined]
    )


def response_type_of(value: str | None) -> str | None:
    """The normalized response type ("code", "id_token" or "code id_token"; parts in any order), or None."""
    if not value:
        return None
    parts = value.split(" ")
    if len(parts) != len(set(parts)):
        return None
    return RESPONSE_TYPES.get(frozenset(parts))


def response_mode_for(response_type: str | None, response_mode: str | None) -> str:
    """How the answer travels back: the requested mode when it is one we serve, else the type's default.

    OAuth 2.0 Multiple Response Type Encoding Practices: ``query`` for ``code``, ``fragment`` for anything that
    carries a token (a token must not travel in a query string, so ``query`` is never used for those, not even
    for the error that refuses it); ``form_post`` for any of them when asked.
    """
    carries_token = bool(response_type and "id_token" in response_type)
    if response_mode in RESPONSE_MODES and not (response_mode == "query" and carries_token):
        return response_mode
    return "fragment" if carries_token else "query"


def add_query(url: str, params: Mapping[str, str | None]) -> str:
    """``url`` with ``params`` appended to its query (existing parameters kept, ``None`` values left out)."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    pairs += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(pairs), ""))


def valid_code_challenge(challenge: str) -> bool:
    """An S256 challenge is the base64url (unpadded) SHA-256 of the verifier: exactly 43 characters."""
    return _CHALLENGE.match(challenge) is not None


def valid_code_verifier(verifier: str) -> bool:
    """RFC 7636 4.1: 43 to 128 unreserved characters."""
    return _VERIFIER.match(verifier) is not None


def pkce_s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify_pkce(verifier: str | None, challenge: str | None) -> bool:
    """True when no challenge was sent and no verifier comes, or the verifier hashes to the challenge."""
    if challenge is None:
        return verifier is None
    if verifier is None or not valid_code_verifier(verifier):
        return False
    return hmac.compare_digest(pkce_s256(verifier), challenge)


def check_organization_parameter(
    value: str | None, *, usage: str, require_behavior: str, names_allowed: bool
) -> tuple[str, str] | None:
    """``("id" | "name", value)`` for the ``organization`` parameter, ``None`` when absent and acceptable.

    Raises :class:`AuthorizeError` with Auth0's texts. A missing organization for a client that requires one
    with a prompt behaviour is not an error: the caller shows the prompt.
    """
    if value is None or value == "":
        if usage == "require" and require_behavior == "no_prompt":
            raise AuthorizeError("invalid_request", "parameter organization is required for this client")
        return None
    if usage == "deny":
        raise AuthorizeError("invalid_request", "parameter organization is not allowed for this client")
    if value.startswith("org_"):
        if _ORG_ID.match(value) is None:
            raise AuthorizeError("invalid_request", "parameter organization is not a valid organization id")
        return ("id", value)
    if not names_allowed:
        raise AuthorizeError(
            "invalid_request", "authorization request parameter organization must be an organization id"
        )
    name = value.lower()
    if _ORG_NAME.match(name) is None:
        raise AuthorizeError("invalid_request", "parameter organization is not a valid organization name")
    return ("name", name)
