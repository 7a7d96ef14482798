"""``POST /backchannel-logout``: the provider says a session ended (OpenID Connect Back-Channel Logout 1.0).

The provider's server POSTs a form with one ``logout_token``; there is no browser, so no cookie and no CSRF token.
The token is verified as the spec says (:meth:`~orginvite.login.oidc.OIDCClient.verify_logout_token`), its
``jti`` is used once (a replayed token is refused), and the sessions it names are revoked in the store
(:mod:`orginvite.sessions.revocation`): every process of the app sees it within a second. The answer is 200, or 400
with ``{"error": "invalid_request", "error_description": ...}``; 503 when the store or the provider's keys cannot be
reached, so that the provider tries again.
"""

from __future__ import annotations

import hashlib
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orginvite.errors import ProviderError, SessionStoreError, TokenError
from orginvite.forms import read_urlencoded_form
from orginvite.login.context import LoginContext

__all__ = ["backchannel_logout"]

logger = logging.getLogger("orginvite.login")

_MAX_BODY = 16 * 1024  # a logout token is well under 2 KiB; the JWS reader caps the token itself too
_HEADERS = {"cache-control": "no-store"}  # the spec: the response must not be cached
_USED_FOR = 600  # seconds a jti is remembered: longer than the freshness window of iat (and its leeway)


def _refused(description: str) -> Response:
    return JSONResponse({"error": "invalid_request", "error_description": description}, status_code=400,
                        headers=_HEADERS)


def _unavailable(description: str) -> Response:
    return JSONResponse({"error": "temporarily_unavailable", "error_description": description}, status_code=503,
                        headers={**_HEADERS, "retry-after": "5"})


async def backchannel_logout(ctx: LoginContext, request: Request) -> Response:
    if request.method != "POST":
        return ctx.method_not_allowed("POST")
    pairs = await read_urlencoded_form(request, max_bytes=_MAX_BODY, max_fields=8)
    if pairs is None:
        return _refused("the body must be an application/x-www-form-urlencoded form of at most 16 KiB")
    tokens = [value for name, value in pairs if name == "logout_token"]
    if len(tokens) != 1:
        return _refused("the form must carry exactly one logout_token")
    try:
        claims = await ctx.oidc.verify_logout_token(tokens[0])
    except TokenError as exc:
        logger.warning("back-channel logout refused: %s", exc)
        return _refused(str(exc))
    except ProviderError as exc:
        logger.warning("back-channel logout: the provider's keys are unavailable (%s)", exc)
        return _unavailable("the identity provider's keys could not be fetched")
    revocations = ctx.store.revocations
    jti = hashlib.sha256(f"{claims['iss']}\n{claims['jti']}".encode()).hexdigest()
    try:
        if not await revocations.first_use("jti:" + jti, _USED_FOR + ctx.settings.leeway):
            logger.warning("back-channel logout refused: a replayed logout token (jti %s…)", jti[:8])
            return _refused("the logout token was already used (jti)")
        await revocations.revoke(sid=claims.get("sid"), sub=claims.get("sub"))
    except SessionStoreError as exc:
        logger.error("back-channel logout: the revocation could not be stored (%s)", exc)
        return _unavailable("the session store is unavailable")
    logger.info("back-channel logout: sub=%r sid=%s", claims.get("sub"),
                "yes" if claims.get("sid") else "no")
    return Response(status_code=200, headers=_HEADERS)
