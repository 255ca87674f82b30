"""crowdnest_settings: plugins declare their own settings; core resolves and coerces them."""

import re
from pathlib import Path

import pluggy
import pytest

from core import hookspecs
from core.hookspecs import hookimpl
from core.plugins import PluginError, declared_settings, get_plugin_manager, installed_plugins
from core.settings import DEFAULTS, load_settings

PLUGINS_DOC = Path(__file__).resolve().parents[3] / "docs" / "plugins.md"


def loaded(ini: dict) -> dict:
    settings = load_settings(ini, environ={})
    get_plugin_manager(settings)
    return settings


def test_hook_crowdnest_settings_gives_an_enabled_plugin_its_defaults_coerced():
    settings = loaded({"plugins.webhooks": "http"})

    assert settings["webhooks.attempts"] == 5
    assert settings["webhooks.allow_private"] is False
    assert settings["webhooks.queue"] == "high"


def test_the_ini_value_is_coerced_to_the_declared_type():
    settings = loaded({"plugins.webhooks": "http", "webhooks.attempts": "7"})

    assert settings["webhooks.attempts"] == 7


def test_the_environment_overrides_a_plugin_setting_absent_from_the_ini(monkeypatch):
    monkeypatch.setenv("CROWDNEST_WEBHOOKS_TIMEOUT", "3")

    settings = loaded({"plugins.webhooks": "http"})

    assert settings["webhooks.timeout"] == 3


def test_a_disabled_plugin_declares_nothing():
    settings = loaded({"plugins.webhooks": ""})

    assert "webhooks.attempts" not in settings


def test_core_declares_no_setting_of_a_shipped_plugin():
    every = {}
    for kind, plugins in installed_plugins().items():
        settings = load_settings({f"plugins.{kind}": " ".join(plugins)}, environ={})
        every.update(declared_settings(get_plugin_manager(settings)))

    assert every, "the shipped plugins declare settings"
    assert not set(every) & set(DEFAULTS)


def _manager(*plugins):
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for name, plugin in plugins:
        manager.register(plugin, name=name)
    return manager


class Declares:
    def __init__(self, declared):
        self.declared = declared

    @hookimpl
    def crowdnest_settings(self):
        return self.declared


def test_a_plugin_may_not_redeclare_a_core_setting():
    manager = _manager(("schedulers.greedy", Declares({"ratelimit.limit": (1, int)})))

    with pytest.raises(
        PluginError, match=re.escape("schedulers.greedy declares the setting 'ratelimit.limit'")
    ):
        declared_settings(manager)


def test_two_plugins_may_not_declare_one_key():
    manager = _manager(
        ("schedulers.one", Declares({"scheduler.shared.size": (1, int)})),
        ("schedulers.two", Declares({"scheduler.shared.size": (2, int)})),
    )

    with pytest.raises(PluginError, match=re.escape("'scheduler.shared.size'")):
        declared_settings(manager)


def test_an_unknown_type_is_refused():
    manager = _manager(("schedulers.odd", Declares({"scheduler.odd.ratio": (1, complex)})))

    with pytest.raises(PluginError, match="use str, int, float, bool or list"):
        declared_settings(manager)


def test_every_shipped_plugin_setting_is_documented_and_nothing_else():
    section = PLUGINS_DOC.read_text().split("### Settings of the shipped plugins")[1]
    section = section.split("\n## ")[0]
    documented = set(re.findall(r"^\| `[\w.]+` \| `([\w.]+)` \|", section, re.MULTILINE))
    declared = {}
    for kind, plugins in installed_plugins().items():
        names = " ".join(name for name in plugins if name != "reverse")
        settings = load_settings({f"plugins.{kind}": names}, environ={})
        declared.update(declared_settings(get_plugin_manager(settings)))

    assert documented == set(declared)
