from __future__ import annotations

import pytest

from orginvite.config import Settings
from orginvite.errors import ConfigurationError

KEY = "k" * 32
ENV = {
    "ORGINVITE_ISSUER": "https://tenant.example.com",
    "ORGINVITE_CLIENT_ID": "cid",
    "ORGINVITE_CLIENT_SECRET": "csecret",
    "ORGINVITE_SECRET_KEYS": f"{'n' * 40}, {KEY}",
    "ORGINVITE_BASE_URL": "https://app.example.com/",
}


def make(**kw):
    base = dict(issuer="https://id.example.com", client_id="c", client_secret="s", secret_keys=(KEY,),
                base_url="https://app.example.com")
    base.update(kw)
    return Settings(**base)


def test_from_env_normalises_and_keeps_key_order():
    s = Settings.from_env(ENV)
    assert s.issuer == "https://tenant.example.com/"
    assert s.base_url == "https://app.example.com"
    assert s.secret_keys == ("n" * 40, KEY)
    assert s.redirect_uri == "https://app.example.com/callback"
    assert s.secure
    assert s.logout_style == "auto"


def test_auth0_names_and_bare_domain():
    env = {"AUTH0_DOMAIN": "acme.eu.auth0.com", "AUTH0_CLIENT_ID": "a", "AUTH0_CLIENT_SECRET": "b",
           "ORGINVITE_SECRET_KEYS": KEY, "ORGINVITE_BASE_URL": "http://127.0.0.1:8000"}
    s = Settings.from_env(env)
    assert s.issuer == "https://acme.eu.auth0.com/"
    assert (s.client_id, s.client_secret) == ("a", "b")
    assert s.logout_style == "auth0"
    assert not s.secure


@pytest.mark.parametrize(
    ("drop", "named"),
    [
        ("ORGINVITE_ISSUER", "ORGINVITE_ISSUER (or AUTH0_DOMAIN)"),
        ("ORGINVITE_CLIENT_ID", "ORGINVITE_CLIENT_ID (or AUTH0_CLIENT_ID)"),
        ("ORGINVITE_CLIENT_SECRET", "ORGINVITE_CLIENT_SECRET (or AUTH0_CLIENT_SECRET)"),
        ("ORGINVITE_SECRET_KEYS", "ORGINVITE_SECRET_KEYS"),
        ("ORGINVITE_BASE_URL", "ORGINVITE_BASE_URL"),
    ],
)
def test_missing_env_names_the_variable(drop, named):
    env = {k: v for k, v in ENV.items() if k != drop}
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(env)
    assert info.value.setting == named
    assert "missing" in info.value.problem


@pytest.mark.parametrize(
    ("kw", "setting"),
    [
        ({"issuer": "http://id.example.com"}, "issuer"),
        ({"issuer": "not a url"}, "issuer"),
        ({"issuer": "ftp://id.example.com"}, "issuer"),
        ({"base_url": "https://u:p@app.example.com"}, "base_url"),
        ({"base_url": "https://app.example.com/?x=1"}, "base_url"),
        ({"secret_keys": ("short",)}, "secret_keys"),
        ({"secret_keys": KEY}, "secret_keys"),
        ({"secret_keys": (KEY, KEY)}, "secret_keys"),
        ({"secret_keys": ()}, "secret_keys"),
        ({"login_path": "login"}, "login_path"),
        ({"callback_path": "/login"}, "login_path"),
        ({"scope": "profile"}, "scope"),
        ({"extra_authorize_params": {"redirect_uri": "https://evil"}}, "extra_authorize_params"),
        ({"extra_authorize_params": {"state": "x"}}, "extra_authorize_params"),
        ({"max_transactions": 0}, "max_transactions"),
        ({"transaction_ttl": 5}, "transaction_ttl"),
        ({"default_return_to": "//evil.example"}, "default_return_to"),
        ({"post_logout_return_to": "javascript:alert(1)"}, "post_logout_return_to"),
        ({"allowed_logout_urls": ("http://evil.example/",)}, "allowed_logout_urls"),
        ({"id_token_algorithms": ("none",)}, "id_token_algorithms"),
        ({"id_token_algorithms": ("HS256",)}, "id_token_algorithms"),
        ({"session_cookie": "bad name"}, "session_cookie"),
        ({"logout_style": "magic"}, "logout_style"),
        ({"client_secret": ""}, "client_secret"),
        ({"backchannel_logout_path": "/logout"}, "login_path"),
        ({"backchannel_logout_path": "back"}, "backchannel_logout_path"),
        ({"revocation_store": "redis://127.0.0.1:6379/0"}, "revocation_store"),
        ({"revocation_store": "sqlite:///r.db", "session_store": "sqlite:///s.db"}, "revocation_store"),
        ({"logout_on_get": "yes"}, "logout_on_get"),
    ],
)
def test_bad_settings_name_the_setting(kw, setting):
    with pytest.raises(ConfigurationError) as info:
        make(**kw)
    assert info.value.setting == setting


def test_http_issuer_allowed_on_loopback_only():
    assert make(issuer="http://127.0.0.1:9000").issuer == "http://127.0.0.1:9000/"
    assert make(issuer="http://[::1]:9000/").issuer == "http://[::1]:9000/"
    assert make(issuer="http://localhost:9000").issuer == "http://localhost:9000/"


def test_env_integer_errors_name_the_variable():
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({**ENV, "ORGINVITE_MAX_TRANSACTIONS": "five"})
    assert info.value.setting == "ORGINVITE_MAX_TRANSACTIONS"


def test_settings_are_frozen_and_extras_immutable():
    s = make(extra_authorize_params={"connection": "db"})
    with pytest.raises(AttributeError):
        s.issuer = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.extra_authorize_params["state"] = "x"  # type: ignore[index]


def test_backchannel_and_logout_settings_from_the_environment():
    s = Settings.from_env({**ENV, "ORGINVITE_BACKCHANNEL_LOGOUT_PATH": "/auth/bcl", "ORGINVITE_LOGOUT_ON_GET": "true",
                           "ORGINVITE_REVOCATION_STORE": "sqlite:////var/lib/app/revocations.db"})
    assert s.backchannel_logout_path == "/auth/bcl" and s.logout_on_get is True
    assert s.revocation_store == "sqlite:////var/lib/app/revocations.db"
    defaults = Settings.from_env(ENV)
    assert defaults.backchannel_logout_path == "/backchannel-logout" and defaults.logout_on_get is False
    assert defaults.revocation_store is None
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({**ENV, "ORGINVITE_LOGOUT_ON_GET": "maybe"})
    assert info.value.setting == "ORGINVITE_LOGOUT_ON_GET"
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({**ENV, "ORGINVITE_REVOCATION_STORE": "memory"})
    assert info.value.setting == "ORGINVITE_REVOCATION_STORE"


def test_default_logout_return_url():
    assert make().default_logout_return_url == "https://app.example.com/"
    assert make(post_logout_return_to="/bye").default_logout_return_url == "https://app.example.com/bye"
    assert make(post_logout_return_to="https://www.example.com/").default_logout_return_url == (
        "https://www.example.com/"
    )


def test_env_value_takes_the_first_name_set_to_something_and_strips_it():
    from orginvite.config import env_value

    env = {"ORGINVITE_CLIENT_ID": "   ", "AUTH0_CLIENT_ID": " from-auth0 ", "OTHER": "x"}
    assert env_value(env, "ORGINVITE_CLIENT_ID", "AUTH0_CLIENT_ID") == "from-auth0"  # blank counts as unset
    assert env_value({**env, "ORGINVITE_CLIENT_ID": "ours"}, "ORGINVITE_CLIENT_ID", "AUTH0_CLIENT_ID") == "ours"
    assert env_value(env, "MISSING") is None
