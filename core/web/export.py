"""Web pages: export (being written)."""

from core.web import add_routes

ROUTES: dict[str, str] = {}


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
