"""get_plugin_manager(settings): load the plugins the .ini enables from their entry points."""

import importlib
import logging
import re
from importlib import metadata
from importlib.metadata import entry_points

import pluggy

from core import hookspecs
from core.settings import COERCIONS, DEFAULTS, resolve

log = logging.getLogger(__name__)


class PluginError(RuntimeError):
    """A plugin named in the settings cannot be loaded."""


class MissingExtra(PluginError):
    """Something switched on needs a package this installation lacks (core.main exits on it with
    its one-line message)."""


# Switches of the core whose code imports a package of an extra (a plugin's needs show when its
# entry point loads): the setting, on when true, and the module it imports.
SWITCH_MODULES = {"ldap.enabled": "ldap3"}
# `ldap3>=2.9; extra == "ldap"`, as a Requires-Dist line of the installed metadata says it.
EXTRA_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9._-]+).*;.*\bextra\s*==\s*[\"']([^\"']+)[\"']")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def extras_require() -> dict[str, list[str]]:
    """{extra: [distribution names]}: setup.py's extras_require, from the installed metadata."""
    try:
        requirements = metadata.requires("crowdnest") or []
    except metadata.PackageNotFoundError:
        return {}
    extras: dict[str, list[str]] = {}
    for text in requirements:
        match = EXTRA_REQUIREMENT.match(text)
        if match:
            extras.setdefault(match.group(2), []).append(match.group(1))
    return extras


def extra_providing(module: str) -> str | None:
    """The extra whose distribution is named like `module` (ldap3 for ldap3), if any."""
    for extra, names in extras_require().items():
        if extra != "test" and _canonical(module) in {_canonical(name) for name in names}:
            return extra
    return None


def missing_extra(switch: str, error: ModuleNotFoundError) -> MissingExtra:
    """The one-line refusal for `switch` (a setting), naming what to install."""
    module = (error.name or "").partition(".")[0]
    extra = extra_providing(module)
    remedy = f"pip install 'crowdnest[{extra}]'" if extra else f"pip install {module}"
    return MissingExtra(f"{switch} needs the Python package {module!r}, not installed: {remedy}")


def load_plugin(kind: str, name: str, entry_point):
    """The plugin module behind an entry point; MissingExtra when it imports a missing package."""
    try:
        return entry_point.load()
    except ModuleNotFoundError as error:
        raise missing_extra(f"plugins.{kind} = {name}", error) from error


def require_extras(settings) -> None:
    """Raise MissingExtra when something switched on lacks its package, before anything starts
    (no migration run, no log line: the refusal is the one line a user sees)."""
    for switch, module in SWITCH_MODULES.items():
        if settings[switch]:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as error:
                raise missing_extra(f"{switch} = true", error) from error
    available = installed_plugins()
    for kind in hookspecs.GROUPS:
        for name in settings.get(f"plugins.{kind}", []):
            if name in available[kind]:
                load_plugin(kind, name, available[kind][name])


def installed_plugins() -> dict[str, dict[str, object]]:
    """{kind: {name: entry point}} of every installed plugin, enabled or not."""
    found: dict[str, dict[str, object]] = {}
    for kind, group in hookspecs.GROUPS.items():
        found[kind] = {}
        for entry_point in entry_points(group=group):
            if entry_point.name in found[kind]:
                raise PluginError(f"two {kind} plugins are named {entry_point.name!r}")
            found[kind][entry_point.name] = entry_point
    return found


def get_plugin_manager(settings) -> pluggy.PluginManager:
    """A new manager with exactly the plugins listed in plugins.<kind>; unknown names fail."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    available = installed_plugins()
    for kind in hookspecs.GROUPS:
        for name in settings.get(f"plugins.{kind}", []):
            entry_point = available[kind].get(name)
            if entry_point is None:
                known = ", ".join(sorted(available[kind])) or "none"
                raise PluginError(
                    f"plugins.{kind} names {name!r}, which is not installed (installed: {known})"
                )
            manager.register(load_plugin(kind, name, entry_point), name=f"{kind}.{name}")
    manager.check_pending()
    settings.update(resolve(declared_settings(manager), settings, here=settings.get("here", ".")))
    return manager


def declared_settings(manager) -> dict:
    """{key: (default, coercion)} of the settings the enabled plugins declare."""
    declared: dict = {}
    for impl in manager.hook.crowdnest_settings.get_hookimpls():
        for key, (default, kind) in impl.function().items():
            if key in DEFAULTS or key in declared:
                raise PluginError(
                    f"plugin {impl.plugin_name} declares the setting {key!r}, "
                    "which core or another plugin already declares"
                )
            if kind not in COERCIONS:
                raise PluginError(
                    f"plugin {impl.plugin_name} declares {key!r} of type {kind!r}: "
                    "use str, int, float, bool or list"
                )
            declared[key] = (default, COERCIONS[kind])
    return declared


def schedulers_of(manager) -> dict[str, hookspecs.Scheduler]:
    """{name: Scheduler} of the enabled scheduler plugins."""
    schedulers = {}
    for provided in manager.hook.crowdnest_schedulers():
        for name, scheduler in (provided or {}).items():
            # As core runs them (pending hand-outs): core.services.scheduling.applied.
            schedulers[name] = hookspecs.as_scheduler(scheduler)
    return schedulers


def includeme(config):
    manager = get_plugin_manager(config.get_settings())
    config.registry["plugins"] = manager
    schedulers = schedulers_of(manager)
    default = config.get_settings()["scheduler.default"]
    for needed in {"default", default}:
        if needed not in schedulers:
            raise PluginError(
                f"no enabled scheduler is named {needed!r}: add its plugin to plugins.schedulers"
            )
    config.registry["schedulers"] = schedulers
    manager.hook.crowdnest_includeme(config=config)
    log.info("plugins enabled: %s", ", ".join(name for name, _ in manager.list_name_plugin()))
