"""Request host and path <-> organization name: the pure core of multi-tenant routing (issue 5).

Auth0 puts ``organization_name`` into every invitation link so that apps serving each organization on its own host
(``acme.myapp.com``) or path (``myapp.com/o/acme``) can route the invitee. This module answers, without I/O:

* which host a request is for (:func:`effective_host`): ``Host``, or the forwarded host when, and only when, the
  TCP peer is a configured trusted proxy, since anybody can send ``X-Forwarded-Host``;
* whether we serve that host at all (:func:`host_allowed`) and for which organization (:func:`route`);
* where an invitation link that arrived on the apex host belongs (:func:`placement`, :func:`canonical_login_url`).

Hosts are compared lowercased, without a single trailing dot, IPv6 literals in their compressed form. A pattern
without a port matches any port (as Django's ``ALLOWED_HOSTS``); a pattern with a port
(``{organization}.myapp.test:8000``) matches that port only.
Every refusal is a :class:`TenancyError` with a stable ``code``: the login flow answers it with a 400 page, never
a redirect.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode, urlsplit

from orginvite.errors import ConfigurationError, OrgInviteError

__all__ = [
    "Route",
    "TenancyError",
    "TenancyRules",
    "canonical_login_url",
    "effective_host",
    "effective_scheme",
    "host_allowed",
    "normalize_host",
    "placement",
    "route",
]

_PLACEHOLDER = "{organization}"
_MAX_HOST_LENGTH = 261  # 253 for the name, ":" and five digits of port, with room for an IPv6 literal's brackets
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_HOST_CHARS = re.compile(r"[a-z0-9_.:\[\]-]+")
_ENV = {
    "host_template": "ORGINVITE_HOST_TEMPLATE",
    "path_template": "ORGINVITE_PATH_TEMPLATE",
    "allowed_hosts": "ORGINVITE_ALLOWED_HOSTS",
    "trusted_proxies": "ORGINVITE_TRUSTED_PROXIES",
    "apex_host": "ORGINVITE_APEX_HOST",
}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Placement = Literal["here", "redirect", "conflict"]


class TenancyError(OrgInviteError, ValueError):
    """The request's host (or organization path) is not one we serve, or is malformed.

    Codes: ``missing_host``, ``multiple_hosts``, ``conflicting_forwarded_host``, ``invalid_host``,
    ``invalid_port``, ``non_ascii_host``, ``idna_host``, ``host_too_long``, ``unknown_host``,
    ``invalid_organization_name``, ``reserved_organization_name``, ``invalid_scheme``,
    ``conflicting_forwarded_proto``. The message never repeats the header value.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


# --- hosts -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Host:
    name: str  # lowercase, no trailing dot; "[v6]" for IPv6 literals
    port: int | None

    def __str__(self) -> str:
        return self.name if self.port is None else f"{self.name}:{self.port}"


def _parse_port(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        raise TenancyError("invalid_port", "The port of the host is not a number.")
    port = int(text)
    if not 1 <= port <= 65535:
        raise TenancyError("invalid_port", "The port of the host is out of range (1-65535).")
    return port


def _parse_host(value: str | bytes) -> _Host:
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise TenancyError("non_ascii_host", "The host contains non-ASCII bytes.") from None
    if not isinstance(value, str):
        raise TenancyError("invalid_host", "The host is not text.")
    value = value.strip(" \t")  # optional whitespace around a header value (RFC 9110)
    if not value:
        raise TenancyError("missing_host", "The request names no host.")
    if len(value) > _MAX_HOST_LENGTH:
        raise TenancyError("host_too_long", "The host is too long.")
    if not value.isascii():
        raise TenancyError("non_ascii_host", "The host contains non-ASCII characters; use its punycode form.")
    if "," in value:
        raise TenancyError("multiple_hosts", "The request names more than one host.")
    value = value.lower()
    if not _HOST_CHARS.fullmatch(value):  # "@", "/", "\\", spaces, controls, "%": never part of a host we serve
        raise TenancyError("invalid_host", "The host contains characters a host name cannot have.")
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise TenancyError("invalid_host", "The host is not a valid IPv6 literal.")
        literal, rest = value[1:end], value[end + 1 :]
        try:
            literal = ipaddress.IPv6Address(literal).compressed  # one spelling per address: [0::1] is [::1]
        except ValueError:
            raise TenancyError("invalid_host", "The host is not a valid IPv6 literal.") from None
        if rest and not rest.startswith(":"):
            raise TenancyError("invalid_host", "The host has text after its IPv6 literal.")
        return _Host(f"[{literal}]", _parse_port(rest[1:]) if rest else None)
    name, colon, port_text = value.partition(":")
    port = _parse_port(port_text) if colon else None
    if name.endswith("."):
        name = name[:-1]  # the absolute form of a name is the same host
    labels = name.split(".")
    if not name or not all(_LABEL.fullmatch(label) for label in labels):
        raise TenancyError("invalid_host", "The host is not a valid host name.")
    if len(name) > 253:
        raise TenancyError("host_too_long", "The host is too long.")
    return _Host(name, port)


def normalize_host(value: str | bytes) -> str:
    """The canonical spelling of a ``Host`` value (lowercase, no trailing dot, port kept), or :class:`TenancyError`."""
    return str(_parse_host(value))


# --- rules -------------------------------------------------------------------------------------------------------


def _check_host_template(template: str) -> _Host:
    if template.count(_PLACEHOLDER) != 1:
        raise ConfigurationError("host_template", f"must contain {_PLACEHOLDER} exactly once")
    try:
        host = _parse_host(template.replace(_PLACEHOLDER, "x"))
    except TenancyError as exc:
        raise ConfigurationError("host_template", f"is not a host name ({exc})") from None
    name_template = template.lower().partition(":")[0].removesuffix(".")
    if _PLACEHOLDER not in name_template.split(".") or host.name.startswith("["):
        raise ConfigurationError(
            "host_template", f"{_PLACEHOLDER} must be a whole label, e.g. {{organization}}.myapp.com"
        )
    return host


def _check_path_template(template: str) -> None:
    if template.count(_PLACEHOLDER) != 1:
        raise ConfigurationError("path_template", f"must contain {_PLACEHOLDER} exactly once")
    segments = template.split("/")
    if (
        not template.startswith("/")
        or template.endswith("/")
        or _PLACEHOLDER not in segments
        or any(segment == "" for segment in segments[1:])
        or any(not re.fullmatch(r"[A-Za-z0-9._~-]+", s) for s in segments[1:] if s != _PLACEHOLDER)
        or any(s in (".", "..") for s in segments)
    ):
        raise ConfigurationError(
            "path_template", f"must be a path such as /o/{_PLACEHOLDER} with the placeholder as a whole segment"
        )


def _parse_network(entry: str) -> Network:
    try:
        network = ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        raise ConfigurationError("trusted_proxies", "each entry must be an IP address or a CIDR network") from None
    return network


def _split(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    return tuple(item.strip() for item in value if item and item.strip())


@dataclass(frozen=True)
class TenancyRules:
    """Where organizations live. Give a host template, a path template, or both (the host template wins for URLs).

    ``apex_host`` is the shared host (``myapp.com``) on which invitation links may arrive and path routing lives;
    it defaults to the host template without its organization label. Hosts matched by the templates and the apex
    are allowed implicitly; ``allowed_hosts`` adds others (exact, or ``*.example.com`` for any subdomain).
    ``trusted_proxies`` lists IPs or CIDR networks whose forwarded-host headers we believe (``*``: any peer; only
    behind a proxy that always overwrites them). ``reserved_names`` are labels never taken for an organization.
    ``organization_name_pattern`` can only narrow what a name is: it is always a lowercase DNS label as well.
    With nothing configured, tenancy is off: any well-formed host is served, with no organization.
    """

    host_template: str | None = None
    path_template: str | None = None
    apex_host: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    organization_name_pattern: str = r"^[a-z0-9_-]{1,50}$"
    reserved_names: frozenset[str] = frozenset({"www"})
    _networks: tuple[Network, ...] = field(init=False, repr=False, compare=False, default=())
    _trust_all: bool = field(init=False, repr=False, compare=False, default=False)
    _template_host: _Host | None = field(init=False, repr=False, compare=False, default=None)
    _apex: _Host | None = field(init=False, repr=False, compare=False, default=None)
    _allowed: tuple[_Host, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: derived fields are computed once, here
        set_(self, "allowed_hosts", _split(self.allowed_hosts))
        set_(self, "trusted_proxies", _split(self.trusted_proxies))
        set_(self, "reserved_names", frozenset(self.reserved_names))
        host_template = self.host_template or None
        path_template = self.path_template or None
        set_(self, "host_template", host_template)
        set_(self, "path_template", path_template)
        try:
            re.compile(self.organization_name_pattern)
        except (re.error, TypeError):
            raise ConfigurationError("organization_name_pattern", "not a valid regular expression") from None
        if host_template is not None:
            set_(self, "_template_host", _check_host_template(host_template))
        if path_template is not None:
            _check_path_template(path_template)
        apex = self.apex_host or None
        if apex is None and host_template is not None:
            rest = host_template.lower().removeprefix(_PLACEHOLDER + ".")
            apex = rest if rest != host_template.lower() else None
        if apex is not None:
            try:
                set_(self, "_apex", _parse_host(apex))
            except TenancyError as exc:
                raise ConfigurationError("apex_host", f"is not a host name ({exc})") from None
            set_(self, "apex_host", str(self._apex))
        elif path_template is not None:
            raise ConfigurationError("apex_host", "path routing needs the apex host it lives on")
        allowed = []
        for entry in self.allowed_hosts:
            try:
                allowed.append(_parse_host(entry.removeprefix("*.")))
            except TenancyError as exc:
                raise ConfigurationError("allowed_hosts", f"{entry[:60]!r} is not a host name ({exc})") from None
        set_(self, "_allowed", tuple(allowed))
        networks = []
        for entry in self.trusted_proxies:
            if entry == "*":
                set_(self, "_trust_all", True)
            else:
                networks.append(_parse_network(entry))
        set_(self, "_networks", tuple(networks))

    @property
    def enabled(self) -> bool:
        """Whether organizations are routed at all (a template is configured)."""
        return self.host_template is not None or self.path_template is not None

    @property
    def restricts_hosts(self) -> bool:
        """Whether only some hosts are served (anything is configured that names hosts)."""
        return self._apex is not None or bool(self._allowed) or self._template_host is not None

    def is_valid_name(self, name: str) -> bool:
        """Whether ``name`` may be an organization's label or path segment.

        The name becomes a host label or a path segment of the URLs we redirect to, so whatever
        ``organization_name_pattern`` says, it must also be a lowercase DNS label (``[a-z0-9_-]{1,63}``): the pattern
        may narrow that, never widen it (a pattern such as ``.+`` would otherwise let ``evil.com/x`` build
        ``https://evil.com/x.myapp.com/login``, an open redirect).
        """
        return (
            isinstance(name, str)
            and _LABEL.fullmatch(name) is not None
            and re.fullmatch(self.organization_name_pattern, name) is not None
            and name not in self.reserved_names
        )

    def trusts(self, client_ip: str | None) -> bool:
        """Whether the TCP peer is one of our proxies (``None``, e.g. a Unix socket peer, never is)."""
        if client_ip is None:
            return False
        if self._trust_all:
            return True
        if not self._networks:
            return False  # the common case, on every request: no address to parse
        try:
            address = ipaddress.ip_address(client_ip.strip("[]"))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TenancyRules:
        """Rules from ``ORGINVITE_HOST_TEMPLATE``, ``ORGINVITE_PATH_TEMPLATE``, ``ORGINVITE_ALLOWED_HOSTS``,
        ``ORGINVITE_TRUSTED_PROXIES`` (comma-separated) and ``ORGINVITE_APEX_HOST``; empty means unset.

        Errors name the environment variable, so a misconfigured deployment stops at start-up with a clear message.
        """
        values = {name: (environ.get(var) or "").strip() or None for name, var in _ENV.items()}
        try:
            return cls(
                host_template=values["host_template"],
                path_template=values["path_template"],
                apex_host=values["apex_host"],
                allowed_hosts=_split(values["allowed_hosts"]),
                trusted_proxies=_split(values["trusted_proxies"]),
            )
        except ConfigurationError as exc:
            raise ConfigurationError(_ENV.get(exc.setting, exc.setting), exc.problem) from None


# --- effective host ----------------------------------------------------------------------------------------------


def _header_values(headers: Sequence[tuple[bytes, bytes]] | Mapping[str, str], name: str) -> list[str | bytes]:
    """Every value of a header, case-insensitively, from ASGI pairs or a mapping (e.g. Starlette's Headers)."""
    if isinstance(headers, Mapping):
        getlist = getattr(headers, "getlist", None)
        if callable(getlist):
            return list(getlist(name))
        return [value for key, value in headers.items() if isinstance(key, str) and key.lower() == name]
    wanted = name.encode("ascii")
    return [value for key, value in headers if isinstance(key, bytes) and key.lower() == wanted]


def _as_text(value: str | bytes) -> str:
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise TenancyError("non_ascii_host", "A forwarded-host header contains non-ASCII bytes.") from None
    return value


def _forwarded_params(values: list[str | bytes], wanted: str = "host") -> list[str]:
    """The ``host=`` (or other) parameters of ``Forwarded`` headers (RFC 7239), quoted or not."""
    hosts = []
    for value in values:
        for element in _as_text(value).split(","):
            for pair in element.split(";"):
                key, eq, raw = pair.strip().partition("=")
                if eq and key.strip().lower() == wanted:
                    raw = raw.strip()
                    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                        raw = raw[1:-1]
                    hosts.append(raw)
    return hosts


def _single(candidates: list[str], what: str) -> _Host | None:
    parsed = {_parse_host(candidate) for candidate in candidates}
    if len(parsed) > 1:
        raise TenancyError("multiple_hosts", f"The {what} header names more than one host.")
    return next(iter(parsed), None)


def effective_host(
    headers: Sequence[tuple[bytes, bytes]] | Mapping[str, str], client_ip: str | None, rules: TenancyRules
) -> str:
    """The normalized host this request is for.

    ``Forwarded: host=`` or ``X-Forwarded-Host`` replace ``Host`` only when ``client_ip`` is a trusted proxy;
    from anybody else they are ignored. Several different hosts (repeated headers or comma lists) are refused
    rather than guessed between: a proxy that appends instead of overwriting leaves the client's forged value in
    the list, and the refusal shows it.
    """
    if rules.trusts(client_ip):
        forwarded = _single(_forwarded_params(_header_values(headers, "forwarded")), "Forwarded")
        x_forwarded = _single(
            [part for value in _header_values(headers, "x-forwarded-host") for part in _as_text(value).split(",")],
            "X-Forwarded-Host",
        )
        if forwarded is not None and x_forwarded is not None and forwarded != x_forwarded:
            raise TenancyError(
                "conflicting_forwarded_host", "The Forwarded and X-Forwarded-Host headers name different hosts."
            )
        if (forwarded or x_forwarded) is not None:
            return str(forwarded or x_forwarded)
    values = _header_values(headers, "host")
    if not values:
        raise TenancyError("missing_host", "The request has no Host header.")
    if len(values) > 1:
        raise TenancyError("multiple_hosts", "The request has more than one Host header.")
    return str(_parse_host(values[0]))


def effective_scheme(
    headers: Sequence[tuple[bytes, bytes]] | Mapping[str, str],
    scheme: str,
    client_ip: str | None,
    rules: TenancyRules,
) -> str:
    """``http`` or ``https``: ``Forwarded: proto=`` / ``X-Forwarded-Proto`` from a trusted proxy, else ``scheme``
    (the ASGI scope's). Same rules as :func:`effective_host`: untrusted peers are ignored, disagreement refused.
    """
    found: set[str] = set()
    if rules.trusts(client_ip):
        candidates = _forwarded_params(_header_values(headers, "forwarded"), "proto")
        candidates += [
            part for value in _header_values(headers, "x-forwarded-proto") for part in _as_text(value).split(",")
        ]
        for candidate in candidates:
            value = candidate.strip().lower()
            if value not in ("http", "https"):
                raise TenancyError("invalid_scheme", "A forwarded protocol is neither http nor https.")
            found.add(value)
    if len(found) > 1:
        raise TenancyError("conflicting_forwarded_proto", "The forwarded protocol headers disagree.")
    if found:
        return found.pop()
    scheme = scheme.lower() if isinstance(scheme, str) else ""
    if scheme in ("ws", "wss"):
        scheme = "http" if scheme == "ws" else "https"
    if scheme not in ("http", "https"):
        raise TenancyError("invalid_scheme", "The request's scheme is neither http nor https.")
    return scheme


# --- routing -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """Which organization a request is for.

    ``organization_name`` is None on the apex (outside a path prefix) and on other allowed hosts.
    ``path_prefix`` is ``/o/acme`` under path routing, else ``""``; ``host`` is the normalized host.
    """

    organization_name: str | None
    is_apex: bool
    path_prefix: str = ""
    host: str = ""


def _port_matches(pattern: _Host, host: _Host) -> bool:
    return pattern.port is None or pattern.port == host.port


def _same_host(pattern: _Host, host: _Host) -> bool:
    return pattern.name == host.name and _port_matches(pattern, host)


def _template_label(rules: TenancyRules, host: _Host) -> str | None:
    """The organization label when ``host`` has the shape of the host template, else None."""
    template = rules._template_host
    if template is None or rules.host_template is None or not _port_matches(template, host):
        return None
    pattern = rules.host_template.lower().partition(":")[0].removesuffix(".").split(".")
    labels = host.name.split(".")
    if len(labels) != len(pattern):
        return None
    found = None
    for want, got in zip(pattern, labels, strict=True):
        if want == _PLACEHOLDER:
            found = got
        elif want != got:
            return None
    return found


def _check_name(rules: TenancyRules, name: str) -> str:
    if name.startswith("xn--"):
        raise TenancyError("idna_host", "An internationalized (punycode) label is not an organization name.")
    if name in rules.reserved_names:
        raise TenancyError("reserved_organization_name", "This name is reserved and is not an organization.")
    if not rules.is_valid_name(name):
        raise TenancyError(
            "invalid_organization_name", "An organization name may only contain lowercase letters, digits, '_' and '-'."
        )
    return name


def _allowed_other(rules: TenancyRules, host: _Host) -> bool:
    for entry, parsed in zip(rules.allowed_hosts, rules._allowed, strict=True):
        if entry.startswith("*."):
            if host.name.endswith("." + parsed.name) and _port_matches(parsed, host):
                return True
        elif _same_host(parsed, host):
            return True
    return False


def _path_route(rules: TenancyRules, host: _Host, path: str) -> Route:
    template = rules.path_template
    if template is None:
        return Route(None, True, "", str(host))
    before, _, after = template.partition(_PLACEHOLDER)
    if not path.startswith(before):
        return Route(None, True, "", str(host))
    name, slash, _rest = path[len(before) :].partition("/")
    if after:
        rest = "/" + _rest if slash else ""
        if not rest.startswith(after) or rest[len(after) : len(after) + 1] not in ("", "/"):
            return Route(None, True, "", str(host))
    if not name:
        return Route(None, True, "", str(host))
    name = _check_name(rules, name)
    return Route(name, True, before + name + after, str(host))


def route(host: str, path: str, rules: TenancyRules) -> Route:
    """The organization a request for ``host`` (from :func:`effective_host`) and ``path`` belongs to.

    Order: the apex (then the path template), explicitly allowed hosts, the host template, wildcard allowed hosts.
    A host that matches none of them raises ``TenancyError("unknown_host")``: answer 400, never redirect.
    """
    parsed = _parse_host(host)
    text = str(parsed)
    if not rules.restricts_hosts:
        return Route(None, True, "", text)
    if rules._apex is not None and _same_host(rules._apex, parsed):
        return _path_route(rules, parsed, path or "/")
    for entry, allowed in zip(rules.allowed_hosts, rules._allowed, strict=True):
        if not entry.startswith("*.") and _same_host(allowed, parsed):
            return Route(None, False, "", text)
    label = _template_label(rules, parsed)
    if label is not None:
        return Route(_check_name(rules, label), False, "", text)
    if _allowed_other(rules, parsed):
        return Route(None, False, "", text)
    raise TenancyError("unknown_host", "This application is not served on the requested host.")


def host_allowed(host: str, rules: TenancyRules) -> bool:
    """Whether we serve ``host`` at all (the check before building any URL from it, e.g. a callback URL)."""
    try:
        route(host, "/", rules)
    except TenancyError:
        return False
    return True


def placement(route_: Route, organization_name: str | None, rules: TenancyRules) -> Placement:
    """Where a link naming ``organization_name`` should be served, given the route it arrived on.

    ``here``: no organization routing applies, or it arrived where it belongs. ``redirect``: it arrived on a host
    or path without an organization; send it (303) to :func:`canonical_login_url`. ``conflict``: it arrived on
    another organization's host or path; refuse with a page that explains it.
    """
    if organization_name is None or not rules.enabled:
        return "here"
    if route_.organization_name is None:
        return "redirect"
    return "here" if route_.organization_name == organization_name else "conflict"


def canonical_login_url(
    organization_name: str,
    rules: TenancyRules,
    scheme: str = "https",
    query: Mapping[str, str | None] | Sequence[tuple[str, str]] | None = None,
    *,
    login_path: str = "/login",
) -> str:
    """The organization's own login URL: ``{scheme}://{org host}{login_path}`` with the host template, else
    ``{scheme}://{apex}{path prefix}{login_path}``, followed by ``query`` (the VALIDATED parameters only; ``None``
    values are dropped). The name is re-validated here, so no caller can build a URL to a host we do not serve.
    """
    _check_name(rules, organization_name)
    if scheme not in ("http", "https"):
        raise ValueError("scheme must be 'http' or 'https'")
    if not login_path.startswith("/") or login_path.startswith("//") or "\\" in login_path or "?" in login_path:
        raise ValueError("login_path must be an absolute path such as '/login'")
    if rules.host_template is not None and rules._template_host is not None:
        name = rules.host_template.lower().partition(":")[0].removesuffix(".").replace(_PLACEHOLDER, organization_name)
        port = rules._template_host.port
        url = f"{scheme}://{name}{'' if port is None else f':{port}'}{login_path}"
    elif rules.path_template is not None and rules.apex_host is not None:
        prefix = rules.path_template.replace(_PLACEHOLDER, organization_name)
        url = f"{scheme}://{rules.apex_host}{prefix}{login_path}"
    else:
        raise ConfigurationError("host_template", "set a host template or a path template to route organizations")
    pairs = query.items() if isinstance(query, Mapping) else (query or ())
    encoded = urlencode([(key, value) for key, value in pairs if value is not None])
    result = f"{url}?{encoded}" if encoded else url
    if not urlsplit(result).netloc:  # cannot happen with validated templates; never hand out a host-less URL
        raise ConfigurationError("host_template", "produced a URL without a host")
    return result
