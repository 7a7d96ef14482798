"""The token endpoint after the login: refresh (and revocation), through one long-lived Authlib OAuth 2 client.

Authlib does the protocol (client authentication, the refresh grant, RFC 7009 revocation, error bodies); this
module checks what comes back as the callback checks a login: the new ID token is verified against the JWKS and
must name the same user and the session's organization, and an access token issued as a JWT for the API must be
the API's and the organization's. Anything else ends the session (no SDK compared here re-checks the
organization on refresh).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx2

from orginvite.config import Settings
from orginvite.errors import OrganizationClaimError, ProviderError, TokenError
from orginvite.login.claims import check_organization
from orginvite.login.oidc import OIDCClient
from orginvite.sessions.access import RefreshRefused
from orginvite.sessions.tokens import TokenSet
from orginvite.sessions.user import OrgUser

__all__ = ["ProviderTokens", "check_access_token"]

logger = logging.getLogger("orginvite.login")


def _organization_of(user: OrgUser) -> str | None:
    org = user.organization
    if org is None:
        return None
    return org.id or org.name


async def check_access_token(oidc: OIDCClient, token: str, audience: str | None, organization: str | None) -> None:
    """An API access token issued as a JWT must verify and, in an organization session, carry its ``org_id``
    (or ``org_name``) claim: a token for another organization would let the API act in the wrong tenant."""
    if audience is None:
        return
    claims = await oidc.verify_access_token(token, audience=audience)
    if claims is not None and organization is not None:
        check_organization(claims, organization, require=True)


class ProviderTokens:
    """The :class:`~orginvite.sessions.access.Refresher` of one login flow."""

    def __init__(self, settings: Settings, oidc: OIDCClient, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.oidc = oidc
        self.clock = clock
        self._client: Any = None  # authlib AsyncOAuth2Client, built on first use (it needs discovery)

    async def _oauth(self) -> tuple[Any, Mapping[str, Any]]:
        document = await self.oidc.discovery()
        if self._client is None:
            from authlib.integrations.httpx_client import AsyncOAuth2Client

            methods = document.get("token_endpoint_auth_methods_supported")
            basic_only = isinstance(methods, list) and "client_secret_post" not in methods
            self._client = AsyncOAuth2Client(
                client_id=self.settings.client_id,
                client_secret=self.settings.client_secret,
                token_endpoint_auth_method="client_secret_basic" if basic_only else "client_secret_post",
                timeout=self.settings.http_timeout,
                trust_env=False,
                follow_redirects=False,
            )
        return self._client, document

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def refresh(self, tokens: TokenSet, user: OrgUser, audience: str | None) -> TokenSet:
        from authlib.integrations.base_client.errors import OAuthError

        assert tokens.refresh_token is not None
        client, document = await self._oauth()
        extra = {} if audience is None or audience == tokens.audience else {"audience": audience}
        try:
            answer = dict(await client.refresh_token(document["token_endpoint"], refresh_token=tokens.refresh_token,
                                                     **extra))
        except OAuthError as exc:
            error = exc.error if isinstance(exc.error, str) and exc.error.isascii() else "unknown"
            raise RefreshRefused(error[:64]) from None
        except httpx2.TimeoutException:
            raise ProviderError("refresh: the identity provider did not answer in time") from None
        except httpx2.HTTPStatusError as exc:
            raise ProviderError(f"refresh: the identity provider answered HTTP {exc.response.status_code}") from None
        except httpx2.HTTPError as exc:
            raise ProviderError(f"refresh: cannot reach the identity provider ({type(exc).__name__})") from None
        except (ValueError, RecursionError):
            raise ProviderError("refresh: the identity provider answered with something that is not JSON") from None
        now = self.clock()
        organization = _organization_of(user)
        if audience is not None and audience != tokens.audience:
            fresh = TokenSet.from_response(answer, now=now, audience=audience)
            assert fresh.access_token is not None
            await check_access_token(self.oidc, fresh.access_token.token, audience, organization)
            return tokens.with_audience(audience, fresh.access_token, fresh.refresh_token)
        new = TokenSet.from_response(answer, now=now, audience=tokens.audience, previous=tokens)
        id_token = answer.get("id_token")
        if isinstance(id_token, str):
            claims = await self.oidc.verify_id_token(id_token, nonce=None)
            if claims.get("sub") != user.sub:
                raise TokenError("the refreshed ID token names another user")
            if organization is not None:
                check_organization(claims, organization, require=True)
            elif claims.get("org_id") is not None:
                raise OrganizationClaimError(None, str(claims.get("org_id"))[:100],
                                             "a session without organization got tokens for one")
        assert new.access_token is not None
        await check_access_token(self.oidc, new.access_token.token, tokens.audience, organization)
        return new

    async def revoke(self, refresh_token: str) -> None:
        """RFC 7009 revocation at logout, where the provider has an endpoint for it; failures are only logged."""
        try:
            client, document = await self._oauth()
            endpoint = document.get("revocation_endpoint")
            if isinstance(endpoint, str) and endpoint.startswith(("https://", "http://")):
                await client.revoke_token(endpoint, token=refresh_token, token_type_hint="refresh_token")
        except (ProviderError, httpx2.HTTPError, ValueError, RecursionError) as exc:
            logger.warning("logout: the refresh token could not be revoked (%s)", type(exc).__name__)
