"""Crowdnest's built-in plugins, each declared as an entry point in setup.py."""
