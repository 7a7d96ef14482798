"""Auth0's organization placeholders in application URLs, as pure functions (no I/O, no ASGI).

Auth0 documents two of them (auth0.com/docs/get-started/applications/wildcards-for-subdomains and
.../application-settings, "Application URIs"):

- ``{organization_name}`` in **Allowed Callback URLs** (and Allowed Origins, which the dev tenant has not): the
  leftmost host label of an http(s) URL, alone in its label, once, never with a ``*``, never the whole host nor
  in the path. It is evaluated only for a client whose ``organization_usage`` is ``allow`` or ``require`` and
  only in a transaction with an organization; then it matches exactly the URL with that organization's name.
  Without an organization it matches nothing. Allowed Logout URLs do not accept it (a logout request carries no
  organization), nor does the Application Login URI.
- ``{organization.metadata.KEY}`` in the **Application Login URI** (``initiate_login_uri``), ``KEY`` a top-level
  metadata key starting with ``public_``: resolved from the organization's metadata when Auth0 builds a URL for
  that organization (an invitation link). When it cannot be resolved, Auth0 falls back to the tenant's
  ``default_redirection_uri``, and without one there is no login route.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import SplitResult, urlsplit

__all__ = [
    "METADATA_FORM",
    "ORGANIZATION_NAME",
    "callback_placeholder_problem",
    "has_placeholder",
    "login_uri_placeholder_problem",
    "matches_organization_callback",
    "resolve_login_uri",
]

ORGANIZATION_NAME = "{organization_name}"
METADATA_FORM = "{organization.metadata.public_KEY}"

_BRACED = re.compile(r"\{[^{}]*\}")
_METADATA = re.compile(r"\{organization\.metadata\.([^{}]*)\}")
_METADATA_KEY = re.compile(r"^(?:public_|PUBLIC_)[A-Za-z0-9_-]{1,200}$")
# What a resolved metadata value may be: one or more DNS labels (no port, path, credentials or spaces).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_VALUE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


def has_placeholder(url: str) -> bool:
    """Whether ``url`` has anything in braces (a placeholder, or a misspelt one)."""
    return "{" in url or "}" in url


def _split_host(url: str) -> tuple[SplitResult, str] | None:
    """The URL split, and its host exactly as written (urlsplit lowercases ``hostname``)."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return None
    netloc = parts.netloc.rpartition("@")[2]
    host = netloc[1:].partition("]")[0] if netloc.startswith("[") else netloc.partition(":")[0]
    return parts, host


def callback_placeholder_problem(url: str) -> str | None:
    """Why ``url`` breaks Auth0's ``{organization_name}`` rules for an Allowed Callback URL; None when it keeps them."""
    unknown = [token for token in _BRACED.findall(url) if token != ORGANIZATION_NAME]
    if unknown:
        return f"{unknown[0]} is not a placeholder Allowed Callback URLs accept (only {ORGANIZATION_NAME})"
    if url.count("{") != url.count(ORGANIZATION_NAME) or url.count("}") != url.count(ORGANIZATION_NAME):
        return f"has an unbalanced brace (the placeholder is spelt {ORGANIZATION_NAME})"
    if url.count(ORGANIZATION_NAME) > 1:
        return f"must not contain more than one {ORGANIZATION_NAME}"
    if "*" in url:
        return f"must not combine {ORGANIZATION_NAME} with a '*' wildcard"
    split = _split_host(url)
    if split is None:
        return f"must be an absolute http(s) URL (got {url!r})"
    parts, host = split
    if parts.scheme not in ("http", "https"):
        return f"{ORGANIZATION_NAME} needs an http or https URL"
    if ORGANIZATION_NAME not in host:
        return f"{ORGANIZATION_NAME} may only stand in the host, as in https://{ORGANIZATION_NAME}.example.com/"
    labels = host.split(".")
    if labels[0] != ORGANIZATION_NAME:
        if any(ORGANIZATION_NAME in label and label != ORGANIZATION_NAME for label in labels):
            return f"{ORGANIZATION_NAME} must be a whole host label, without a prefix or suffix"
        return f"{ORGANIZATION_NAME} must be the leftmost host label (the subdomain furthest from the root)"
    if len(labels) < 3:
        return f"{ORGANIZATION_NAME} must be a subdomain of a domain you control, as in https://{ORGANIZATION_NAME}.example.com/"
    return None


def login_uri_placeholder_problem(url: str) -> str | None:
    """Why ``url`` breaks the rules of an Application Login URI's placeholders; None when it keeps them."""
    if ORGANIZATION_NAME in url:
        return (
            f"the Application Login URI does not accept {ORGANIZATION_NAME}; use "
            f"{METADATA_FORM} with the host in each organization's metadata"
        )
    tokens = _BRACED.findall(url)
    for token in tokens:
        match = _METADATA.fullmatch(token)
        if match is None:
            return f"{token} is not a placeholder the Application Login URI accepts ({METADATA_FORM})"
        if _METADATA_KEY.match(match.group(1)) is None:
            return (
                f"{token}: the metadata key must be a top-level key starting with 'public_' "
                "(letters, digits, '_' and '-')"
            )
    if url.count("{") != len(tokens) or url.count("}") != len(tokens):
        return f"has an unbalanced brace (placeholders are spelt {METADATA_FORM})"
    if "*" in url:
        return "must not combine a placeholder with a '*' wildcard"
    split = _split_host(url)
    if split is None:
        return f"must be an absolute http(s) URL (got {url!r})"
    parts, host = split
    if parts.scheme not in ("http", "https"):
        return "placeholders need an http or https URL"
    if len(_BRACED.findall(host)) != len(tokens):
        return "placeholders may only stand in the host, not in the path, query or port"
    return None


def matches_organization_callback(uri: str, pattern: str, organization_name: str | None) -> bool:
    """Whether ``pattern`` (an Allowed Callback URL with ``{organization_name}``) allows ``uri``.

    Nothing matches without an organization; with one, only the pattern with its name in place, exactly.
    """
    if not organization_name or ORGANIZATION_NAME not in pattern:
        return False
    return uri == pattern.replace(ORGANIZATION_NAME, organization_name)


def resolve_login_uri(template: str, metadata: Mapping[str, object] | None) -> str | None:
    """``template`` with each ``{organization.metadata.KEY}`` replaced; None when one cannot be resolved.

    A value must be a string that is a host name (one or more DNS labels): metadata is editable through the
    Management API, so a value with a ``/``, ``@``, ``:`` or space would move the link elsewhere.
    """
    values = metadata or {}
    unresolved = False

    def value_of(match: re.Match[str]) -> str:
        nonlocal unresolved
        value = values.get(match.group(1))
        if not isinstance(value, str) or _HOST_VALUE.match(value) is None:
            unresolved = True
            return ""
        return value.lower()

    resolved = _METADATA.sub(value_of, template)
    return None if unresolved or has_placeholder(resolved) else resolved
