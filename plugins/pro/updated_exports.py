"""The `updated_exports` pro feature: a project's export zips kept fresh, built for every
download (or stored for `export.pro_max_age` seconds) instead of served from a zip up to
`export.max_age` seconds old (behavior.md 10 and 12).

About the project: on for everyone unless `pro_features` reserves it, then for the projects of
pro primary owners (and for admins). Switched off (not in plugins.pro), every project's exports
follow `export.max_age`. The rule is core.services.pro.enabled, which the export page and the
stale-export refresher (core.services.export_store) ask: being listed is the switch, and the
plugin declares the one setting of its own, export.pro_max_age.
"""

from core.hookspecs import hookimpl


@hookimpl
def crowdnest_settings():
    # Seconds a stored zip of a project with updated exports is served again; 0: built for
    # every download (3600 gives PYBOSSA's hourly refresh).
    return {"export.pro_max_age": (0, int)}
