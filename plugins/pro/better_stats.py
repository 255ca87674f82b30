"""The `better_stats` pro feature: the stats page's `better_stats_enabled` flag (behavior.md
9.4 and 12).

The flag is about the project: true for everyone looking at it unless `pro_features` reserves
the feature, then when its primary owner is pro or the caller is an admin. Switched off (not in
plugins.pro), it is false for everyone. The rule is core.services.pro.enabled, which the stats
page (core.web.project_data) asks: this plugin has no page of its own, being listed is the
switch.
"""
