"""The OpenID Connect client of the login flow: discovery, ``/authorize``, code exchange, ID token checks.

Talks to any provider through standard discovery; nothing here knows of Auth0 beyond the ``organization`` and
``invitation`` parameters (which other providers ignore) and Auth0's ``/v2/logout``.

Why not Authlib's Starlette client: it builds a new HTTP client for every login and forwards whatever keyword
arguments it is given to ``/authorize``. Here one :class:`httpx2.AsyncClient` lives as long as the app, the
``/authorize`` parameters are an explicit allow-list, and the ID token is verified with :mod:`joserfc` against a
cached JWKS that is refetched once (rate-limited) when a token names an unknown key, which is what a key rotation
looks like from the outside.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import httpx2
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from orginvite.config import Settings, _check_url
from orginvite.errors import ConfigurationError, ProviderError, TokenError

__all__ = ["ASYMMETRIC_ALGORITHMS", "AuthorizationRequest", "OIDCClient", "TokenExchangeRejected"]

logger = logging.getLogger("orginvite.oidc")

#: Algorithms accepted for ID tokens when discovery lists them; "none" and HS* never come from discovery.
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_KTY_BY_PREFIX = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_KEY_CLASSES: dict[str, Any] = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}
_MAX_TOKEN_LENGTH = 16384


#: The ``events`` member a back-channel logout token carries (OpenID Connect Back-Channel Logout 1.0, 2.4).
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
_LOGOUT_TOKEN_MAX_AGE = 300  # seconds: a logout token is sent at once (and retried for a short while)


class TokenExchangeRejected(TokenError):
    """The token endpoint refused the code (4xx, e.g. ``invalid_grant`` for a code used twice): start again."""

    def __init__(self, error: str, message: str) -> None:
        self.error = error
        super().__init__(message)


@dataclass(frozen=True)
class AuthorizationRequest:
    """A ready ``/authorize`` URL and the secrets the transaction must bind to check the callback."""

    url: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str

    def __repr__(self) -> str:  # the URL may carry an invitation ticket
        return f"AuthorizationRequest(state={self.state[:6]}..., redirect_uri={self.redirect_uri!r})"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def new_state() -> str:
    """A fresh ``state`` or ``nonce``: 160 random bits as 40 hex digits (RFC 6749 10.10 asks for >= 128, should 160).

    Hex keeps it inside :data:`orginvite.transactions.STATE_PATTERN` (it names a cookie) and costs one
    ``os.urandom``; Authlib's ``generate_token`` draws each character separately and was most of a login's CPU.
    """
    return secrets.token_hex(20)


def new_code_verifier() -> str:
    """A PKCE verifier: 64 unreserved characters (384 random bits; RFC 7636 4.1 wants 43-128)."""
    return secrets.token_urlsafe(48)


def s256_challenge(verifier: str) -> str:
    """RFC 7636 4.2 ``S256``: base64url(SHA-256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def _is_number(value: Any) -> bool:
    """A finite JSON number: Python's json reads NaN and Infinity, and NaN compares False with everything."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)  # an int is finite (isfinite would overflow)


class OIDCClient:
    """One provider, one HTTP client, cached discovery and JWKS; safe to share across requests.

    ``http`` lets the host app pass its own client (proxies, CA bundle); otherwise one is created with the
    configured timeout and closed by :meth:`aclose`. ``clock`` returns seconds since the epoch (tests move it).
    """

    def __init__(
        self,
        settings: Settings,
        http: httpx2.AsyncClient | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._owns_http = http is None
        self._http = http or httpx2.AsyncClient(
            timeout=httpx2.Timeout(settings.http_timeout), follow_redirects=False, trust_env=False
        )
        self._clock = clock
        self._discovery: dict[str, Any] | None = None
        self._discovery_at = float("-inf")
        self._keys: list[Any] = []
        self._picked: dict[tuple[str | None, str], Any] = {}  # (kid, alg) -> key, for the current JWKS
        self._registries: dict[str, jws.JWSRegistry] = {}
        self._algorithms_memo: tuple[Mapping[str, Any], tuple[str, ...]] | None = None  # per discovery document
        self._jwks_at = float("-inf")
        # Two locks: a JWKS refresh needs the discovery document, which may itself be due for a refresh.
        self._discovery_lock = asyncio.Lock()
        self._jwks_lock = asyncio.Lock()
        # The /authorize parameters that never change, encoded once (settings are frozen).
        self._static_query = urlencode([
            ("response_type", "code"), ("client_id", settings.client_id), ("redirect_uri", settings.redirect_uri),
            ("scope", settings.scope),
        ])
        # Multi-tenant routing sends a per-host redirect_uri: the same query around it, encoded once too.
        self._query_head = urlencode([("response_type", "code"), ("client_id", settings.client_id)])
        self._query_scope = urlencode([("scope", settings.scope)])
        self._extra_query = urlencode(sorted(settings.extra_authorize_params.items()))
        self._endpoint, self._separator = "", "?"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # -- HTTP --------------------------------------------------------------------------------------------------

    async def _request(self, what: str, method: str, url: str, **kwargs: Any) -> httpx2.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx2.TimeoutException:
            raise ProviderError(f"{what}: the identity provider did not answer in time") from None
        except httpx2.HTTPError as exc:
            raise ProviderError(f"{what}: cannot reach the identity provider ({type(exc).__name__})") from None

    @staticmethod
    def _json_object(what: str, response: httpx2.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except (ValueError, RecursionError):  # nested past the recursion limit: RecursionError, not ValueError
            raise ProviderError(f"{what}: the identity provider answered with something that is not JSON") from None
        if not isinstance(data, dict):
            raise ProviderError(f"{what}: the identity provider answered with JSON that is not an object")
        return data

    async def _get_json(self, what: str, url: str) -> dict[str, Any]:
        response = await self._request(what, "GET", url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise ProviderError(f"{what}: the identity provider answered HTTP {response.status_code}")
        return self._json_object(what, response)

    # -- discovery ---------------------------------------------------------------------------------------------

    async def discovery(self) -> dict[str, Any]:
        """The provider's metadata, fetched once and refetched after ``discovery_ttl`` (stale copy if that fails)."""
        now = self._clock()
        if self._discovery is not None and now - self._discovery_at < self.settings.discovery_ttl:
            return self._discovery
        async with self._discovery_lock:
            if self._discovery is not None and self._clock() - self._discovery_at < self.settings.discovery_ttl:
                return self._discovery
            url = self.settings.issuer + ".well-known/openid-configuration"
            try:
                document = self._check_discovery(await self._get_json("discovery", url))
            except ProviderError:
                if self._discovery is not None:
                    logger.warning("discovery refresh failed; keeping the cached metadata")
                    self._discovery_at = self._clock()
                    return self._discovery
                raise
            self._discovery, self._discovery_at = document, self._clock()
            return document

    def _check_discovery(self, document: dict[str, Any]) -> dict[str, Any]:
        issuer = document.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.settings.issuer.rstrip("/"):
            raise ProviderError("discovery: the document's issuer does not match the configured issuer")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            try:
                _check_url(name, document.get(name))
            except ConfigurationError as exc:
                raise ProviderError(f"discovery: {exc}") from None
        end_session = document.get("end_session_endpoint")
        if end_session is not None:
            try:
                _check_url("end_session_endpoint", end_session)
            except ConfigurationError:
                document = {**document, "end_session_endpoint": None}
        return document

    def _algorithms(self, document: Mapping[str, Any]) -> tuple[str, ...]:
        memo = self._algorithms_memo
        if memo is not None and memo[0] is document:
            return memo[1]
        algorithms = self._list_algorithms(document)
        self._algorithms_memo = (document, algorithms)
        return algorithms

    def _list_algorithms(self, document: Mapping[str, Any]) -> tuple[str, ...]:
        if self.settings.id_token_algorithms is not None:
            return self.settings.id_token_algorithms
        listed = document.get("id_token_signing_alg_values_supported")
        if not isinstance(listed, list) or not listed:
            return ("RS256",)  # the OIDC Discovery default
        allowed = ASYMMETRIC_ALGORITHMS
        if self.settings.allow_symmetric_id_tokens:
            allowed += ("HS256", "HS384", "HS512")
        return tuple(alg for alg in listed if alg in allowed)

    def authorization_origins(self) -> str:
        """The origins the browser is sent to for ``/authorize`` (for CSP ``form-action``), space-separated."""
        origins = {_origin(self.settings.issuer)}
        if self._discovery is not None:
            origins.add(_origin(self._discovery["authorization_endpoint"]))
        return " ".join(sorted(origins))

    # -- /authorize --------------------------------------------------------------------------------------------

    async def authorization_request(
        self,
        *,
        organization: str | None = None,
        invitation: str | None = None,
        ui_locales: str | None = None,
        prompt: str | None = None,
        redirect_uri: str | None = None,
        login_hint: str | None = None,
        screen_hint: str | None = None,
    ) -> AuthorizationRequest:
        """Build the ``/authorize`` URL from the allow-list only; the caller binds the returned secrets.

        ``redirect_uri`` is the callback on the request's host under multi-tenant routing (the caller built it from
        an allow-listed host); by default the configured one. ``login_hint`` (an email address) and ``screen_hint``
        (``signup`` or ``login``) come from the invitation preflight, never from the query; a ``screen_hint`` set
        in ``extra_authorize_params`` wins (one value per parameter).
        """
        document = await self.discovery()
        s = self.settings
        if invitation and not organization:
            raise ValueError("an invitation is always sent with its organization")
        state, nonce, verifier = new_state(), new_state(), new_code_verifier()
        if redirect_uri is None or redirect_uri == s.redirect_uri:
            redirect_uri, static = s.redirect_uri, self._static_query
        else:
            static = f"{self._query_head}&redirect_uri={quote_plus(redirect_uri)}&{self._query_scope}"
        # The parameters in a fixed order; the constant ones are encoded once (see _static_query). state, nonce
        # and the challenge are hex or base64url: nothing to escape. The rest goes through quote_plus, as urlencode.
        query = (
            f"{static}&state={state}&nonce={nonce}&code_challenge={s256_challenge(verifier)}"
            "&code_challenge_method=S256"
        )
        if s.audience:
            query += "&audience=" + quote_plus(s.audience)
        if organization:
            query += "&organization=" + quote_plus(organization)
        if invitation:
            query += "&invitation=" + quote_plus(invitation)
        if ui_locales:
            query += "&ui_locales=" + quote_plus(ui_locales)
        if prompt:
            query += "&prompt=" + quote_plus(prompt)
        if login_hint:
            query += "&login_hint=" + quote_plus(login_hint[:320])
        if screen_hint in ("signup", "login") and "screen_hint" not in s.extra_authorize_params:
            query += "&screen_hint=" + screen_hint
        if self._extra_query:
            query += "&" + self._extra_query
        endpoint = document["authorization_endpoint"]
        if endpoint != self._endpoint:
            self._endpoint, self._separator = endpoint, "&" if urlsplit(endpoint).query else "?"
        return AuthorizationRequest(endpoint + self._separator + query, state, nonce, verifier, redirect_uri)

    # -- token endpoint ----------------------------------------------------------------------------------------

    async def exchange_code(self, code: str, code_verifier: str, redirect_uri: str) -> dict[str, Any]:
        """Trade the code for tokens; returns the token response (with a string ``id_token``)."""
        document = await self.discovery()
        s = self.settings
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
            "client_id": s.client_id,
        }
        auth = None
        methods = document.get("token_endpoint_auth_methods_supported")
        if isinstance(methods, list) and "client_secret_post" not in methods and "client_secret_basic" in methods:
            auth = httpx2.BasicAuth(s.client_id, s.client_secret)
        else:
            data["client_secret"] = s.client_secret
        response = await self._request(
            "code exchange",
            "POST",
            document["token_endpoint"],
            data=data,
            auth=auth,
            headers={"Accept": "application/json"},
        )
        if response.status_code >= 500:
            raise ProviderError(f"code exchange: the identity provider answered HTTP {response.status_code}")
        if 400 <= response.status_code < 500:
            try:
                body = response.json()
            except (ValueError, RecursionError):
                body = None
            error = body.get("error") if isinstance(body, dict) else None
            error = error if isinstance(error, str) and error.isascii() and len(error) < 64 else "unknown"
            raise TokenExchangeRejected(error, f"the identity provider refused the code ({error})")
        if response.status_code != 200:
            raise ProviderError(f"code exchange: unexpected HTTP {response.status_code}")
        tokens = self._json_object("code exchange", response)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise ProviderError("code exchange: the identity provider returned no ID token (is 'openid' in scope?)")
        return tokens

    # -- ID token ----------------------------------------------------------------------------------------------

    async def verify_id_token(self, id_token: str, *, nonce: str | None) -> dict[str, Any]:
        """Verify signature and claims (iss, aud, azp, exp, iat, nonce, sub); return the claims. ``nonce=None``:
        an ID token from a refresh, which carries no nonce (OIDC Core 12.2)."""
        document = await self.discovery()
        _, claims = await self._verify_jws(id_token, document, "ID token")
        self.check_claims(claims, issuer=document["issuer"], nonce=nonce)
        return claims

    async def verify_access_token(self, token: str, *, audience: str) -> dict[str, Any] | None:
        """An access token issued as a JWT for ``audience``: signature from the JWKS, iss, aud, exp; its claims.
        None for an opaque token (no API audience: nothing to check, and never to decode)."""
        if not isinstance(token, str) or token.count(".") != 2:
            return None
        document = await self.discovery()
        _, claims = await self._verify_jws(token, document, "access token")
        self._check_registered(claims, "access token", issuer=document["issuer"], audience=audience,
                               meant_for="the configured API", exp_required=True, check_iat=False)
        return claims

    async def _verify_jws(
        self, value: str, document: Mapping[str, Any], what: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The JOSE header and the claims of a compact JWS whose signature verifies (one parse for both)."""
        if not isinstance(value, str) or len(value) > _MAX_TOKEN_LENGTH or value.count(".") != 2:
            raise TokenError(f"the {what} is not a compact JWS")
        try:
            # Parsed once, by joserfc (size limits, base64url, JSON header), then verified from the same object.
            token = jws.extract_compact(value.encode("ascii"))
            header = token.headers()
        except (JoseError, ValueError, UnicodeError, RecursionError):  # RecursionError: deep nesting
            raise TokenError(f"the {what} header is not valid base64url JSON") from None
        if not isinstance(header, dict):
            raise TokenError(f"the {what} header is not a JSON object")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms(document):
            raise TokenError(f"the {what} algorithm {str(alg)[:20]!r} is not accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenError(f"the {what} key id is not a string")
        if alg.startswith("HS"):
            key: Any = OctKey.import_key(self.settings.client_secret)
        else:
            key = await self._signing_key(kid, alg)
        registry = self._registries.get(alg)
        if registry is None:  # one per algorithm, built once (jwt.decode builds a new one on every call)
            registry = self._registries[alg] = jws.JWSRegistry(algorithms=[alg])
        try:
            if not jws.validate_compact(token, key, registry=registry):
                raise TokenError(f"the {what} signature does not verify (bad_signature)")
            claims = json.loads(token.payload)
        except JoseError as exc:
            raise TokenError(f"the {what} signature does not verify ({exc.error})") from None
        except (ValueError, TypeError, RecursionError):  # a signed payload nested past the recursion limit
            raise TokenError(f"the {what} could not be decoded") from None
        if not isinstance(claims, dict):
            raise TokenError(f"the {what} payload is not a JSON object")
        return header, claims

    def _check_registered(
        self, claims: Mapping[str, Any], what: str, *, issuer: str, audience: str, meant_for: str,
        exp_required: bool, check_iat: bool, max_age: float | None = None,
    ) -> list[Any]:
        """The checks every token here gets (RFC 7519 4.1): ``iss`` is the issuer, ``audience`` is in ``aud``,
        ``exp`` (when present, or ``exp_required``) not past and ``iat`` (``check_iat``) present, not in the
        future and at most ``max_age`` seconds old, all with the configured leeway. Returns the audiences (an ID
        token's ``azp`` is checked against them)."""
        if claims.get("iss") != issuer:
            raise TokenError(f"the {what} was issued by another issuer (iss)")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or audience not in audiences:
            raise TokenError(f"the {what} is not meant for {meant_for} (aud)")
        now, leeway = self._clock(), self.settings.leeway
        exp = claims.get("exp")
        if exp_required or exp is not None:
            if not _is_number(exp):
                raise TokenError(f"the {what} has no expiry (exp)")
            if now > exp + leeway:
                raise TokenError(f"the {what} has expired (exp)")
        if check_iat:
            iat = claims.get("iat")
            if not _is_number(iat):
                raise TokenError(f"the {what} has no issue time (iat)")
            if iat > now + leeway:
                raise TokenError(f"the {what} was issued in the future (iat; check the clocks)")
            if max_age is not None and iat < now - max_age - leeway:
                raise TokenError(f"the {what} is too old (iat)")
        return audiences

    def check_claims(self, claims: Mapping[str, Any], *, issuer: str, nonce: str | None) -> None:
        """The OIDC Core 3.1.3.7 checks that apply to a confidential client."""
        client_id = self.settings.client_id
        audiences = self._check_registered(claims, "ID token", issuer=issuer, audience=client_id,
                                           meant_for="this application", exp_required=True, check_iat=True)
        azp = claims.get("azp")
        if len(audiences) > 1 and azp is None:
            raise TokenError("the ID token has several audiences but no authorized party (azp)")
        if azp is not None and azp != client_id:
            raise TokenError("the ID token was issued to another application (azp)")
        token_nonce = claims.get("nonce")
        if nonce is not None and (
            not isinstance(token_nonce, str) or not hmac.compare_digest(token_nonce.encode(), nonce.encode())
        ):
            raise TokenError("the ID token nonce does not match this login")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TokenError("the ID token has no subject (sub)")

    # -- back-channel logout ------------------------------------------------------------------------------------

    async def verify_logout_token(self, token: str) -> dict[str, Any]:
        """A back-channel logout token checked as OpenID Connect Back-Channel Logout 1.0 section 2.6 says: the
        signature (the ID token's algorithms and keys), ``typ`` where present, iss, aud, a recent iat, the logout
        event, ``sid`` and/or ``sub``, a ``jti`` and no ``nonce``. Its claims, or :class:`TokenError` (why)."""
        document = await self.discovery()
        header, claims = await self._verify_jws(token, document, "logout token")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str)
                                or typ.lower() not in ("logout+jwt", "application/logout+jwt")):
            raise TokenError("the logout token type (typ) is not logout+jwt")
        self._check_registered(claims, "logout token", issuer=document["issuer"], audience=self.settings.client_id,
                               meant_for="this application", exp_required=False, check_iat=True,
                               max_age=_LOGOUT_TOKEN_MAX_AGE)
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
            raise TokenError("the logout token has no back-channel logout event (events)")
        sid, sub = claims.get("sid"), claims.get("sub")
        if sid is None and sub is None:
            raise TokenError("the logout token names no session and no user (sid, sub)")
        for name, value in (("sid", sid), ("sub", sub)):
            if value is not None and (not isinstance(value, str) or not value or len(value) > 255):
                raise TokenError(f"the logout token {name} is not a usable string")
        if "nonce" in claims:
            raise TokenError("the logout token carries a nonce (it must not)")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 255:
            raise TokenError("the logout token has no token id (jti)")
        return claims

    # -- JWKS --------------------------------------------------------------------------------------------------

    async def _signing_key(self, kid: str | None, alg: str) -> Any:
        if self._jwks_at == float("-inf"):
            await self._refresh_jwks(self._jwks_at)
        key = self._pick(kid, alg)
        if key is None:
            # Key rotation: the provider signs with a key published after our fetch. Refetch once, rate-limited.
            if self._clock() - self._jwks_at >= self.settings.jwks_min_refetch_interval:
                await self._refresh_jwks(self._jwks_at)
                key = self._pick(kid, alg)
            else:
                logger.info("unknown key id; JWKS refetch skipped (rate limit)")
        if key is None:
            raise TokenError("the ID token is signed with a key the provider does not publish")
        return key

    async def _refresh_jwks(self, seen_at: float) -> None:
        document = await self.discovery()
        async with self._jwks_lock:
            if self._jwks_at != seen_at:  # another request refreshed while we waited
                return
            jwks = await self._get_json("JWKS", document["jwks_uri"])
            raw_keys = jwks.get("keys")
            if not isinstance(raw_keys, list):
                raise ProviderError("JWKS: the document has no 'keys' list")
            keys = []
            for raw in raw_keys:
                if not isinstance(raw, dict) or raw.get("use", "sig") != "sig":
                    continue
                cls = _KEY_CLASSES.get(raw.get("kty"))  # type: ignore[arg-type]
                if cls is None:
                    continue
                try:
                    keys.append(cls.import_key(raw))
                except (JoseError, ValueError, TypeError):
                    logger.warning("JWKS: skipped a key that does not import (kid %r)", str(raw.get("kid"))[:40])
            self._keys, self._picked, self._jwks_at = keys, {}, self._clock()

    def _pick(self, kid: str | None, alg: str) -> Any:
        found = self._picked.get((kid, alg))
        if found is None:
            found = self._choose(kid, alg)
            if found is not None:  # only keys the JWKS holds: the map stays as small as the JWKS
                self._picked[(kid, alg)] = found
        return found

    def _choose(self, kid: str | None, alg: str) -> Any:
        kty = _KTY_BY_PREFIX.get(alg[:2])
        candidates = [
            key
            for key in self._keys
            if key.key_type == kty and key.get("alg") in (None, alg) and (kid is None or key.kid == kid)
        ]
        if kid is None and len(candidates) != 1:
            return None  # without a kid, only an unambiguous key set is usable
        return candidates[0] if candidates else None

    # -- logout ------------------------------------------------------------------------------------------------

    async def end_session_url(self, return_to: str, *, id_token_hint: str | None = None,
                              sid: str | None = None) -> str | None:
        """Where to send the browser to end the provider's session, or None to log out locally only. An OIDC
        ``end_session_endpoint`` gets the session's ID token (``id_token_hint``) and its ``sid`` as
        ``logout_hint`` (Auth0's /oidc/logout takes both); Auth0's /v2/logout takes neither."""
        s = self.settings
        auth0 = s.issuer + "v2/logout?" + urlencode([("client_id", s.client_id), ("returnTo", return_to)])
        if s.logout_style == "local":
            return None
        if s.logout_style == "auth0":
            return auth0
        try:
            document = await self.discovery()
        except ProviderError:
            logger.warning("logout: discovery failed; logging out locally only")
            return None
        endpoint = document.get("end_session_endpoint")
        if endpoint:
            separator = "&" if urlsplit(endpoint).query else "?"
            params = [("client_id", s.client_id), ("post_logout_redirect_uri", return_to)]
            if id_token_hint and len(id_token_hint) <= 8192:
                params.append(("id_token_hint", id_token_hint))
            if sid:
                params.append(("logout_hint", sid))
            return endpoint + separator + urlencode(params)
        host = urlsplit(s.issuer).hostname or ""
        if s.logout_style == "auto" and host.endswith(".auth0.com"):
            return auth0
        return None
