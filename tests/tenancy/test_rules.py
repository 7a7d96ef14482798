from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orginvite.errors import ConfigurationError
from orginvite.tenancy.rules import (
    Route,
    TenancyError,
    TenancyRules,
    canonical_login_url,
    effective_host,
    effective_scheme,
    host_allowed,
    normalize_host,
    placement,
    route,
)

HOSTS = TenancyRules(host_template="{organization}.myapp.com", trusted_proxies=("10.0.0.0/8", "2001:db8::1"))
PATHS = TenancyRules(path_template="/o/{organization}", apex_host="myapp.com")
BOTH = TenancyRules(
    host_template="{organization}.myapp.com",
    path_template="/o/{organization}",
    allowed_hosts=("admin.myapp.com", "*.preview.example"),
)
DEV = TenancyRules(host_template="{organization}.myapp.test:8000")
OFF = TenancyRules()


def code_of(call: Any, *args: Any) -> str:
    with pytest.raises(TenancyError) as info:
        call(*args)
    assert str(info.value)
    return info.value.code


def asgi(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(key.lower().encode(), value.encode("latin-1")) for key, value in pairs]


# --- normalize_host ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("myapp.com", "myapp.com"),
        ("MyApp.COM", "myapp.com"),
        ("myapp.com.", "myapp.com"),
        ("Acme.MyApp.com.:8443", "acme.myapp.com:8443"),
        ("  myapp.com\t", "myapp.com"),
        ("myapp.com:443", "myapp.com:443"),
        ("myapp.com:0080", "myapp.com:80"),
        ("127.0.0.1:8000", "127.0.0.1:8000"),
        ("[::1]:8000", "[::1]:8000"),
        ("[::1]", "[::1]"),
        ("localhost", "localhost"),
        ("xn--mnchen-3ya.de", "xn--mnchen-3ya.de"),
        (b"myapp.com", "myapp.com"),
    ],
)
def test_normalize_host(raw: str | bytes, normal: str) -> None:
    assert normalize_host(raw) == normal


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "missing_host"),
        ("   ", "missing_host"),
        ("evil.com@myapp.com", "invalid_host"),
        ("user:pass@myapp.com", "invalid_host"),
        ("my app.com", "invalid_host"),
        ("myapp.com/evil", "invalid_host"),
        ("myapp.com\\evil", "invalid_host"),
        ("myapp.com?x", "invalid_host"),
        ("myapp.com#x", "invalid_host"),
        ("myapp%2ecom", "invalid_host"),
        ("myapp.com\r\nX: y", "invalid_host"),
        ("myapp.com\x00", "invalid_host"),
        ("myapp..com", "invalid_host"),
        (".myapp.com", "invalid_host"),
        ("myapp.com..", "invalid_host"),
        ("a" * 64 + ".com", "invalid_host"),
        ("myapp.com:", "invalid_port"),
        ("myapp.com:0", "invalid_port"),
        ("myapp.com:65536", "invalid_port"),
        ("myapp.com:99999999", "invalid_port"),
        ("myapp.com:-1", "invalid_port"),
        ("myapp.com:80%00", "invalid_host"),
        ("myapp.com:+80", "invalid_host"),
        ("myapp.com:80:80", "invalid_port"),
        ("myapp.com: 80", "invalid_host"),
        ("myapp.com:８０", "non_ascii_host"),
        ("münchen.de", "non_ascii_host"),
        ("аcme.myapp.com", "non_ascii_host"),  # Cyrillic a
        ("myapp\uff0ecom", "non_ascii_host"),  # fullwidth full stop
        (b"caf\xc3\xa9.com", "non_ascii_host"),
        (b"\xff", "non_ascii_host"),
        ("myapp.com,evil.com", "multiple_hosts"),
        ("myapp.com, evil.com", "multiple_hosts"),
        ("[::1", "invalid_host"),
        ("[nonsense]:80", "invalid_host"),
        ("[::1]x", "invalid_host"),
        ("[::1]:99999", "invalid_port"),
        ("a." * 130 + "com", "host_too_long"),
    ],
)
def test_host_attacks_and_garbage(raw: str | bytes, code: str) -> None:
    assert code_of(normalize_host, raw) == code


@settings(max_examples=500)
@given(raw=st.one_of(st.text(max_size=80), st.binary(max_size=80)))
def test_normalize_never_crashes_and_is_idempotent(raw: str | bytes) -> None:
    try:
        normal = normalize_host(raw)
    except TenancyError as error:
        assert error.code
        return
    assert normal == normalize_host(normal)
    assert normal == normal.lower() and normal.isascii()
    assert not any(char in normal for char in "@/\\ ,?#%")
    assert urlsplit(f"https://{normal}/").hostname == normal.rsplit(":", 1)[0].strip("[]") or normal.startswith("[")


# --- effective_host ----------------------------------------------------------------------------------------------


def test_host_header_from_a_direct_client() -> None:
    assert effective_host(asgi(("Host", "Acme.MyApp.com")), "203.0.113.9", HOSTS) == "acme.myapp.com"


def test_forwarded_headers_from_an_untrusted_client_are_ignored() -> None:
    headers = asgi(("Host", "myapp.com"), ("X-Forwarded-Host", "evil.com"), ("Forwarded", "host=evil.com"))
    assert effective_host(headers, "203.0.113.9", HOSTS) == "myapp.com"
    assert effective_host(headers, None, HOSTS) == "myapp.com"
    assert effective_host(headers, "not an ip", HOSTS) == "myapp.com"
    assert effective_host(headers, "10.0.0.1", OFF) == "myapp.com"  # no trusted proxies configured


def test_x_forwarded_host_from_a_trusted_proxy() -> None:
    headers = asgi(("Host", "internal:8080"), ("X-Forwarded-Host", "Acme.myapp.com"))
    assert effective_host(headers, "10.1.2.3", HOSTS) == "acme.myapp.com"
    assert effective_host(headers, "2001:db8::1", HOSTS) == "acme.myapp.com"
    assert effective_host(headers, "::ffff:10.1.2.3", HOSTS) == "acme.myapp.com"  # v4-mapped peer
    assert effective_host(headers, "2001:db8::2", HOSTS) == "internal:8080"


def test_forwarded_header_from_a_trusted_proxy() -> None:
    headers = asgi(("Host", "internal"), ("Forwarded", 'for=203.0.113.9;proto=https;host="acme.myapp.com"'))
    assert effective_host(headers, "10.0.0.1", HOSTS) == "acme.myapp.com"
    same = asgi(("Host", "internal"), ("Forwarded", "host=acme.myapp.com"), ("X-Forwarded-Host", "ACME.myapp.com"))
    assert effective_host(same, "10.0.0.1", HOSTS) == "acme.myapp.com"


def test_trusted_proxy_without_forwarded_headers_falls_back_to_host() -> None:
    assert effective_host(asgi(("Host", "myapp.com")), "10.0.0.1", HOSTS) == "myapp.com"
    assert effective_host(asgi(("Host", "myapp.com"), ("Forwarded", "for=1.2.3.4")), "10.0.0.1", HOSTS) == "myapp.com"


def test_trust_all_proxies() -> None:
    rules = TenancyRules(trusted_proxies=("*",))
    assert effective_host(asgi(("Host", "a.com"), ("X-Forwarded-Host", "b.com")), "198.51.100.1", rules) == "b.com"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ([], "missing_host"),
        ([("Host", "")], "missing_host"),
        ([("Host", "myapp.com"), ("Host", "evil.com")], "multiple_hosts"),
        ([("Host", "myapp.com"), ("Host", "myapp.com")], "multiple_hosts"),
        ([("Host", "evil.com@myapp.com")], "invalid_host"),
        ([("Host", "myapp.com:70000")], "invalid_port"),
    ],
)
def test_bad_host_headers(headers: list[tuple[str, str]], code: str) -> None:
    assert code_of(effective_host, asgi(*headers), "203.0.113.9", HOSTS) == code


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ([("Host", "x"), ("X-Forwarded-Host", "evil.com, acme.myapp.com")], "multiple_hosts"),
        ([("Host", "x"), ("X-Forwarded-Host", "evil.com"), ("X-Forwarded-Host", "acme.myapp.com")], "multiple_hosts"),
        ([("Host", "x"), ("Forwarded", "host=evil.com, host=acme.myapp.com")], "multiple_hosts"),
        ([("Host", "x"), ("Forwarded", "host=a.myapp.com"), ("X-Forwarded-Host", "b.myapp.com")],
         "conflicting_forwarded_host"),
        ([("Host", "x"), ("X-Forwarded-Host", "evil.com@acme.myapp.com")], "invalid_host"),
        ([("Host", "x"), ("X-Forwarded-Host", "acme.myapp.com:0")], "invalid_port"),
        ([("Host", "x"), ("Forwarded", 'host="ev il.com"')], "invalid_host"),
    ],
)
def test_bad_forwarded_headers_from_a_trusted_proxy_fail_closed(headers: list[tuple[str, str]], code: str) -> None:
    assert code_of(effective_host, asgi(*headers), "10.0.0.1", HOSTS) == code


def test_non_ascii_forwarded_bytes() -> None:
    headers = [(b"host", b"x"), (b"x-forwarded-host", b"caf\xc3\xa9.com")]
    assert code_of(effective_host, headers, "10.0.0.1", HOSTS) == "non_ascii_host"


def test_mapping_headers_plain_dict_and_starlette() -> None:
    from starlette.datastructures import Headers

    assert effective_host({"Host": "Acme.myapp.com"}, None, HOSTS) == "acme.myapp.com"
    starlette_headers = Headers(raw=asgi(("Host", "x"), ("X-Forwarded-Host", "a.myapp.com"), ("X-Forwarded-Host", "b")))
    assert code_of(effective_host, starlette_headers, "10.0.0.1", HOSTS) == "multiple_hosts"
    assert effective_host(Headers(raw=asgi(("Host", "myapp.com"))), "10.0.0.1", HOSTS) == "myapp.com"


@settings(max_examples=300)
@given(forged=st.text(max_size=40), peer=st.sampled_from(["203.0.113.9", "198.51.100.7", "2001:db8::2", None]))
def test_untrusted_peers_can_never_choose_the_host(forged: str, peer: str | None) -> None:
    headers = [
        (b"host", b"myapp.com"),
        (b"x-forwarded-host", forged.encode()),
        (b"forwarded", f"host={forged}".encode()),
    ]
    assert effective_host(headers, peer, HOSTS) == "myapp.com"


def test_effective_scheme() -> None:
    forwarded = asgi(("X-Forwarded-Proto", "HTTPS"))
    assert effective_scheme(forwarded, "http", "10.0.0.1", HOSTS) == "https"
    assert effective_scheme(forwarded, "http", "203.0.113.9", HOSTS) == "http"  # untrusted: ignored
    assert effective_scheme(asgi(("Forwarded", "for=1.2.3.4;proto=https")), "http", "10.0.0.1", HOSTS) == "https"
    assert effective_scheme([], "https", "10.0.0.1", HOSTS) == "https"
    assert effective_scheme([], "wss", None, HOSTS) == "https"
    assert code_of(effective_scheme, asgi(("X-Forwarded-Proto", "javascript")), "http", "10.0.0.1", HOSTS) == (
        "invalid_scheme"
    )
    both = asgi(("X-Forwarded-Proto", "http"), ("Forwarded", "proto=https"))
    assert code_of(effective_scheme, both, "http", "10.0.0.1", HOSTS) == "conflicting_forwarded_proto"
    assert code_of(effective_scheme, [], "ftp", None, HOSTS) == "invalid_scheme"


# --- route and host_allowed --------------------------------------------------------------------------------------


def test_host_routing() -> None:
    assert route("acme.myapp.com", "/", HOSTS) == Route("acme", False, "", "acme.myapp.com")
    assert route("myapp.com", "/login", HOSTS) == Route(None, True, "", "myapp.com")
    assert route("ACME.myapp.com.:443", "/", HOSTS).organization_name == "acme"
    assert route("my-org_2.myapp.com", "/", HOSTS).organization_name == "my-org_2"
    assert HOSTS.apex_host == "myapp.com"  # derived from the template


@pytest.mark.parametrize(
    ("host", "code"),
    [
        ("evil.com", "unknown_host"),
        ("myapp.com.evil.com", "unknown_host"),
        ("acme.myapp.com.evil.com", "unknown_host"),
        ("evilmyapp.com", "unknown_host"),
        ("a.b.myapp.com", "unknown_host"),
        ("www.myapp.com", "reserved_organization_name"),
        ("xn--acme-9ta.myapp.com", "idna_host"),
        ("a" * 51 + ".myapp.com", "invalid_organization_name"),
        ("evil.com@acme.myapp.com", "invalid_host"),
    ],
)
def test_hosts_that_route_nowhere(host: str, code: str) -> None:
    assert code_of(route, host, "/", HOSTS) == code
    assert not host_allowed(host, HOSTS)


def test_port_rules() -> None:
    assert route("acme.myapp.com:8443", "/", HOSTS).organization_name == "acme"  # no port in pattern: any port
    assert route("acme.myapp.test:8000", "/", DEV).organization_name == "acme"
    assert route("myapp.test:8000", "/", DEV).is_apex
    assert code_of(route, "acme.myapp.test:9000", "/", DEV) == "unknown_host"
    assert code_of(route, "acme.myapp.test", "/", DEV) == "unknown_host"
    assert code_of(route, "myapp.test", "/", DEV) == "unknown_host"


def test_path_routing() -> None:
    assert route("myapp.com", "/o/acme", PATHS) == Route("acme", True, "/o/acme", "myapp.com")
    assert route("myapp.com", "/o/acme/settings/x", PATHS) == Route("acme", True, "/o/acme", "myapp.com")
    assert route("myapp.com", "/", PATHS) == Route(None, True, "", "myapp.com")
    assert route("myapp.com", "/o/", PATHS).organization_name is None
    assert route("myapp.com", "/o", PATHS).organization_name is None
    assert route("myapp.com", "/other/acme", PATHS).organization_name is None
    assert route("myapp.com", "/oo/acme", PATHS).organization_name is None
    assert code_of(route, "myapp.com", "/o/Acme/x", PATHS) == "invalid_organization_name"
    assert code_of(route, "myapp.com", "/o/www", PATHS) == "reserved_organization_name"
    assert code_of(route, "acme.myapp.com", "/o/acme", PATHS) == "unknown_host"


def test_path_template_with_a_suffix() -> None:
    rules = TenancyRules(path_template="/teams/{organization}/app", apex_host="myapp.com")
    assert route("myapp.com", "/teams/acme/app/x", rules) == Route("acme", True, "/teams/acme/app", "myapp.com")
    assert route("myapp.com", "/teams/acme/app", rules).path_prefix == "/teams/acme/app"
    assert route("myapp.com", "/teams/acme/apple", rules).organization_name is None
    assert route("myapp.com", "/teams/acme", rules).organization_name is None


def test_host_and_path_templates_with_extra_allowed_hosts() -> None:
    assert route("acme.myapp.com", "/o/globex", BOTH).organization_name == "acme"  # the host decides there
    assert route("myapp.com", "/o/globex", BOTH).organization_name == "globex"
    assert route("admin.myapp.com", "/", BOTH) == Route(None, False, "", "admin.myapp.com")  # exact entry wins
    assert route("pr-12.preview.example", "/", BOTH) == Route(None, False, "", "pr-12.preview.example")
    assert code_of(route, "preview.example", "/", BOTH) == "unknown_host"  # "*." means subdomains only
    assert host_allowed("x.y.preview.example", BOTH)


def test_tenancy_off_serves_any_valid_host() -> None:
    assert not OFF.enabled and not OFF.restricts_hosts
    assert route("anything.example:1234", "/o/acme", OFF) == Route(None, True, "", "anything.example:1234")
    assert host_allowed("localhost", OFF)
    assert not host_allowed("evil.com@x", OFF)


def test_allowed_hosts_without_templates_restrict() -> None:
    rules = TenancyRules(allowed_hosts="myapp.com, *.myapp.com")
    assert rules.allowed_hosts == ("myapp.com", "*.myapp.com")
    assert host_allowed("myapp.com", rules) and host_allowed("x.myapp.com", rules)
    assert not host_allowed("evil.com", rules)
    assert route("x.myapp.com", "/", rules).organization_name is None


_label = st.from_regex(r"\A[a-z0-9_-]{1,20}\Z")


@given(name=_label)
def test_every_valid_name_round_trips_through_its_canonical_url(name: str) -> None:
    if name == "www":
        return
    url = canonical_login_url(name, HOSTS, "https", {"organization_name": name})
    parts = urlsplit(url)
    assert route(parts.netloc, parts.path, HOSTS).organization_name == name
    url = canonical_login_url(name, PATHS, "https")
    parts = urlsplit(url)
    assert route(parts.netloc, parts.path, PATHS).organization_name == name


@settings(max_examples=500)
@given(host=st.text(max_size=60), path=st.text(max_size=30))
def test_route_never_crashes(host: str, path: str) -> None:
    for rules in (HOSTS, PATHS, BOTH, DEV, OFF):
        try:
            result = route(host, "/" + path, rules)
        except TenancyError as error:
            assert error.code
            assert not host_allowed(host, rules) or rules.path_template is not None
        else:
            assert result.organization_name is None or rules.is_valid_name(result.organization_name)
            assert host_allowed(host, rules)


@given(prefix=_label, suffix=st.sampled_from(["evil.com", "myapp.com.evil.com", "myapp.co", "com"]))
def test_no_foreign_host_is_ever_allowed(prefix: str, suffix: str) -> None:
    assert not host_allowed(f"{prefix}.{suffix}", HOSTS)


# --- placement and canonical URLs --------------------------------------------------------------------------------


def test_placement() -> None:
    apex = route("myapp.com", "/", HOSTS)
    acme = route("acme.myapp.com", "/", HOSTS)
    assert placement(apex, "acme", HOSTS) == "redirect"
    assert placement(acme, "acme", HOSTS) == "here"
    assert placement(acme, "globex", HOSTS) == "conflict"
    assert placement(acme, None, HOSTS) == "here"
    assert placement(apex, None, HOSTS) == "here"
    assert placement(route("x", "/", OFF), "acme", OFF) == "here"
    assert placement(route("myapp.com", "/o/acme", PATHS), "globex", PATHS) == "conflict"


def test_canonical_login_url_host_template() -> None:
    query = {"invitation": "tkt", "organization": "org_AbCdEfGhIjKlMnOp", "organization_name": "acme", "x": None}
    url = canonical_login_url("acme", HOSTS, "https", query)
    assert url == ("https://acme.myapp.com/login?invitation=tkt&organization=org_AbCdEfGhIjKlMnOp"
                   "&organization_name=acme")
    assert canonical_login_url("acme", DEV, "http") == "http://acme.myapp.test:8000/login"
    assert canonical_login_url("acme", HOSTS, login_path="/auth/login") == "https://acme.myapp.com/auth/login"


def test_canonical_login_url_path_template_and_encoding() -> None:
    url = canonical_login_url("acme", PATHS, "https", [("returnTo", "/a b?c=d&e")])
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "myapp.com", "/o/acme/login")
    assert parse_qsl(parts.query) == [("returnTo", "/a b?c=d&e")]


@pytest.mark.parametrize("name", ["Acme", "acme.evil.com", "evil.com/x", "a@b", "", "www", "xn--acme", "a" * 51, "é"])
def test_canonical_login_url_refuses_bad_names(name: str) -> None:
    with pytest.raises(TenancyError):
        canonical_login_url(name, HOSTS)


@pytest.mark.parametrize(("kwargs"), [{"scheme": "javascript"}, {"login_path": "//evil.com"}, {"login_path": "x"},
                                      {"login_path": "/\\evil"}])
def test_canonical_login_url_refuses_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        canonical_login_url("acme", HOSTS, **kwargs)


def test_canonical_login_url_needs_a_template() -> None:
    with pytest.raises(ConfigurationError):
        canonical_login_url("acme", OFF)


# --- configuration -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"host_template": "myapp.com"}, "host_template"),
        ({"host_template": "{organization}.{organization}.myapp.com"}, "host_template"),
        ({"host_template": "app-{organization}.myapp.com"}, "host_template"),
        ({"host_template": "{organization}.my app.com"}, "host_template"),
        ({"host_template": "https://{organization}.myapp.com"}, "host_template"),
        ({"host_template": "{organization}.myapp.com:99999"}, "host_template"),
        ({"path_template": "/o/acme", "apex_host": "myapp.com"}, "path_template"),
        ({"path_template": "o/{organization}", "apex_host": "myapp.com"}, "path_template"),
        ({"path_template": "/o/{organization}/", "apex_host": "myapp.com"}, "path_template"),
        ({"path_template": "/o/x{organization}", "apex_host": "myapp.com"}, "path_template"),
        ({"path_template": "//{organization}", "apex_host": "myapp.com"}, "path_template"),
        ({"path_template": "/../{organization}", "apex_host": "myapp.com"}, "path_template"),
        ({"path_template": "/o/{organization}"}, "apex_host"),
        ({"apex_host": "evil.com@myapp.com"}, "apex_host"),
        ({"allowed_hosts": ("*",)}, "allowed_hosts"),
        ({"allowed_hosts": ("my app.com",)}, "allowed_hosts"),
        ({"trusted_proxies": ("10.0.0.0/33",)}, "trusted_proxies"),
        ({"trusted_proxies": ("proxy.internal",)}, "trusted_proxies"),
        ({"organization_name_pattern": "("}, "organization_name_pattern"),
    ],
)
def test_bad_configuration_names_the_setting(kwargs: dict, setting: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        TenancyRules(**kwargs)
    assert info.value.setting == setting


def test_from_env() -> None:
    rules = TenancyRules.from_env(
        {
            "ORGINVITE_HOST_TEMPLATE": "{organization}.myapp.com",
            "ORGINVITE_PATH_TEMPLATE": "/o/{organization}",
            "ORGINVITE_ALLOWED_HOSTS": " admin.myapp.com , *.preview.example ,",
            "ORGINVITE_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
            "UNRELATED": "x",
        }
    )
    assert rules.host_template == "{organization}.myapp.com"
    assert rules.path_template == "/o/{organization}"
    assert rules.apex_host == "myapp.com"
    assert rules.allowed_hosts == ("admin.myapp.com", "*.preview.example")
    assert rules.trusts("127.0.0.1") and rules.trusts("10.9.9.9") and not rules.trusts("11.0.0.1")
    assert TenancyRules.from_env({}) == TenancyRules()
    assert not TenancyRules.from_env({"ORGINVITE_HOST_TEMPLATE": ""}).enabled
    explicit = TenancyRules.from_env({"ORGINVITE_PATH_TEMPLATE": "/o/{organization}", "ORGINVITE_APEX_HOST": "A.com"})
    assert explicit.apex_host == "a.com"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"ORGINVITE_HOST_TEMPLATE": "myapp.com"}, "ORGINVITE_HOST_TEMPLATE"),
        ({"ORGINVITE_PATH_TEMPLATE": "o/{organization}", "ORGINVITE_APEX_HOST": "a.com"}, "ORGINVITE_PATH_TEMPLATE"),
        ({"ORGINVITE_PATH_TEMPLATE": "/o/{organization}"}, "ORGINVITE_APEX_HOST"),
        ({"ORGINVITE_ALLOWED_HOSTS": "ok.com,bad host"}, "ORGINVITE_ALLOWED_HOSTS"),
        ({"ORGINVITE_TRUSTED_PROXIES": "10.0.0.1,nope"}, "ORGINVITE_TRUSTED_PROXIES"),
    ],
)
def test_from_env_errors_name_the_variable(environ: dict, variable: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        TenancyRules.from_env(environ)
    assert info.value.setting == variable
    assert variable in str(info.value)


_header_name = st.sampled_from([b"host", b"Host", b"x-forwarded-host", b"forwarded", b"x-forwarded-proto", b"x-other"])


@settings(max_examples=500)
@given(
    headers=st.lists(st.tuples(_header_name, st.binary(max_size=40)), max_size=5),
    peer=st.sampled_from(["10.0.0.1", "203.0.113.9", None]),
    scheme=st.sampled_from(["http", "https"]),
)
def test_effective_host_and_scheme_never_crash(
    headers: list[tuple[bytes, bytes]], peer: str | None, scheme: str
) -> None:
    for call, args in ((effective_host, (headers, peer, HOSTS)), (effective_scheme, (headers, scheme, peer, HOSTS))):
        try:
            result = call(*args)
        except TenancyError as error:
            assert error.code
        else:
            assert result.isascii() and result == result.lower()
