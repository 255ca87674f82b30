"""Built-in task importers: each module is a plugin of the `crowdnest.importers` group."""
