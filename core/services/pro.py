"""Pro features (behavior.md 12): which are switched on, and what the .ini's `pro_features`
reserves to pro users and admins.

Domain code: knows nothing of HTTP. The one rule every page, job and command asks. Each feature
is a plugin of the entry-point group crowdnest.pro (plugins/pro/), switched on by name in
`plugins.pro`; the plugin manager refuses a name that is not installed, so the setting is the
list of loaded features.
"""

from core.services.permissions import is_admin

# The features Crowdnest ships (plugins/pro/), the ones the .ini may switch on and reserve.
FEATURES = ("auditlog", "webhooks", "autoimporter", "better_stats", "updated_exports")
# The ones every project page reports in its `pro_features` key (behavior.md 9.4).
PAGE_FEATURES = ("auditlog", "autoimporter", "webhooks")
# About the project (its statistics, how often its exports are refreshed), not about the caller:
# a pro primary owner unlocks them for everyone looking at the project.
OWNER_FEATURES = frozenset({"better_stats", "updated_exports"})


def switched_on(settings, name: str) -> bool:
    """Whether the feature's plugin is listed in `plugins.pro` (off: for nobody, admins too)."""
    if name not in FEATURES:
        raise ValueError(f"unknown pro feature: {name!r}")
    return name in settings["plugins.pro"]


def enabled(settings, name: str, caller=None, owner_pro: bool | None = False) -> bool:
    """Whether `name` is on: never when switched off; else always unless `pro_features`
    reserves it; then for admin callers, and for pro callers, or for OWNER_FEATURES when the
    project's primary owner is pro."""
    if not switched_on(settings, name):
        return False
    if name not in settings["pro_features"] or is_admin(caller):
        return True
    if name in OWNER_FEATURES:
        return bool(owner_pro)
    return caller is not None and bool(caller.pro)
