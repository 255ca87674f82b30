"""Prometheus metrics at /metrics (`metrics.enabled`), counted in every gunicorn worker.

Off unless switched on; then only callers at `metrics.allow` addresses (the client's address as
core.security.address_of sees it) or sending `Authorization: Bearer <metrics.token>` may read
them; anyone else gets a 404. With several workers, the environment's
`PROMETHEUS_MULTIPROC_DIR` (or `metrics.multiprocess_dir`, set before the first metric is made)
names a folder each process writes its figures to, and a scrape adds them up (prometheus_client's
multiprocess mode; gunicorn.conf.py tells it when a worker exits).

Counted per request by core.requestlog's middleware (`observe`): requests by route, method and
status, their latency by route; newtask's and answers' latency by scheduler; answers accepted
and refused; the database pool's connections in use. Read at scrape time: answers stored and
tasks completed (the projects' own counts), RQ's queue lengths and failed jobs. Counted where
they happen: Redis fallbacks (core.redis).
"""

import hmac
import ipaddress
import logging
import os

from core.redis import FAILURE_LISTENERS
from core.security import address_of

log = logging.getLogger(__name__)

PATH = "/metrics"
# Seconds: a newtask answers in about a millisecond, a page in tens.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NEWTASK_ROUTES = ("newtask", "newtask_short")
ANSWER_ROUTE = "collection_taskrun"


class Figures:
    """This application's metrics (made once per application)."""

    def __init__(self, registry):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # Single process: the metrics live in this registry. Multiprocess: in the folder's
        # files, read by a registry made at each scrape; none is registered anywhere then.
        own = None if self.multiprocess else CollectorRegistry(auto_describe=True)
        self.registry = own
        self.requests = Counter(
            "crowdnest_requests",
            "Requests answered, by route, method and status.",
            ["route", "method", "status"],
            registry=own,
        )
        self.latency = Histogram(
            "crowdnest_request_seconds",
            "Time to answer a request, by route.",
            ["route"],
            buckets=BUCKETS,
            registry=own,
        )
        self.newtask = Histogram(
            "crowdnest_newtask_seconds",
            "Time to answer a newtask, by the project's scheduler.",
            ["scheduler"],
            buckets=BUCKETS,
            registry=own,
        )
        self.answer = Histogram(
            "crowdnest_answer_seconds",
            "Time to store an answer (POST /api/taskrun), by the project's scheduler.",
            ["scheduler"],
            buckets=BUCKETS,
            registry=own,
        )
        self.answers = Counter(
            "crowdnest_answers_posted",
            "Answers posted, accepted or refused.",
            ["outcome"],
            registry=own,
        )
        self.pool = Gauge(
            "crowdnest_db_pool_checked_out",
            "Database connections in use, after the latest request (summed over live workers).",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.redis_fallbacks = Counter(
            "crowdnest_redis_fallbacks",
            "Redis failures after which a process served without Redis for a while.",
            registry=own,
        )
        self.engine = registry["db_engine"]
        self.settings = registry.settings
        if own is not None:
            own.register(ReadAtScrape(self.engine, self.settings))

    def observe(self, environ, status: str, seconds: float, route: str) -> None:
        """One request's figures (core.requestlog)."""
        method = environ.get("REQUEST_METHOD", "")
        self.requests.labels(route, method, status).inc()
        self.latency.labels(route).observe(seconds)
        scheduler = environ.get("crowdnest.scheduler")
        if route in NEWTASK_ROUTES and scheduler:
            self.newtask.labels(scheduler).observe(seconds)
        if route == ANSWER_ROUTE and method == "POST":
            self.answers.labels("accepted" if status.startswith("2") else "refused").inc()
            if scheduler:
                self.answer.labels(scheduler).observe(seconds)
        pool = getattr(self.engine.pool, "checkedout", None)
        if pool is not None:
            self.pool.set(pool())

    def exposition(self) -> tuple[bytes, str]:
        """The text a scrape reads, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry = self.registry
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            registry.register(ReadAtScrape(self.engine, self.settings))
        return generate_latest(registry), CONTENT_TYPE_LATEST


class ReadAtScrape:
    """Figures read when scraped: the projects' counts, RQ's queues."""

    def __init__(self, engine, settings):
        self.engine, self.settings = engine, settings

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from core.jobs import overview
        from core.services.site_stats import stored_totals

        try:
            with self.engine.connect() as connection:
                totals = stored_totals(connection)
        except Exception:  # a scrape never fails for a figure it cannot read
            log.exception("metrics: the projects' counts could not be read")
            totals = {}
        for name, metric, help_text in (
            ("answers", "answers_stored", "Answers stored, in all projects (their own counts)."),
            ("completed_tasks", "tasks_completed", "Tasks completed, in all projects."),
        ):
            if name in totals:
                yield GaugeMetricFamily(f"crowdnest_{metric}", help_text, value=totals[name])
        waiting = GaugeMetricFamily(
            "crowdnest_jobs_waiting", "Background jobs waiting, by queue.", labels=["queue"]
        )
        failed = GaugeMetricFamily(
            "crowdnest_jobs_failed", "Background jobs failed for good, by queue.", labels=["queue"]
        )
        for queue in overview(self.settings)["queues"]:
            waiting.add_metric([queue["name"]], queue["queued"])
            failed.add_metric([queue["name"]], queue["failed"])
        yield waiting
        yield failed


def allowed(environ, settings) -> bool:
    """The caller may read the metrics: a listed address, or the bearer token."""
    token = settings["metrics.token"]
    given = environ.get("HTTP_AUTHORIZATION", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(address_of(environ, settings))
    except ValueError:
        return False
    for allowed_net in settings["metrics.allow"]:
        try:
            if address in ipaddress.ip_network(allowed_net, strict=False):
                return True
        except ValueError:
            continue
    return False


class Exposition:
    """The middleware answering /metrics for those allowed, a 404 to others."""

    def __init__(self, app, registry):
        self.app = app
        self.registry = registry
        self.figures = registry["metrics"]

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        if not allowed(environ, self.registry.settings):
            body = b'{"status": "not found"}'
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [body]
        body, content_type = self.figures.exposition()
        headers = [("Content-Type", content_type), ("Cache-Control", "no-store")]
        start_response("200 OK", [*headers, ("Content-Length", str(len(body)))])
        return [body]


def wrap(app, router):
    if router.registry.get("metrics") is None:
        return app
    return Exposition(app, router.registry)


def includeme(config):
    settings = config.get_settings()
    if not settings["metrics.enabled"]:
        config.registry["metrics"] = None
        return
    folder = settings["metrics.multiprocess_dir"]
    if folder and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Before prometheus_client is first imported: it picks its mode then.
        os.makedirs(folder, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    figures = config.registry["metrics"] = Figures(config.registry)
    FAILURE_LISTENERS.append(lambda error: figures.redis_fallbacks.inc())
    # Outermost but the health probes: never rate limited, never cached.
    config.add_wsgi_middleware(wrap, order=95)
