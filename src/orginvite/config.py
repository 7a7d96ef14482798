"""One settings object for the login flow, validated at start-up.

A misconfigured login flow fails open in subtle ways (an http issuer, a short secret, a typo in a URL that turns
every callback into an open redirect), so :class:`Settings` checks everything when it is built and raises
:class:`~orginvite.errors.ConfigurationError` naming the setting. Nothing is checked lazily per request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from orginvite.errors import ConfigurationError
from orginvite.links import LinkRules, safe_return_path
from orginvite.loopback import is_loopback_host
from orginvite.tenancy.rules import TenancyRules, host_allowed

__all__ = ["ALLOWED_EXTRA_AUTHORIZE_PARAMS", "MIN_SECRET_KEY_LENGTH", "Settings", "env_value"]

#: The only static extras the configuration may add to ``/authorize``. Everything the login flow itself binds
#: (state, nonce, PKCE, redirect_uri, organization, invitation...) is refused so configuration cannot override it.
ALLOWED_EXTRA_AUTHORIZE_PARAMS = frozenset(
    {"connection", "screen_hint", "max_age", "acr_values", "display", "claims", "resource"}
)
MIN_SECRET_KEY_LENGTH = 32

_COOKIE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PATH = re.compile(r"^/[A-Za-z0-9._~/-]*$")

#: ``allowed_organizations(org_id, org_name) -> bool``: called at the callback with the token's organization.
AllowedOrganizations = Callable[[str | None, str | None], bool]
#: ``await on_accept(user, claims)`` with the new :class:`~orginvite.sessions.user.OrgUser`: return False (or raise
#: an OrgInviteError) to refuse the session. The user is typed ``Any`` here because config imports nothing of the
#: session code (it would be an import circle: sessions read their TTLs from Settings).
OnAccept = Callable[[Any, Mapping[str, Any]], Awaitable[bool | None]]
#: ``await on_invitation_event(event)`` with an :class:`orginvite.events.InvitationEvent` (typed ``Any`` for the same
#: reason): the login flow's invitation.accepted and invitation.failed, delivered in the background.
OnInvitationEvent = Callable[[Any], Awaitable[None]]


def env_value(environ: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` set to something other than blanks, stripped: ``ORGINVITE_*`` names go before the
    ``AUTH0_*`` fallbacks, and a variable exported empty counts as unset (as shells and compose files leave them)."""
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def _is_loopback(host: str | None) -> bool:
    """Loopback, or a name under the reserved ``.test`` TLD (RFC 6761), which never resolves on the internet:
    http is refused for anything else. ``.test`` is what multi-tenant development uses (``acme.myapp.test``)."""
    return bool(host) and (host == "test" or host.endswith(".test") or is_loopback_host(host))


def _valid_url(value: str) -> bool:
    try:
        urlsplit(value).port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    return not any(char.isspace() for char in value)


def _check_url(setting: str, value: Any, *, allow_http_loopback: bool = True) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(setting, "is missing")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ConfigurationError(setting, f"is not a valid URL: {value!r}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigurationError(setting, f"must be an absolute http(s) URL, got {value!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(setting, "must not contain user information")
    if parts.query or parts.fragment:
        raise ConfigurationError(setting, "must not contain a query or fragment")
    if any(char.isspace() for char in value):
        raise ConfigurationError(setting, "must not contain whitespace")
    if parts.scheme == "http" and not (allow_http_loopback and _is_loopback(host)):
        raise ConfigurationError(setting, f"must use https (http is only accepted for loopback hosts), got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the login flow needs; build it in code or with :meth:`from_env`.

    ``secret_keys`` lists the cookie signing keys newest first: cookies are signed with the first and accepted with
    any, so a key is rotated by prepending the new one and dropping the old one after ``session_ttl``.

    ``tenancy`` turns on multi-tenant routing (hosts checked on every request, organizations taken from the host or
    path). An organization's host names its organization at ``/authorize`` by name (``organization_lookup="name"``:
    the provider must allow names) or by its ID, looked up through the Management API with the
    ``management_client_*`` credentials and cached ``organization_cache_ttl`` seconds (``"management"``);
    ``"auto"`` picks ``management`` when credentials are given. Names not known as organizations are looked up at
    most ``organization_lookups_per_second`` (bursts of ten times that), so random subdomains cannot spend the
    tenant's Management API rate limit; known organizations refresh on a budget of their own.

    ``revalidate_every`` (seconds, 0 off): a session confirmed longer ago re-confirms, at most once per interval,
    that its user is still a member of its organization and what their roles are (the Management API with the
    ``management_client_*`` credentials, else a refresh when the session has a refresh token).

    Back-channel logout (README, "Ending sessions"): the provider POSTs logout tokens to
    ``backchannel_logout_path``; the sessions they name are revoked in the session store (SQLite, Redis) or, with the
    cookie store, in ``revocation_store`` (``sqlite:///path``; by default a file under ``$XDG_STATE_HOME/orginvite``
    named after the issuer and client; ``"off"`` turns revocation off). ``logout_on_get=True`` lets a plain
    ``GET /logout`` sign out (otherwise it shows a sign-out button that POSTs).
    """

    issuer: str
    client_id: str
    client_secret: str
    secret_keys: tuple[str, ...]
    base_url: str
    login_path: str = "/login"
    callback_path: str = "/callback"
    logout_path: str = "/logout"
    backchannel_logout_path: str = "/backchannel-logout"
    scope: str = "openid profile email"
    audience: str | None = None
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict)
    transaction_ttl: int = 3600
    max_transactions: int = 5
    session_ttl: int = 14 * 24 * 3600
    session_cookie: str = "orginvite_session"
    transaction_cookie_prefix: str = "orginvite_tx_"
    pending_cookie: str = "orginvite_pending"
    link_rules: LinkRules = field(default_factory=LinkRules)
    roles_claim: str | None = "https://orginvite.dev/roles"
    require_organization: bool = False
    allowed_organizations: AllowedOrganizations | None = None
    on_accept: OnAccept | None = None
    on_invitation_event: OnInvitationEvent | None = None
    default_return_to: str = "/"
    post_logout_return_to: str | None = None
    allowed_logout_urls: tuple[str, ...] = ()
    logout_style: str = "auto"
    http_timeout: float = 10.0
    leeway: int = 60
    discovery_ttl: int = 3600
    jwks_min_refetch_interval: float = 30.0
    id_token_algorithms: tuple[str, ...] | None = None
    allow_symmetric_id_tokens: bool = False
    tenancy: TenancyRules | None = None
    organization_lookup: str = "auto"
    management_client_id: str | None = None
    management_client_secret: str | None = None
    organization_cache_ttl: int = 300
    organization_lookups_per_second: float = 2.0
    session_store: str = "cookie"
    revalidate_every: int = 300
    #: Look the invitation up among the organization's pending invitations (Management API) at /login: a dead link
    #: is answered at once, a live one gets login_hint and the invitation's language (README, "Preflight").
    invitation_preflight: bool = False
    revocation_store: str | None = None
    logout_on_get: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        issuer = _check_url("issuer", self.issuer)
        set_(self, "issuer", issuer if issuer.endswith("/") else issuer + "/")
        set_(self, "base_url", _check_url("base_url", self.base_url).rstrip("/"))
        for name in ("client_id", "client_secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(name, "is missing")
        keys = self.secret_keys
        if isinstance(keys, str | bytes):
            raise ConfigurationError("secret_keys", "must be a sequence of keys (newest first), not one string")
        keys = tuple(keys or ())
        if not keys:
            raise ConfigurationError("secret_keys", "is missing: give at least one key of 32+ random characters")
        for index, key in enumerate(keys):
            if not isinstance(key, str | bytes) or len(key) < MIN_SECRET_KEY_LENGTH:
                raise ConfigurationError(
                    "secret_keys", f"key #{index + 1} is shorter than {MIN_SECRET_KEY_LENGTH} characters"
                )
        if len(set(keys)) != len(keys):
            raise ConfigurationError("secret_keys", "contains the same key twice")
        set_(self, "secret_keys", keys)

        paths = {}
        for name in ("login_path", "callback_path", "logout_path", "backchannel_logout_path"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _PATH.match(value) or "//" in value:
                raise ConfigurationError(name, f"must be an absolute path such as '/login', got {value!r}")
            paths.setdefault(value, name)
        if len(paths) != 4:
            raise ConfigurationError("login_path", "login, callback, logout and back-channel logout paths must differ")

        if not isinstance(self.scope, str) or "openid" not in self.scope.split():
            raise ConfigurationError("scope", "must contain 'openid'")
        extras = dict(self.extra_authorize_params or {})
        for key, value in extras.items():
            if key not in ALLOWED_EXTRA_AUTHORIZE_PARAMS:
                allowed = ", ".join(sorted(ALLOWED_EXTRA_AUTHORIZE_PARAMS))
                raise ConfigurationError(
                    "extra_authorize_params",
                    f"{key!r} is not allowed (allowed: {allowed}; audience has its own setting)",
                )
            if not isinstance(value, str):
                raise ConfigurationError("extra_authorize_params", f"{key!r} must be a string")
        set_(self, "extra_authorize_params", MappingProxyType(extras))

        for name, low in (
            ("transaction_ttl", 60),
            ("max_transactions", 1),
            ("session_ttl", 60),
            ("discovery_ttl", 0),
            ("leeway", 0),
            ("revalidate_every", 0),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigurationError(name, f"must be an integer >= {low}")
        if self.max_transactions > 20:
            raise ConfigurationError("max_transactions", "must be at most 20 (browsers cap cookies per host)")
        for name in ("http_timeout", "jwks_min_refetch_interval"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigurationError(name, "must be a positive number")

        for name in ("session_cookie", "pending_cookie"):
            if not isinstance(getattr(self, name), str) or not _COOKIE_NAME.match(getattr(self, name)):
                raise ConfigurationError(name, "must be 1-64 letters, digits, '_' or '-'")
        if not isinstance(self.transaction_cookie_prefix, str) or not _COOKIE_NAME.match(
            self.transaction_cookie_prefix
        ):
            raise ConfigurationError("transaction_cookie_prefix", "must be 1-64 letters, digits, '_' or '-'")
        if self.transaction_cookie_prefix.startswith(self.session_cookie):
            raise ConfigurationError("transaction_cookie_prefix", "must not start with the session cookie name")

        if not isinstance(self.link_rules, LinkRules):
            raise ConfigurationError("link_rules", "must be an orginvite.links.LinkRules")
        try:
            safe_return_path(None, self.default_return_to)
        except ValueError:
            raise ConfigurationError("default_return_to", "must be a same-origin path such as '/'") from None
        if self.post_logout_return_to is not None:
            if self.post_logout_return_to.startswith("/"):
                try:
                    safe_return_path(None, self.post_logout_return_to)
                except ValueError:
                    raise ConfigurationError("post_logout_return_to", "must be a safe path or a URL") from None
            else:
                _check_url("post_logout_return_to", self.post_logout_return_to)
        urls = tuple(self.allowed_logout_urls or ())
        for url in urls:
            _check_url("allowed_logout_urls", url)
        set_(self, "allowed_logout_urls", urls)
        if self.logout_style not in ("auto", "auth0", "oidc", "local"):
            raise ConfigurationError("logout_style", "must be one of auto, auth0, oidc, local")
        if self.roles_claim is not None and (not isinstance(self.roles_claim, str) or not self.roles_claim):
            raise ConfigurationError("roles_claim", "must be a claim name or None")
        if self.allowed_organizations is not None and not callable(self.allowed_organizations):
            raise ConfigurationError("allowed_organizations", "must be a callable (org_id, org_name) -> bool")
        if self.on_accept is not None and not callable(self.on_accept):
            raise ConfigurationError("on_accept", "must be an async callable (user, claims) -> bool | None")
        if self.on_invitation_event is not None and not callable(self.on_invitation_event):
            raise ConfigurationError("on_invitation_event", "must be an async callable (event) -> None")
        if self.audience is not None and (not isinstance(self.audience, str) or not self.audience):
            raise ConfigurationError("audience", "must be a non-empty string or None")
        if self.id_token_algorithms is not None:
            algs = tuple(self.id_token_algorithms)
            if not algs or any(a.lower() == "none" for a in algs):
                raise ConfigurationError("id_token_algorithms", "must list real algorithms ('none' is refused)")
            if any(a.startswith("HS") for a in algs) and not self.allow_symmetric_id_tokens:
                raise ConfigurationError(
                    "id_token_algorithms", "HS* algorithms need allow_symmetric_id_tokens=True (client secret as key)"
                )
            set_(self, "id_token_algorithms", algs)
        self._check_tenancy()
        store = self.session_store
        if not isinstance(store, str) or not (
            store == "cookie" or (store.startswith("sqlite:///") and len(store) > len("sqlite:///"))
            or (store.startswith(("redis://", "rediss://", "unix://")) and _valid_url(store))
        ):
            raise ConfigurationError(
                "session_store", "must be cookie, sqlite:///path/to/sessions.db or redis://host:6379/0"
            )
        revocations = self.revocation_store
        if revocations is not None and not (
            revocations == "off" or (revocations.startswith("sqlite:///") and len(revocations) > len("sqlite:///"))
            if isinstance(revocations, str) else False
        ):
            raise ConfigurationError("revocation_store", "must be off or sqlite:///path/to/revocations.db")
        if revocations is not None and revocations != "off" and store != "cookie":
            raise ConfigurationError("revocation_store", "a server-side session store keeps the revocations itself")
        if not isinstance(self.logout_on_get, bool):
            raise ConfigurationError("logout_on_get", "must be True or False")

    def _check_tenancy(self) -> None:
        """Multi-tenant routing (README, "Multi-tenant routing"): the rules must serve ``base_url``'s host, and an
        organization's host needs a way to name its organization at ``/authorize`` (its name, or its ID looked up)."""
        set_ = object.__setattr__
        rules = self.tenancy
        if rules is not None and not isinstance(rules, TenancyRules):
            raise ConfigurationError("tenancy", "must be an orginvite.tenancy.TenancyRules")
        if rules is not None and not rules.restricts_hosts:
            set_(self, "tenancy", None)  # nothing configured: tenancy off, no per-request work
            rules = None
        if rules is not None and not host_allowed(urlsplit(self.base_url).netloc, rules):
            raise ConfigurationError("base_url", "its host is not served by the tenancy rules (apex or allowed hosts)")
        for name in ("management_client_id", "management_client_secret"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigurationError(name, "must be a non-empty string or None")
        has_management = self.management_client_id is not None and self.management_client_secret is not None
        if (self.management_client_id is None) != (self.management_client_secret is None):
            raise ConfigurationError("management_client_secret", "give both management client ID and secret")
        lookup = self.organization_lookup
        if lookup not in ("auto", "name", "management"):
            raise ConfigurationError("organization_lookup", "must be one of auto, name, management")
        if lookup == "management" and not has_management:
            raise ConfigurationError(
                "organization_lookup", "management needs management_client_id and management_client_secret"
            )
        if lookup == "auto":
            set_(self, "organization_lookup", "management" if has_management else "name")
        ttl = self.organization_cache_ttl
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0:
            raise ConfigurationError("organization_cache_ttl", "must be an integer >= 0")
        rate = self.organization_lookups_per_second
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate < float("inf"):
            raise ConfigurationError("organization_lookups_per_second", "must be a positive number")
        if not isinstance(self.invitation_preflight, bool):
            raise ConfigurationError("invitation_preflight", "must be true or false")
        if self.invitation_preflight and not has_management:
            raise ConfigurationError(
                "invitation_preflight", "needs management_client_id and management_client_secret "
                "(a machine-to-machine application with read:organization_invitations)"
            )

    # -- derived values ------------------------------------------------------------------------------------------

    @property
    def redirect_uri(self) -> str:
        """The callback URL sent to ``/authorize``: built from configuration only, never from request headers."""
        return self.base_url + self.callback_path

    @property
    def secure(self) -> bool:
        """Whether cookies get ``Secure`` and the ``__Host-`` prefix (an https base URL)."""
        return self.base_url.startswith("https://")

    @property
    def keeps_tokens(self) -> bool:
        """Whether sessions keep the provider's tokens: the app calls an API (``audience``) or asked for refresh
        tokens (``offline_access``). Otherwise a session is identity only (a small signed cookie)."""
        return self.audience is not None or "offline_access" in self.scope.split()

    @property
    def default_logout_return_url(self) -> str:
        target = self.post_logout_return_to or self.default_return_to
        return self.base_url + target if target.startswith("/") else target

    # -- environment ---------------------------------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``ORGINVITE_*`` variables, with Auth0's ``AUTH0_*`` names as fallbacks.

        ``AUTH0_DOMAIN`` may be a bare domain (``tenant.eu.auth0.com``): it becomes ``https://tenant.eu.auth0.com/``.
        Keyword ``overrides`` win over the environment (callables such as ``on_accept`` live in code).
        """
        env = os.environ if environ is None else environ

        def get(*names: str) -> str | None:
            return env_value(env, *names)

        issuer = get("ORGINVITE_ISSUER")
        if issuer is None:
            domain = get("AUTH0_DOMAIN")
            if domain is not None:
                issuer = domain if "://" in domain else f"https://{domain.strip('/')}/"
        values: dict[str, Any] = {
            "issuer": issuer,
            "client_id": get("ORGINVITE_CLIENT_ID", "AUTH0_CLIENT_ID"),
            "client_secret": get("ORGINVITE_CLIENT_SECRET", "AUTH0_CLIENT_SECRET"),
            "base_url": get("ORGINVITE_BASE_URL"),
        }
        names = {
            "issuer": "ORGINVITE_ISSUER (or AUTH0_DOMAIN)",
            "client_id": "ORGINVITE_CLIENT_ID (or AUTH0_CLIENT_ID)",
            "client_secret": "ORGINVITE_CLIENT_SECRET (or AUTH0_CLIENT_SECRET)",
            "base_url": "ORGINVITE_BASE_URL",
        }
        keys_raw = get("ORGINVITE_SECRET_KEYS")
        values["secret_keys"] = tuple(k.strip() for k in keys_raw.split(",") if k.strip()) if keys_raw else ()
        names["secret_keys"] = "ORGINVITE_SECRET_KEYS"
        for setting, env_name in (
            ("login_path", "ORGINVITE_LOGIN_PATH"),
            ("callback_path", "ORGINVITE_CALLBACK_PATH"),
            ("logout_path", "ORGINVITE_LOGOUT_PATH"),
            ("backchannel_logout_path", "ORGINVITE_BACKCHANNEL_LOGOUT_PATH"),
            ("scope", "ORGINVITE_SCOPE"),
            ("audience", "ORGINVITE_AUDIENCE"),
            ("roles_claim", "ORGINVITE_ROLES_CLAIM"),
            ("post_logout_return_to", "ORGINVITE_POST_LOGOUT_RETURN_TO"),
            ("logout_style", "ORGINVITE_LOGOUT_STYLE"),
            ("organization_lookup", "ORGINVITE_ORGANIZATION_LOOKUP"),
            ("management_client_id", "ORGINVITE_MANAGEMENT_CLIENT_ID"),
            ("management_client_secret", "ORGINVITE_MANAGEMENT_CLIENT_SECRET"),
            ("session_store", "ORGINVITE_SESSION_STORE"),
            ("revocation_store", "ORGINVITE_REVOCATION_STORE"),
        ):
            value = get(env_name)
            if value is not None:
                values[setting] = value
                names[setting] = env_name
        for setting, env_name in (
            ("transaction_ttl", "ORGINVITE_TRANSACTION_TTL"),
            ("max_transactions", "ORGINVITE_MAX_TRANSACTIONS"),
            ("session_ttl", "ORGINVITE_SESSION_TTL"),
            ("organization_cache_ttl", "ORGINVITE_ORGANIZATION_CACHE_TTL"),
            ("revalidate_every", "ORGINVITE_REVALIDATE_EVERY"),
        ):
            value = get(env_name)
            if value is not None:
                try:
                    values[setting] = int(value)
                except ValueError:
                    raise ConfigurationError(env_name, f"must be an integer, got {value!r}") from None
                names[setting] = env_name
        value = get("ORGINVITE_ORGANIZATION_LOOKUPS_PER_SECOND")
        if value is not None:
            try:
                values["organization_lookups_per_second"] = float(value)
            except ValueError:
                raise ConfigurationError(
                    "ORGINVITE_ORGANIZATION_LOOKUPS_PER_SECOND", f"must be a number, got {value!r}"
                ) from None
            names["organization_lookups_per_second"] = "ORGINVITE_ORGANIZATION_LOOKUPS_PER_SECOND"
        for setting, env_name in (("require_organization", "ORGINVITE_REQUIRE_ORGANIZATION"),
                                  ("invitation_preflight", "ORGINVITE_INVITATION_PREFLIGHT")):
            value = get(env_name)
            if value is not None:
                if value.lower() not in ("1", "true", "yes", "0", "false", "no"):
                    raise ConfigurationError(env_name, "must be true or false")
                values[setting] = value.lower() in ("1", "true", "yes")
                names[setting] = env_name
        value = get("ORGINVITE_LOGOUT_ON_GET")
        if value is not None:
            if value.lower() not in ("1", "true", "yes", "0", "false", "no"):
                raise ConfigurationError("ORGINVITE_LOGOUT_ON_GET", "must be true or false")
            values["logout_on_get"] = value.lower() in ("1", "true", "yes")
        for setting in ("organization_lookup", "management_client_id", "management_client_secret"):
            names.setdefault(setting, "ORGINVITE_" + setting.upper())  # named even when the missing one is unset
        tenancy = TenancyRules.from_env(env)  # errors already name the ORGINVITE_* variable
        if tenancy.restricts_hosts:
            values["tenancy"] = tenancy
        if issuer is not None and get("ORGINVITE_ISSUER") is None and "ORGINVITE_LOGOUT_STYLE" not in env:
            values.setdefault("logout_style", "auth0")  # AUTH0_DOMAIN given: Auth0's /v2/logout
        values.update(overrides)
        try:
            return cls(**values)
        except ConfigurationError as exc:
            # Name the environment variable the operator has to fix, not the Python attribute.
            env_name = names.get(exc.setting) if exc.setting not in overrides else None
            if env_name is not None:
                raise ConfigurationError(env_name, exc.problem) from None
            raise
