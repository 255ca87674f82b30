"""WSGI middlewares in front of Pyramid, each registered by the include that owns it.

`config.add_wsgi_middleware(wrap, order)` records `wrap(app, router) -> app`; the application's
Configurator applies them when it makes the WSGI application, the lowest order innermost, so
that `core.main` ends in `config.make_wsgi_app()`. `router` is Pyramid's own application, whose
registry the middlewares read.
"""

from pyramid.config import Configurator

MIDDLEWARES = "crowdnest.wsgi_middlewares"


def add_wsgi_middleware(config, wrap, order: int) -> None:
    """Put `wrap(app, router)` in front of the application; higher orders stand further out."""
    config.registry.setdefault(MIDDLEWARES, []).append((order, wrap))


class AppConfigurator(Configurator):
    """Pyramid's Configurator whose WSGI application carries the registered middlewares."""

    def make_wsgi_app(self):
        router = super().make_wsgi_app()
        app = router
        for _, wrap in sorted(self.registry.get(MIDDLEWARES, []), key=lambda item: item[0]):
            app = wrap(app, router)
        return app


def includeme(config):
    config.add_directive("add_wsgi_middleware", add_wsgi_middleware)
