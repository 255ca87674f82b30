"""One log line per request, and a request id on every log line it causes.

The id is the proxy's `X-Request-ID` when the proxy is trusted (`proxy.trusted`) and the value
looks like one, else a new one; it is echoed in the response's `X-Request-ID` header, carried
by every log record made while the request runs (`request_id`, a logging filter on the
handlers) and into the background jobs the request starts (core.jobs). The line says the
method, the route (its name, else the path with numbers as `{id}`; never the query, which may
hold an api key), the status, the duration and the caller's user id.

`log.format = json` makes every handler of the root logger write JSON lines
(python-json-logger); `text` (the default) keeps the .ini's format.
"""

import logging
import re
import time
import uuid
from contextvars import ContextVar

from pyramid.events import NewResponse
from sqlalchemy import inspect

log = logging.getLogger("core.request")

# The id of the request (or of the job started by it) this context serves; "-" outside one.
current_id: ContextVar[str] = ContextVar("crowdnest_request_id", default="-")
# What a proxy may give as a request id: short, no spaces, no quotes.
VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
NUMBERS = re.compile(r"/[0-9]+(?=/|$)")
# The fields of a JSON line besides those a record's `extra` adds.
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"


class RequestIdFilter(logging.Filter):
    """Gives every record the current request's id (`record.request_id`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_id.get()
        return True


def request_id_of(environ, trusted: bool) -> str:
    """The proxy's request id when it is trusted and valid, else a new one."""
    given = environ.get("HTTP_X_REQUEST_ID", "") if trusted else ""
    return given if VALID_ID.fullmatch(given) else uuid.uuid4().hex


def route_of(environ) -> str:
    """The matched route's name (noted), else the path with its numbers as {id}."""
    route = environ.get("crowdnest.route")
    if route is not None:
        return route
    return NUMBERS.sub("/{id}", environ.get("PATH_INFO", "")) or "/"


def user_id_of(environ):
    """The caller's user id as the request resolved it (None: anonymous or never asked)."""
    return environ.get("crowdnest.user_id")


def noted(event) -> None:
    """NewResponse: the route and the user the application resolved, for the line (a user never
    asked for is not looked up for it)."""
    request = event.request
    environ = request.environ
    if request.matched_route is not None:
        environ["crowdnest.route"] = request.matched_route.name
    user = request.__dict__.get("user")  # reified once resolved
    if user is not None:
        # Its key, never a load: the session may be closed by now (reads without pyramid_tm).
        state = inspect(user, raiseerr=False)
        identity = state.identity if state is not None else None
        environ["crowdnest.user_id"] = identity[0] if identity else None


class RequestLog:
    """The middleware: the id set, echoed and logged with the request's line."""

    def __init__(self, app, registry):
        self.app = app
        self.registry = registry
        self.trusted = registry.settings["proxy.trusted"]
        self.figures = registry.get("metrics")  # core.metrics, when on

    def __call__(self, environ, start_response):
        request_id = request_id_of(environ, self.trusted)
        environ["crowdnest.request_id"] = request_id
        token = current_id.set(request_id)
        started = time.perf_counter()
        seen = {}

        def starting(status, headers, exc_info=None):
            seen["status"] = status
            headers = [*headers, ("X-Request-ID", request_id)]
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, starting)
        finally:
            # Read once: the line, its fields and the metrics say the same.
            seconds = time.perf_counter() - started
            status = seen.get("status", "500")[:3]
            method, route = environ.get("REQUEST_METHOD"), route_of(environ)
            user_id = user_id_of(environ)
            if self.figures is not None:
                self.figures.observe(environ, status, seconds, route)
            fields = {
                "method": method,
                "route": route,
                "status": int(status) if status.isdigit() else status,
                "duration_ms": round(seconds * 1000, 1),
                "user_id": user_id,
            }
            log.info(
                "%s %s %s %.1fms user=%s",
                method,
                route,
                status,
                seconds * 1000,
                user_id,
                extra=fields,
            )
            current_id.reset(token)


def configure_handlers(log_format: str) -> None:
    """Every root handler gives its records the request id; with `json`, writes JSON lines."""
    handlers = logging.getLogger().handlers
    for handler in handlers:
        if not any(isinstance(found, RequestIdFilter) for found in handler.filters):
            handler.addFilter(RequestIdFilter())
        if log_format == "json":
            from pythonjsonlogger.json import JsonFormatter

            handler.setFormatter(JsonFormatter(JSON_FIELDS))


def wrap(app, router):
    return RequestLog(app, router.registry)


def includeme(config):
    settings = config.get_settings()
    configure_handlers(settings["log.format"])
    config.add_subscriber(noted, NewResponse)
    # Outside the lean path, the caches and the inbound checks; inside the health probes.
    config.add_wsgi_middleware(wrap, order=90)
