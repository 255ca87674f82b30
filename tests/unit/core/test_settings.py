"""core.settings: defaults, type coercion and CROWDNEST_* environment overrides."""

import os
from pathlib import Path

import pytest

from core.settings import DEFAULTS, env_key, load_settings


def test_every_default_is_present_and_coerced():
    settings = load_settings({}, environ={}, here="/srv/crowdnest")

    assert set(DEFAULTS) <= set(settings)
    assert settings["ratelimit.limit"] == 300
    assert settings["ratelimit.period"] == 900
    assert settings["sqlalchemy.echo"] is False
    assert settings["redis.url"] == ""
    assert settings["plugins.schedulers"] == ["default"]
    assert settings["plugins.importers"] == []


def test_here_is_substituted_in_defaults():
    settings = load_settings({}, environ={}, here="/srv/crowdnest")

    assert settings["sqlalchemy.url"] == "sqlite:////srv/crowdnest/var/crowdnest.sqlite"
    assert settings["upload.dir"] == "/srv/crowdnest/var/uploads"


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("ratelimit.limit", "25", 25),
        ("session.secure", "true", True),
        ("db.auto_migrate", "off", False),
        ("plugins.schedulers", "default\nreverse", ["default", "reverse"]),
        ("upload.allowed_extensions", "png jpg", ["png", "jpg"]),
        ("plugins.webhooks", "", []),
    ],
)
def test_ini_strings_are_coerced_once(key, raw, expected):
    assert load_settings({key: raw}, environ={})[key] == expected


def test_settings_unknown_to_defaults_pass_through_untouched():
    settings = load_settings({"scheduler.reverse.window": "10"}, environ={})

    assert settings["scheduler.reverse.window"] == "10"


def test_env_key_upper_cases_and_replaces_dots():
    assert env_key("ratelimit.limit") == "CROWDNEST_RATELIMIT_LIMIT"
    assert env_key("sqlalchemy.url") == "CROWDNEST_SQLALCHEMY_URL"


@pytest.mark.parametrize(
    ("key", "variable", "value", "expected"),
    [
        (
            "sqlalchemy.url",
            "CROWDNEST_SQLALCHEMY_URL",
            "postgresql+psycopg://u:p@db/crowdnest",
            "postgresql+psycopg://u:p@db/crowdnest",
        ),
        ("redis.url", "CROWDNEST_REDIS_URL", "redis://cache:6379/1", "redis://cache:6379/1"),
        ("ratelimit.limit", "CROWDNEST_RATELIMIT_LIMIT", "42", 42),
        ("ratelimit.period", "CROWDNEST_RATELIMIT_PERIOD", "60", 60),
    ],
)
def test_environment_overrides_the_ini(key, variable, value, expected):
    ini = {"sqlalchemy.url": "sqlite:///x.sqlite", "redis.url": "", "ratelimit.limit": "300"}

    settings = load_settings(ini, environ={variable: value})

    assert settings[key] == expected


def test_environment_overrides_a_default_missing_from_the_ini():
    settings = load_settings({}, environ={"CROWDNEST_RATELIMIT_PERIOD": "30"})

    assert settings["ratelimit.period"] == 30


def test_os_environ_is_read_when_no_environ_is_given(monkeypatch):
    monkeypatch.setenv("CROWDNEST_REDIS_URL", "redis://from-env:6379/0")

    assert load_settings({"redis.url": ""})["redis.url"] == "redis://from-env:6379/0"


def test_a_bad_integer_fails_loudly():
    with pytest.raises(ValueError):
        load_settings({}, environ={"CROWDNEST_RATELIMIT_LIMIT": "many"})


def test_every_setting_is_documented():
    root = Path(__file__).resolve().parents[3]
    with open(os.path.join(root, "docs", "settings.md"), encoding="utf-8") as reference:
        documented = reference.read()

    missing = [key for key in DEFAULTS if f"| `{key}` |" not in documented]

    assert missing == []
