"""core.plugins: only the plugins the settings list are loaded; unknown names fail at start-up."""

from importlib.metadata import entry_points

import pytest
from pyramid import testing

from core import plugins
from core.plugins import PluginError, get_plugin_manager, installed_plugins
from core.settings import load_settings


def _settings(**overrides):
    return load_settings({k.replace("__", "."): v for k, v in overrides.items()}, environ={})


def test_installed_plugins_lists_every_kind_and_the_builtin_scheduler():
    found = installed_plugins()

    assert set(found) == {"importers", "auth_providers", "schedulers", "webhooks", "pro"}
    assert found["schedulers"]["default"].value == "plugins.schedulers.depth_first"
    assert found["pro"]["auditlog"].value == "plugins.pro.auditlog"


def test_listed_plugin_is_registered_under_kind_and_name():
    manager = get_plugin_manager(_settings())

    assert manager.has_plugin("schedulers.default")


def test_installed_but_not_listed_is_not_registered():
    manager = get_plugin_manager(_settings(plugins__schedulers="", plugins__pro=""))

    assert manager.list_name_plugin() == []


def test_every_pro_feature_is_on_unless_the_ini_says_otherwise():
    manager = get_plugin_manager(_settings())

    assert sorted(name for name, _ in manager.list_name_plugin() if name.startswith("pro.")) == [
        "pro.auditlog",
        "pro.autoimporter",
        "pro.better_stats",
        "pro.updated_exports",
        "pro.webhooks",
    ]


def test_unknown_name_fails_with_the_name_and_what_is_installed():
    with pytest.raises(PluginError) as raised:
        get_plugin_manager(_settings(plugins__importers="no-such-importer"))

    message = str(raised.value)
    assert "plugins.importers" in message
    assert "'no-such-importer'" in message
    installed = sorted(entry.name for entry in entry_points(group="crowdnest.importers"))
    assert f"installed: {', '.join(installed) or 'none'}" in message


def test_unknown_scheduler_names_the_installed_ones():
    with pytest.raises(PluginError, match=r"installed: .*default"):
        get_plugin_manager(_settings(plugins__schedulers="default nope"))


def test_includeme_exposes_the_manager_and_the_schedulers():
    config = testing.setUp(settings=_settings())
    try:
        plugins.includeme(config)

        assert config.registry["plugins"].has_plugin("schedulers.default")
        assert {"default", "depth_first", "depth_first_all"} <= set(config.registry["schedulers"])
    finally:
        testing.tearDown()
