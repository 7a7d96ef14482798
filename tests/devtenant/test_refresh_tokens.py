"""Refresh tokens over loopback HTTP: rotation, Auth0's reuse leeway and breach detection, lifetimes, revocation,
multi-resource refresh, membership changes and concurrent refreshes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx2
from test_api_tokens import ALL, API, BILLING, PLAIN, api_config, login
from test_auth_support import ACME, ROLES_CLAIM, Browser, Clock, running, verify_jwt

REFUSED = {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}
AUTH = ("webapp", "webapp-secret")


def refresh(base: str, token: str, **extra: str) -> httpx2.Response:
    return httpx2.post(
        base + "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra}, auth=AUTH
    )


def refused(response: httpx2.Response) -> bool:
    return response.status_code == 403 and response.json() == REFUSED


@contextmanager
def tenant_with(**refresh_token: Any) -> Iterator[tuple[Any, str, Browser, Clock]]:
    """A tenant whose ``webapp`` has these refresh_token settings, its URL, a browser and the tenant's clock."""
    clock = Clock()
    with running(api_config(**refresh_token), clock=clock) as (tenant, base):
        browser = Browser(base)
        try:
            yield tenant, base, browser, clock
        finally:
            browser.close()


def first_refresh_token(base: str, browser: Browser, **params: str) -> str:
    params.setdefault("organization", ACME)
    params.setdefault("audience", API)
    return login(base, browser, **params).json()["refresh_token"]


def test_each_refresh_rotates_and_carries_the_members_current_roles() -> None:
    with tenant_with(rotation_type="rotating", leeway=2) as (tenant, base, browser, _):
        body = login(base, browser, organization=ACME, audience=API, scope=f"{ALL} invoices:read invoices:write")
        sid = verify_jwt(base, body.json()["id_token"])["sid"]
        first = body.json()["refresh_token"]
        ann = tenant.store.get_user_by_email("ann@acme.test")["user_id"]
        # Ann goes from admin to member in acme between login and refresh.
        tenant.store.remove_member_roles(ACME, ann, ["rol_admin00000000001"])
        tenant.store.add_member_roles(ACME, ann, ["rol_membr00000000001"])
        renewed = refresh(base, first)
        assert renewed.status_code == 200
        tokens = renewed.json()
        assert tokens["refresh_token"] not in (first, None) and tokens["expires_in"] == 300
        access = verify_jwt(base, tokens["access_token"])
        assert access["aud"] == [API, base + "/userinfo"] and access["gty"] == "refresh_token"
        assert access["permissions"] == ["invoices:read"] and access["org_id"] == ACME
        assert access["scope"] == tokens["scope"] == "openid profile email offline_access invoices:read"
        id_token = verify_jwt(base, tokens["id_token"])
        assert id_token["sid"] == sid and id_token["org_id"] == ACME and id_token["org_name"] == "acme"
        assert id_token[ROLES_CLAIM] == ["member"] and "nonce" not in id_token
        second = refresh(base, tokens["refresh_token"])
        assert second.status_code == 200 and second.json()["refresh_token"] != tokens["refresh_token"]


def test_the_previous_token_inside_the_leeway_gives_a_valid_new_set() -> None:
    with tenant_with(rotation_type="rotating", leeway=2) as (_, base, browser, clock):
        first = first_refresh_token(base, browser)
        second = refresh(base, first).json()["refresh_token"]
        clock.now += 1.5
        again = refresh(base, first)  # a concurrent request that still had the first token
        assert again.status_code == 200
        third = again.json()["refresh_token"]
        assert third not in (first, second)
        assert verify_jwt(base, again.json()["access_token"])["sub"]
        # Both tokens of the current generation work; the family lives on.
        assert refresh(base, third).status_code == 200
        assert refresh(base, second).status_code == 200  # now the previous generation, still inside the leeway


def test_the_previous_token_after_the_leeway_revokes_the_whole_family() -> None:
    with tenant_with(rotation_type="rotating", leeway=2) as (_, base, browser, clock):
        first = first_refresh_token(base, browser)
        second = refresh(base, first).json()["refresh_token"]
        other_login = first_refresh_token(base, browser)  # another family: untouched by the breach
        clock.now += 2.5
        assert refused(refresh(base, first))
        assert refused(refresh(base, second))  # the newest token of the family is gone too
        assert refresh(base, other_login).status_code == 200


def test_an_older_token_is_a_breach_even_inside_the_leeway() -> None:
    with tenant_with(rotation_type="rotating", leeway=60) as (_, base, browser, _clock):
        first = first_refresh_token(base, browser)
        second = refresh(base, first).json()["refresh_token"]
        third = refresh(base, second).json()["refresh_token"]
        assert refused(refresh(base, first))  # the second-to-last: breach detection
        assert refused(refresh(base, third))


def test_without_a_leeway_any_reuse_is_a_breach() -> None:
    with tenant_with(rotation_type="rotating") as (_, base, browser, _clock):
        first = first_refresh_token(base, browser)
        second = refresh(base, first).json()["refresh_token"]
        assert refused(refresh(base, first))
        assert refused(refresh(base, second))


def test_non_rotating_tokens_keep_working_and_are_not_reissued() -> None:
    with tenant_with(rotation_type="non-rotating") as (_, base, browser, _clock):
        token = first_refresh_token(base, browser)
        for _ in range(3):
            renewed = refresh(base, token)
            assert renewed.status_code == 200 and "refresh_token" not in renewed.json()


def test_the_absolute_lifetime_counts_from_the_login() -> None:
    with tenant_with(rotation_type="rotating", leeway=0, token_lifetime=2) as (_, base, browser, clock):
        token = first_refresh_token(base, browser)
        clock.now += 1
        newest = refresh(base, token).json()["refresh_token"]
        clock.now += 1.1  # past two seconds since the login, whatever the newest token's age
        assert refused(refresh(base, newest))


def test_the_idle_lifetime_counts_from_the_last_exchange() -> None:
    settings = {"token_lifetime": 100, "idle_token_lifetime": 2}
    with tenant_with(rotation_type="rotating", leeway=0, **settings) as (_, base, browser, clock):
        token = first_refresh_token(base, browser)
        for _ in range(3):  # used every 1.5 s: never idle for 2 s, although 4.5 s pass in all
            clock.now += 1.5
            response = refresh(base, token)
            assert response.status_code == 200
            token = response.json()["refresh_token"]
        clock.now += 2.1
        assert refused(refresh(base, token))
    with tenant_with(rotation_type="non-rotating", **settings) as (_, base, browser, clock):
        token = first_refresh_token(base, browser)
        clock.now += 1.5
        assert refresh(base, token).status_code == 200  # a use restarts the idle time of a non-rotating token
        clock.now += 1.5
        assert refresh(base, token).status_code == 200
        clock.now += 2.1
        assert refused(refresh(base, token))


def test_revoke_ends_the_family_and_answers_200_even_for_unknown_tokens() -> None:
    with tenant_with(rotation_type="rotating", leeway=2) as (tenant, base, browser, _clock):
        first = first_refresh_token(base, browser)
        second = refresh(base, first).json()["refresh_token"]
        revoke = lambda token, auth=AUTH: httpx2.post(base + "/oauth/revoke", data={"token": token}, auth=auth)  # noqa: E731
        response = revoke(second)
        assert response.status_code == 200 and response.content == b""
        assert refused(refresh(base, second)) and refused(refresh(base, first))
        assert revoke(second).status_code == 200 and revoke("no-such-token").content == b""
        assert revoke("x" * 5000).status_code == 200
        # Client authentication as at /oauth/token, with Auth0's answer; another client's token is left alone.
        kept = first_refresh_token(base, browser)
        bad = revoke(kept, ("webapp", "wrong"))
        assert bad.status_code == 401 and bad.json() == {"error": "access_denied", "error_description": "Unauthorized"}
        assert revoke(kept, ("required", "required-secret")).status_code == 200
        assert refresh(base, kept).status_code == 200
        missing = httpx2.post(base + "/oauth/revoke", data={"token_type_hint": "refresh_token"}, auth=AUTH)
        assert missing.status_code == 400
        assert missing.json() == {"error": "invalid_request", "error_description": "Missing required parameter: token"}
        assert tenant.token_calls["revoke"] == 7


def test_a_member_removed_from_the_organization_is_refused_and_the_family_revoked() -> None:
    with tenant_with(rotation_type="rotating", leeway=2) as (tenant, base, browser, _clock):
        token = first_refresh_token(base, browser)
        ann = tenant.store.get_user_by_email("ann@acme.test")["user_id"]
        tenant.store.remove_members(ACME, [ann])
        assert refused(refresh(base, token))
        tenant.store.add_members(ACME, [ann])  # back in: the family stays revoked
        assert refused(refresh(base, token))


def test_a_refresh_for_another_api_follows_the_clients_refresh_token_policies() -> None:
    policies = [{"audience": BILLING, "scope": ["bills:read"]}]
    with tenant_with(rotation_type="rotating", leeway=2, policies=policies) as (_, base, browser, _clock):
        token = first_refresh_token(base, browser, scope=f"{ALL} invoices:read")
        billing = refresh(base, token, audience=BILLING)
        assert billing.status_code == 200
        claims = verify_jwt(base, billing.json()["access_token"])
        assert claims["aud"] == [BILLING, base + "/userinfo"] and claims["org_id"] == ACME
        assert billing.json()["scope"] == "openid profile email offline_access bills:read"
        narrower = refresh(base, billing.json()["refresh_token"], audience=BILLING, scope="openid bills:read")
        assert narrower.json()["scope"] == "openid bills:read"
        wider = refresh(base, narrower.json()["refresh_token"], audience=BILLING, scope="openid bills:pay")
        assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
        # An audience outside the policies is ignored, as Auth0 does: the token is for the login's API.
        ignored = refresh(base, narrower.json()["refresh_token"], audience=PLAIN)
        assert verify_jwt(base, ignored.json()["access_token"])["aud"][0] == API


def test_concurrent_refreshes_of_one_token_never_fork_the_family() -> None:
    with tenant_with(rotation_type="rotating", leeway=30) as (tenant, base, browser, _clock):
        token = first_refresh_token(base, browser)
        with ThreadPoolExecutor(max_workers=16) as pool:
            responses = list(pool.map(lambda _: refresh(base, token), range(40)))
        assert all(r.status_code == 200 for r in responses), {r.text for r in responses}
        issued = {r.json()["refresh_token"] for r in responses}
        assert len(issued) == 40 and tenant.store.count_refresh_tokens() == 41
        # One rotation, 39 reuses inside the leeway: every new token is of one generation of one family, so a
        # rotation from one makes the others "previous", still usable in the leeway; an older one is a breach.
        newest = refresh(base, issued.pop()).json()["refresh_token"]
        assert refresh(base, issued.pop()).status_code == 200
        assert refused(refresh(base, token))
        assert refused(refresh(base, newest))
        assert tenant.store.count_refresh_tokens() == 0


def test_concurrent_refreshes_without_a_leeway_leave_no_live_token() -> None:
    with tenant_with(rotation_type="rotating") as (tenant, base, browser, _clock):
        token = first_refresh_token(base, browser)
        with ThreadPoolExecutor(max_workers=16) as pool:
            responses = list(pool.map(lambda _: refresh(base, token), range(40)))
        winners = [r for r in responses if r.status_code == 200]
        assert len(winners) <= 1 and all(refused(r) for r in responses if r not in winners)
        # The reuses were breach detection: the family, the winner's new token included, is revoked.
        assert tenant.store.count_refresh_tokens() == 0
        assert all(refused(refresh(base, w.json()["refresh_token"])) for w in winners)


def test_authlibs_client_refreshes_against_the_tenant() -> None:
    from authlib.integrations.requests_client import OAuth2Session

    with tenant_with(rotation_type="rotating", leeway=2) as (_, base, browser, _clock):
        token = first_refresh_token(base, browser)
        with OAuth2Session("webapp", "webapp-secret", token_endpoint_auth_method="client_secret_post") as session:
            renewed = session.refresh_token(base + "/oauth/token", refresh_token=token)
            assert renewed["refresh_token"] != token and verify_jwt(base, renewed["access_token"])["aud"][0] == API
            session.revoke_token(base + "/oauth/revoke", renewed["refresh_token"], token_type_hint="refresh_token")
        assert refused(refresh(base, renewed["refresh_token"]))


def test_two_tenants_on_one_database_rotate_a_token_once(tmp_path) -> None:
    """Two tenant servers sharing one SQLite file (as two processes would): the rotation guard holds across them."""
    config, db = api_config(rotation_type="rotating"), tmp_path / "tenant.sqlite3"
    with running_on(config, db) as (one, base_one), running_on(config, db) as (_, base_two):
        browser = Browser(base_one)
        token = first_refresh_token(base_one, browser)
        browser.close()
        bases = [base_one, base_two] * 20
        with ThreadPoolExecutor(max_workers=16) as pool:
            responses = list(pool.map(lambda base: refresh(base, token), bases))
        winners = [r for r in responses if r.status_code == 200]
        assert len(winners) <= 1 and all(refused(r) for r in responses if r not in winners)
        assert one.store.count_refresh_tokens() == 0


@contextmanager
def running_on(config: dict[str, Any], db: Any) -> Iterator[tuple[Any, str]]:
    from orginvite.devtenant.app import DevTenant

    with DevTenant(config=config, db=db) as tenant, tenant.serve() as server:
        yield tenant, server.url
