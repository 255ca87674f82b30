"""Test helpers for the lean delivery path (core.delivery): which path answered a request."""

from core.delivery import LeanDelivery


class Spy:
    """Counts the requests the application behind the lean path answered."""

    def __init__(self, app):
        self.app = app
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.app(environ, start_response)


def lean_of(testapp) -> LeanDelivery:
    """The lean path's middleware inside a WebTest app."""
    found = testapp.app
    while not isinstance(found, LeanDelivery):
        found = found.app
    return found
