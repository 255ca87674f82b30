"""Pro features (behavior.md 12): what the .ini's `pro_features` reserves to pro users and admins.

Domain code: knows nothing of HTTP. The one rule every page, job and command asks.
"""

from core.services.permissions import is_admin

# The features the .ini may reserve.
FEATURES = ("auditlog", "webhooks", "autoimporter", "better_stats", "updated_exports")
# The ones every project page reports in its `pro_features` key (behavior.md 9.4).
PAGE_FEATURES = ("auditlog", "autoimporter", "webhooks")
# About the project (its statistics, how often its exports are refreshed), not about the caller:
# a pro primary owner unlocks them for everyone looking at the project.
OWNER_FEATURES = frozenset({"better_stats", "updated_exports"})


def enabled(settings, name: str, caller=None, owner_pro: bool | None = False) -> bool:
    """Whether `name` is on: always unless `pro_features` reserves it; then for admin callers,
    and for pro callers, or for OWNER_FEATURES when the project's primary owner is pro."""
    if name not in FEATURES:
        raise ValueError(f"unknown pro feature: {name!r}")
    if name not in settings["pro_features"] or is_admin(caller):
        return True
    if name in OWNER_FEATURES:
        return bool(owner_pro)
    return caller is not None and bool(caller.pro)
