"""core.hookspecs: each hook's contract, exercised through a real plugin manager.

The hooks the application already calls are also tested end to end: crowdnest_includeme and
crowdnest_schedulers in tests/plugins/test_third_party.py.
"""

import pytest
from pluggy import PluginValidationError

from core.hookspecs import hookimpl
from core.plugins import get_plugin_manager
from core.settings import load_settings


def _manager(*extra_plugins):
    # The pro features' plugins left out: their crowdnest_includeme needs a real configurator.
    manager = get_plugin_manager(load_settings({"plugins.pro": ""}, environ={}))
    for plugin in extra_plugins:
        manager.register(plugin)
    manager.check_pending()
    return manager


def test_hook_crowdnest_includeme_receives_the_configurator():
    seen = []

    class Plugin:
        @hookimpl
        def crowdnest_includeme(self, config):
            seen.append(config)

    _manager(Plugin()).hook.crowdnest_includeme(config="the configurator")

    assert seen == ["the configurator"]


def test_hook_crowdnest_schedulers_returns_one_dict_per_plugin():
    def newest_first(db, project, participant, options):
        return []

    class Plugin:
        @hookimpl
        def crowdnest_schedulers(self):
            return {"newest_first": newest_first}

    provided = _manager(Plugin()).hook.crowdnest_schedulers()

    assert {"newest_first": newest_first} in provided
    assert any("default" in schedulers for schedulers in provided)


def test_hook_crowdnest_task_completed_gets_project_task_result_payload():
    calls = []

    class Plugin:
        @hookimpl
        def crowdnest_task_completed(self, project, task, result, payload):
            calls.append((project, task, result, payload["event"]))

    payload = {"event": "task_completed", "project_id": 1, "task_id": 2, "result_id": 3}
    _manager(Plugin()).hook.crowdnest_task_completed(
        project="p", task="t", result="r", payload=payload, settings={}
    )

    assert calls == [("p", "t", "r", "task_completed")]


def test_hook_crowdnest_importers_returns_named_importers():
    class Plugin:
        @hookimpl
        def crowdnest_importers(self):
            return {"csv": object}

    assert _manager(Plugin()).hook.crowdnest_importers() == [{"csv": object}]


def test_hook_crowdnest_auth_providers_returns_named_providers():
    class Plugin:
        @hookimpl
        def crowdnest_auth_providers(self):
            return {"github": object}

    assert _manager(Plugin()).hook.crowdnest_auth_providers() == [{"github": object}]


def test_an_implementation_asking_for_an_unknown_argument_is_refused():
    class Plugin:
        @hookimpl
        def crowdnest_task_completed(self, project, task, result, payload, extra):
            pass

    with pytest.raises(PluginValidationError):
        _manager(Plugin())


def test_a_misspelt_hook_fails_check_pending():
    class Plugin:
        @hookimpl
        def crowdnest_task_complete(self, project):
            pass

    with pytest.raises(PluginValidationError):
        _manager(Plugin())


def test_schedulers_are_declared_types_a_plain_function_included(make_app):
    from core.hookspecs import LeanForm, Scheduler

    schedulers = make_app(plugins__schedulers="default locked reverse").app.registry["schedulers"]

    assert all(isinstance(scheduler, Scheduler) for scheduler in schedulers.values())
    assert schedulers["reverse"].lean is None  # the third-party plugin returns a plain function
    assert isinstance(schedulers["default"].lean, LeanForm) and schedulers["default"].lean.carries
    # Both count the request themselves: `locked` as it reserves, `default` as core holds its
    # hand-outs (pending, decision 25), which a plain function does not ask for.
    assert schedulers["locked"].lean.counts and schedulers["default"].lean.counts
    assert schedulers["default"].pending and not schedulers["locked"].pending
    assert not schedulers["reverse"].pending


def test_both_lean_stores_are_the_declared_lean_store():
    """A lean form may rely on LeanStore's members alone: both stores core.delivery hands it
    (the request's connection, and the store that carries the project and caller) have them,
    with the declared parameters."""
    import inspect

    from core.delivery import CarryCaller, _Connection
    from core.hookspecs import LeanStore

    declared = {
        name: list(inspect.signature(getattr(LeanStore, name)).parameters)
        for name in ("rows", "batch", "admit", "project")
    }
    for store in (_Connection, CarryCaller):
        for name, parameters in declared.items():
            given = list(inspect.signature(getattr(store, name)).parameters)
            if given[:1] != ["self"]:  # a static method: no self
                given = ["self", *given]
            assert given[: len(parameters)] == parameters, (store.__name__, name, given)
