"""Built-in sign-in providers: Google, Facebook and GitHub (OAuth 2), Twitter (OAuth 1.0a).

Each module is one plugin (entry points in setup.py, group crowdnest.auth_providers); the
shared protocol code is in `oauth.py`.
"""
