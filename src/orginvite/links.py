"""Parse and validate the login query: the invitation link and the ``returnTo`` path.

An invitation link arrives as ``/login?invitation=..&organization=..&organization_name=..`` from an email that
anyone may have edited. This module turns the raw query string into a :class:`LoginRequest` or raises
:class:`~orginvite.errors.InvalidLinkError` with a stable ``code`` and the ``field`` at fault. It does no I/O and
knows nothing of ASGI, so it is tested exhaustively with plain calls.

Why parse by hand instead of ``request.query_params``: a mapping keeps one value per key, so a repeated
``organization`` would be silently resolved. Here every pair is seen, decoded strictly (invalid percent-encoding
and invalid UTF-8 are errors, not replacement characters) and a repeated key is refused.

Decisions (documented in the README):

* ``invitation`` requires ``organization`` and that organization must be an ID: a ticket is bound to an ID.
* ``organization`` alone is an organization login: an ID, or a name when :attr:`LinkRules.accept_organization_names`.
  A value that starts with ``org_`` is always read as an ID (as Auth0 and :mod:`orginvite.login.claims` do), so it must
  match the ID pattern.
* ``organization_name`` alone is a routing hint (which organization's host or path to send the browser to), never a
  login: :attr:`LoginRequest.organization` stays ``None``. Next to a name-valued ``organization`` it must agree.
* Unknown keys are ignored: nothing from the query is forwarded except the fields of :class:`LoginRequest`.
* ``returnTo`` never makes a link invalid (except when repeated): an unsafe value falls back to the default path.
* Error messages never contain the submitted values, so a ticket cannot leak through a page or a log line.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from orginvite.errors import ConfigurationError, InvalidLinkError

if TYPE_CHECKING:
    import logging

__all__ = [
    "RETURN_TO_MAX_LENGTH",
    "TICKET_ALPHABET",
    "LinkRules",
    "LoginRequest",
    "parse_login_query",
    "redact_log_record",
    "redact_tickets",
    "safe_return_path",
    "ticket_fingerprint",
]

#: RFC 3986 "unreserved" characters: survive any URL round trip without encoding.
TICKET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

#: Longest ``returnTo`` kept; longer values fall back to the default (nobody needs more, attackers like more).
RETURN_TO_MAX_LENGTH = 2048

_FIELDS = ("invitation", "organization", "organization_name", "returnTo", "switch")
_LABELS = {
    "invitation": "invitation ticket",
    "organization": "organization",
    "organization_name": "organization name",
    "returnTo": "return path",
    "switch": "organization switch",
    None: "query string",
}
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


#: Compiled patterns of the rules (``re.fullmatch(str, ...)`` looks the pattern up in re's cache on every call).
_compiled = functools.lru_cache(maxsize=64)(re.compile)


@dataclass(frozen=True)
class LinkRules:
    """What a valid link looks like; the defaults follow Auth0, every deployment may tighten or widen.

    Auth0's rules: https://auth0.com/docs/manage-users/organizations/configure-organizations/create-organizations
    (names, IDs) and https://auth0.com/docs/manage-users/organizations/configure-organizations/invite-members
    (the invitation link).

    Patterns are matched in full (``re.fullmatch``), so anchors are optional.
    """

    organization_id_pattern: str = r"^org_[A-Za-z0-9]{16}$"
    organization_id_max_length: int = 50
    organization_name_pattern: str = r"^[a-z0-9_-]{1,50}$"
    organization_name_max_length: int = 50
    ticket_max_length: int = 256
    ticket_alphabet: str = TICKET_ALPHABET
    accept_organization_names: bool = True
    query_max_length: int = 8192

    def __post_init__(self) -> None:
        for name in ("organization_id_pattern", "organization_name_pattern"):
            try:
                re.compile(getattr(self, name))
            except (re.error, TypeError) as exc:
                raise ConfigurationError(name, f"not a valid regular expression ({exc})") from None
        for name in ("organization_id_max_length", "organization_name_max_length", "ticket_max_length",
                     "query_max_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(name, "must be a positive integer")
        if not self.ticket_alphabet or not set(self.ticket_alphabet) <= set(TICKET_ALPHABET):
            raise ConfigurationError("ticket_alphabet", "must be a non-empty subset of the URL-safe characters")

    def is_organization_id(self, value: str) -> bool:
        """Whether ``value`` is a well-formed organization ID under these rules."""
        return len(value) <= self.organization_id_max_length and (
            _compiled(self.organization_id_pattern).fullmatch(value) is not None
        )

    def is_organization_name(self, value: str) -> bool:
        """Whether ``value`` is a well-formed organization name (never a display name) under these rules."""
        return (
            value.isascii()
            and len(value) <= self.organization_name_max_length
            and _compiled(self.organization_name_pattern).fullmatch(value) is not None
        )


def ticket_fingerprint(ticket: str | None) -> str:
    """A short, stable stand-in for a ticket in logs and reprs: the ticket is a bearer secret, its hash is not."""
    if ticket is None:
        return "-"
    return "sha256:" + hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest()[:12]


#: ``invitation=`` as a log line may spell it: any case, any letter percent-encoded, ``=`` as ``%3D`` (the login
#: and the dev tenant's /authorize refuse such links, but the access log has already printed the URL by then).
_TICKET_KEY = "".join(f"(?:{c}|%{ord(c):02x}|%{ord(c.upper()):02x})" for c in "invitation")
_TICKET_IN_URL = re.compile("(" + _TICKET_KEY + r"(?:=|%3d))([^&\s\"']+)", re.IGNORECASE)


def redact_tickets(text: str) -> str:
    """``text`` with the ticket of every ``invitation=<ticket>``, however the key is spelled, replaced by its
    :func:`ticket_fingerprint`: the one redaction of the app's and the dev tenant's log filters."""
    return _TICKET_IN_URL.sub(lambda m: m.group(1) + ticket_fingerprint(m.group(2)), text)


def redact_log_record(record: logging.LogRecord) -> None:
    """:func:`redact_tickets` over a log record's message and string arguments, in place (the body of a
    ``logging.Filter``: access logs pass the URL as an argument)."""
    search = _TICKET_IN_URL.search
    if isinstance(record.msg, str) and search(record.msg):
        record.msg = redact_tickets(record.msg)
    if isinstance(record.args, tuple) and any(isinstance(a, str) and search(a) for a in record.args):
        record.args = tuple(redact_tickets(a) if isinstance(a, str) else a for a in record.args)


@dataclass(frozen=True)
class LoginRequest:
    """A validated login query. The only source of values the login route may forward to ``/authorize``.

    ``invitation`` is a secret: it is left out of ``repr`` (a fingerprint stands in), so logging the object is safe.
    ``return_to`` is always a safe same-origin path (the default when the query had none or an unsafe one).
    """

    invitation: str | None = field(default=None, repr=False)
    organization: str | None = None
    organization_name: str | None = None
    return_to: str = "/"
    #: ``switch=1``: a signed-in member moves their session to ``organization`` (tried silently, ``prompt=none``).
    switch: bool = False

    @property
    def is_invitation(self) -> bool:
        """True for an invitation link (then ``organization`` is an organization ID)."""
        return self.invitation is not None

    @property
    def organization_is_id(self) -> bool:
        """Whether ``organization`` is an ID (``org_`` prefix, the same rule :mod:`orginvite.login.claims` applies)."""
        return self.organization is not None and self.organization.startswith("org_")

    @property
    def authorize_params(self) -> dict[str, str]:
        """The only link values that may reach ``/authorize``: ``organization`` and ``invitation`` when present.

        ``organization_name`` is for the app's own routing (Auth0:
        https://auth0.com/docs/manage-users/organizations/configure-organizations/invite-members) and ``returnTo``
        is ours; neither is ever forwarded.
        """
        params = {"organization": self.organization, "invitation": self.invitation}
        return {key: value for key, value in params.items() if value is not None}

    def link_params(self) -> dict[str, str]:
        """The validated link, re-encodable for a redirect to the organization's own host or path (issue 5)."""
        params = {
            "invitation": self.invitation,
            "organization": self.organization,
            "organization_name": self.organization_name,
            "returnTo": self.return_to,
        }
        return {key: value for key, value in params.items() if value is not None}

    @property
    def ticket_fingerprint(self) -> str:
        """What to log instead of the ticket."""
        return ticket_fingerprint(self.invitation)

    def __repr__(self) -> str:
        return (
            f"LoginRequest(invitation={self.ticket_fingerprint!r}, organization={self.organization!r}, "
            f"organization_name={self.organization_name!r}, return_to={self.return_to!r})"
        )

    __str__ = __repr__


def _fail(code: str, key: str | None, message: str) -> InvalidLinkError:
    return InvalidLinkError(code, key, message)


def _decode_component(raw: str, key: str | None) -> str:
    """Strict ``application/x-www-form-urlencoded`` decoding of one key or value."""
    if "%" not in raw and "+" not in raw:
        return raw  # nothing encoded (the usual case): nothing to decode, nothing that can fail
    label = _LABELS.get(key, "query string")
    if _BAD_PERCENT.search(raw):
        raise _fail("invalid_encoding", key, f"The {label} contains a '%' that is not followed by two hex digits.")
    try:
        return unquote(raw.replace("+", " "), encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise _fail("invalid_encoding", key, f"The {label} is not valid UTF-8 once percent-decoded.") from None


def _split_query(query: str, rules: LinkRules) -> dict[str, str]:
    """Every ``key=value`` pair of the query, keeping only our fields, refusing repeats."""
    if len(query) > rules.query_max_length:
        raise _fail("too_long", None, f"The query string is longer than {rules.query_max_length} characters.")
    if not query.isascii():
        raise _fail("non_ascii", None, "The query string contains raw non-ASCII characters; links are percent-encoded.")
    found: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        raw_key, _, raw_value = pair.partition("=")
        try:
            key = _decode_component(raw_key, None)
        except InvalidLinkError:
            continue  # a key that does not decode cannot be one of ours (they are plain ASCII), under any decoder
        if key not in _FIELDS:
            continue  # unknown keys are never forwarded, so they need no validation
        if key != raw_key:
            # "invit%61tion": no mailer or browser encodes a plain ASCII key, and log redaction (which sees the raw
            # URL) would miss the ticket. Refused rather than read, for all four keys alike.
            raise _fail("invalid_encoding", key, f"The name of the {_LABELS[key]} is percent-encoded in the link; "
                        f"it must be spelled '{key}='.")
        if key in found:
            raise _fail("repeated_parameter", key, f"The {_LABELS[key]} appears more than once in the link.")
        if key == "returnTo":
            # An unsafe returnTo falls back to the default; it is never a reason to refuse the link.
            try:
                found[key] = _decode_component(raw_value, key)
            except InvalidLinkError:
                found[key] = ""
        else:
            found[key] = _decode_component(raw_value, key)
    return found


def _check_text(value: str, key: str, max_length: int) -> None:
    label = _LABELS[key]
    if value == "":
        raise _fail("empty_value", key, f"The {label} is empty.")
    if len(value) > max_length:
        raise _fail("too_long", key, f"The {label} is longer than {max_length} characters.")
    if _CONTROL.search(value):
        raise _fail("control_character", key, f"The {label} contains control characters.")
    if not value.isascii():
        raise _fail("non_ascii", key, f"The {label} contains non-ASCII characters.")


def _check_ticket(value: str, rules: LinkRules) -> str:
    _check_text(value, "invitation", rules.ticket_max_length)
    if value.strip(rules.ticket_alphabet):  # strip() removes every allowed character: anything left is not allowed
        raise _fail(
            "invalid_ticket", "invitation", "The invitation ticket contains characters that are not URL-safe."
        )
    return value


def _check_organization(value: str, rules: LinkRules, *, invitation: bool) -> str:
    if invitation or value.startswith("org_"):
        max_length = rules.organization_id_max_length
    else:
        max_length = max(rules.organization_id_max_length, rules.organization_name_max_length)
    _check_text(value, "organization", max_length)
    if rules.is_organization_id(value):
        return value
    if invitation:
        if rules.is_organization_name(value) and not value.startswith("org_"):
            raise _fail(
                "organization_id_required",
                "organization",
                "An invitation link must name its organization by ID, not by name.",
            )
        raise _fail("invalid_organization", "organization", "The organization is not a valid organization ID.")
    if value.startswith("org_"):
        raise _fail("invalid_organization", "organization", "The organization is not a valid organization ID.")
    if rules.is_organization_name(value):
        if not rules.accept_organization_names:
            raise _fail(
                "organization_name_not_accepted",
                "organization",
                "This application only accepts organization IDs, not organization names.",
            )
        return value
    raise _fail(
        "invalid_organization",
        "organization",
        "The organization is neither an organization ID nor an organization name "
        "(lowercase letters, digits, '_' and '-').",
    )


def _check_organization_name(value: str, rules: LinkRules) -> str:
    _check_text(value, "organization_name", rules.organization_name_max_length)
    if not rules.is_organization_name(value):
        raise _fail(
            "invalid_organization_name",
            "organization_name",
            "The organization name may only contain lowercase letters, digits, '_' and '-'.",
        )
    return value


def parse_login_query(
    query: str | bytes,
    rules: LinkRules = LinkRules(),
    *,
    default_return_to: str = "/",
) -> LoginRequest:
    """Validate the raw query string of a login request (ASGI ``scope["query_string"]`` as is).

    Returns a :class:`LoginRequest` holding only validated values; raises :class:`InvalidLinkError` otherwise.
    A plain ``/login`` (empty query) is a valid ordinary login.
    """
    if isinstance(query, bytes | bytearray | memoryview):
        try:
            query = bytes(query).decode("utf-8")
        except UnicodeDecodeError:
            raise _fail("invalid_encoding", None, "The query string is not valid UTF-8.") from None
    if not isinstance(query, str):
        raise TypeError("query must be str or bytes")
    query = query.removeprefix("?")
    found = _split_query(query, rules)

    invitation = found.get("invitation")
    organization = found.get("organization")
    organization_name = found.get("organization_name")

    if invitation is not None:
        invitation = _check_ticket(invitation, rules)
        if organization is None:
            raise _fail(
                "missing_organization",
                "organization",
                "The invitation link has no organization; open the link from the invitation email again.",
            )
    if organization is not None:
        organization = _check_organization(organization, rules, invitation=invitation is not None)
    if organization_name is not None:
        organization_name = _check_organization_name(organization_name, rules)
        if organization is not None and not organization.startswith("org_") and organization != organization_name:
            raise _fail(
                "conflicting_organization",
                "organization_name",
                "The organization and the organization name of the link name different organizations.",
            )

    switch = found.get("switch")
    if switch is not None:
        if switch != "1":
            raise _fail("invalid_switch", "switch", "The organization switch must be switch=1.")
        if invitation is not None or organization is None:
            raise _fail("invalid_switch", "switch",
                        "An organization switch names the organization to switch to and no invitation.")

    return LoginRequest(
        invitation=invitation,
        organization=organization,
        organization_name=organization_name,
        return_to=safe_return_path(found.get("returnTo"), default_return_to),
        switch=switch is not None,
    )


# --- returnTo ---------------------------------------------------------------------------------------------------

# Characters that render or normalise like "/", "\\", "." or "@" (checked after decoding, NFKC catches the rest).
_LOOKALIKES = frozenset(
    "\u2044\u2215\u29f8\u29f9\u2216\u29f5\u29f6\u29f7\u2afd\u2afb\u27cb\u27cd\u3002\uff0e\uff61\u2024\u2025\u2026"
    "\ufe52\uff0f\uff3c\ufe68\u2100\u2101\u2105\u2106\u2488\u2489\u248a\u248b\uff20\ufe6b"
)


def _structurally_safe(path: str) -> bool:
    """The checks every decoding layer of a return path must pass."""
    if not path.startswith("/") or path[1:2] in ("/", "\\"):
        return False
    if "\\" in path or _CONTROL.search(path):
        return False
    if any(char in _LOOKALIKES for char in path):
        return False
    route = urlsplit(path)
    if route.scheme or route.netloc:
        return False
    # Dot segments: "/.//evil.example" resolves to the path "//evil.example", which a later redirect would misread.
    segments = route.path.split("/")
    return not any(segment in (".", "..") for segment in segments)


@functools.lru_cache(maxsize=1024)
def _is_safe_return_path(value: str) -> bool:
    """Pure and called on every login (the default path at least): memoized, bounded (values are <= 2048 chars)."""
    if not value or len(value) > RETURN_TO_MAX_LENGTH or not value.isascii():
        return False
    if any(char <= " " or char == "\x7f" for char in value):  # whitespace and controls, raw, anywhere
        return False
    if _BAD_PERCENT.search(value):
        return False
    layer = value
    for _ in range(4):  # a path decoded again by some later hop must still be safe
        if not _structurally_safe(layer):
            return False
        normalized = unicodedata.normalize("NFKC", layer)
        if normalized != layer and not _structurally_safe(normalized):
            return False
        if "%" not in layer:
            return True
        if _BAD_PERCENT.search(layer):
            return False
        try:
            decoded = unquote(layer, encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            return False
        if decoded == layer:
            return True
        layer = decoded
    return False  # encoded more than four times deep: nobody legitimate does that


def safe_return_path(value: str | None, default: str = "/") -> str:
    """``value`` if it is a same-origin relative path that stays so under any decoding, else ``default``.

    Query and fragment of a safe path are kept. Anything doubtful falls back: absolute and scheme-relative URLs,
    schemes, backslashes, whitespace or control characters anywhere, non-ASCII (browsers percent-encode real
    paths, so raw non-ASCII only comes from hand-made links), unicode look-alikes of ``/`` ``\\`` ``.`` once decoded,
    invalid or deeply nested percent-encoding, dot segments, and values over :data:`RETURN_TO_MAX_LENGTH`.
    ``default`` must itself be safe (it is configuration; a bad one raises ``ValueError``).
    """
    if not isinstance(default, str) or not _is_safe_return_path(default):
        raise ValueError("default return path must be a same-origin path such as '/'")
    if isinstance(value, str) and _is_safe_return_path(value):
        return value
    return default
