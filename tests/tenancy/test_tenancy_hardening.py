"""Review findings on multi-tenant routing, each pinned by a test that failed before its fix."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest
from tenancy_support import ACME, DOMAIN, TenantWorld

from orginvite.links import LinkRules
from orginvite.tenancy.rules import TenancyError, TenancyRules, canonical_login_url, host_allowed, normalize_host, route

LOOSE = ".+"  # an operator widening the name pattern (another provider, a typo): names must still be host labels
ESCAPES = ["evil.com/x", "evil.com?", "a@evil.com#", "evil.com\\x", "..", ".", "a b", "Acme", "a%2fb", "a" * 64]


@pytest.mark.parametrize("name", ESCAPES)
def test_a_widened_name_pattern_never_builds_a_url_off_our_hosts(name: str) -> None:
    hosts = TenancyRules(host_template="{organization}.myapp.com", organization_name_pattern=LOOSE)
    paths = TenancyRules(path_template="/o/{organization}", apex_host="myapp.com", organization_name_pattern=LOOSE)
    for rules in (hosts, paths):
        assert not rules.is_valid_name(name)
        with pytest.raises(TenancyError):
            canonical_login_url(name, rules)


def test_a_widened_name_pattern_still_routes_and_narrows() -> None:
    narrow = TenancyRules(host_template="{organization}.myapp.com", organization_name_pattern=r"[a-z]{3,8}")
    assert route("acme.myapp.com", "/", narrow).organization_name == "acme"
    with pytest.raises(TenancyError):
        route("ac.myapp.com", "/", narrow)
    paths = TenancyRules(path_template="/o/{organization}", apex_host="myapp.com", organization_name_pattern=LOOSE)
    assert route("myapp.com", "/o/acme/x", paths).organization_name == "acme"
    for segment in ("..", "a b", "Acme"):
        with pytest.raises(TenancyError):
            route("myapp.com", f"/o/{segment}/x", paths)


@pytest.fixture
def loose_world():
    w = TenantWorld()
    w.configure(
        tenancy=TenancyRules(host_template=f"{{organization}}.{DOMAIN}:{w.port}", organization_name_pattern=LOOSE),
        link_rules=LinkRules(organization_name_pattern=LOOSE),
    )
    yield w
    w.close()


@pytest.mark.parametrize("name", ["evil.test/x", "evil.test?", "u@evil.test#", "evil.test\\"])
def test_an_apex_link_never_redirects_off_our_hosts_even_with_widened_patterns(loose_world, name):
    w = loose_world
    response = w.raw(f"/login?invitation=tkt&organization={ACME}&organization_name={quote(name, safe='')}",
                     f"{DOMAIN}:{w.port}", headers={"accept": "text/html"})
    location = response.headers.get("location")
    assert location is None or urlsplit(location).hostname.endswith("." + DOMAIN), location
    assert response.status_code == 400
    assert 'data-page="organization_mismatch"' in response.text


@pytest.mark.parametrize("spelling", ["[::1]:8000", "[0:0:0:0:0:0:0:1]:8000", "[0::1]:8000", "[0000::0001]:8000"])
def test_every_spelling_of_an_ipv6_literal_is_the_same_host(spelling: str) -> None:
    for allowed in ("[::1]:8000", "[0:0::1]:8000"):
        rules = TenancyRules(allowed_hosts=[allowed])
        assert normalize_host(spelling) == "[::1]:8000"
        assert host_allowed(spelling, rules)
    assert not host_allowed(spelling, TenancyRules(allowed_hosts=["[::2]:8000"]))
    assert normalize_host("[::FFFF:127.0.0.1]") == "[::ffff:7f00:1]"
