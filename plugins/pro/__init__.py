"""Built-in pro features plugins (entry-point group crowdnest.pro, switched on by plugins.pro).

Which of them `pro_features` reserves to pro users and admins is core.services.pro's one rule.
"""
