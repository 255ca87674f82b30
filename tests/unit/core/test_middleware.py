"""core.middleware: WSGI middlewares registered by their includes, applied by order."""

from core.health import Health
from core.inbound import Inbound
from core.metrics import Exposition
from core.middleware import AppConfigurator
from core.requestlog import RequestLog


def _tagging(tag: str, seen: list):
    def wrap(app, router):
        def middleware(environ, start_response):
            seen.append(tag)
            return app(environ, start_response)

        middleware.router = router
        return middleware

    return wrap


def test_middlewares_stand_in_order_whatever_order_they_were_registered_in():
    seen = []
    config = AppConfigurator(settings={})
    config.include("core.middleware")
    config.add_wsgi_middleware(_tagging("outer", seen), order=30)
    config.add_wsgi_middleware(_tagging("inner", seen), order=10)

    app = config.make_wsgi_app()
    app(
        {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/",
            "SERVER_NAME": "x",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
        },
        lambda status, headers: None,
    )

    assert seen == ["outer", "inner"]
    assert app.router.registry is config.registry


def test_the_application_ends_behind_the_probes_the_metrics_the_log_and_the_inbound_refusals(
    make_app,
):
    """From the outside in: the health probes (answered first, never logged nor limited), the
    metrics (when on), the request log (which also logs what the inbound checks refuse), then
    the inbound refusals."""
    chain = []
    app = make_app(metrics__enabled="true").app
    while not isinstance(app, Inbound):
        chain.append(type(app))
        app = app.app

    assert chain == [Health, Exposition, RequestLog]
