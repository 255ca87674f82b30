"""Crowdnest: the Pyramid application."""

from core.middleware import AppConfigurator
from core.plugins import MissingExtra, require_extras
from core.settings import load_settings


def main(global_config, **settings):
    """Build the WSGI application; this function is a table of contents."""
    settings = load_settings(settings, here=global_config.get("here", "."))
    try:
        require_extras(settings)
        return _build(settings)
    except MissingExtra as refusal:
        # One line naming what to install, not a traceback (pserve, gunicorn's preloading master).
        raise SystemExit(f"crowdnest cannot start: {refusal}") from None


def _build(settings):
    with AppConfigurator(settings=settings) as config:
        # WSGI middlewares in front of Pyramid, registered by the includes that own them.
        config.include("core.middleware")
        # Production refuses default or short secrets (decision 18).
        config.include("core.settings")
        # Database: engine, request.dbsession joined to pyramid_tm, schema migration.
        config.include("core.db")
        config.include("core.migrate")
        # Shared state: Redis client (or none), dogpile.cache regions.
        config.include("core.redis")
        config.include("core.cache")
        # /healthz and /readyz, outermost (never rate limited, never cached).
        config.include("core.health")
        # Prometheus metrics at /metrics when metrics.enabled, counted by the request log.
        config.include("core.metrics")
        # One line per request, with an id carried by its log records and its jobs.
        config.include("core.requestlog")
        # Who is calling: sessions, CSRF storage, api_key/session identity, client IP.
        config.include("core.security")
        # Plugins: importers, auth providers, schedulers, webhooks from entry points.
        config.include("core.plugins")
        config.include("core.services.scheduling")
        # Side effects after commit, rate limits, content negotiation.
        config.include("core.events")
        config.include("core.ratelimit")
        config.include("core.negotiation")
        # Server-sent event streams' broker (sse.enabled): Redis pub/sub or in-process.
        config.include("core.streams")
        # Requests refused before any view reads them (bad URLs, bodies; see core.inbound).
        config.include("core.inbound")
        # Error shapes for the API and the web pages.
        config.scan("core.errors")
        # The REST API (Cornice services) and the web flow clients rely on.
        config.include("cornice")
        config.include("core.api")
        config.include("pyramid_jinja2")
        config.include("core.web")
        # In front of Pyramid, only with Redis: anonymous /api reads from the API cache
        # (api.cache) and the lean newtask and answer path (delivery.lean).
        config.include("core.apicache")
        config.include("core.delivery")
        # Process tuning (garbage collector), when runtime.gc_tuning is on.
        config.include("core.runtime")
    return config.make_wsgi_app()
