"""Health probes for load balancers and orchestrators, answered in front of everything else.

* `GET /healthz` (liveness): the process answers; no I/O at all.
* `GET /readyz` (readiness): the database answers, its schema is at the migrations' head, and
  Redis answers when one is configured. 200 when all hold, else 503; the JSON body names each
  check and, for a failed one, what failed.

A WSGI middleware standing outermost: never rate limited, never cached (`Cache-Control:
no-store`), no session, no cookie. HEAD is answered like GET, without a body.
"""

import logging

import orjson
from alembic.script import ScriptDirectory
from sqlalchemy import text

from core.migrate import alembic_config

log = logging.getLogger(__name__)

PATHS = ("/healthz", "/readyz")
HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
]


def schema_head(url: str) -> str:
    """The revision the migrations end at (read once, at start-up)."""
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def readiness(engine, redis, head: str) -> dict:
    """{check: "ok", "not configured" or what failed}, for the database, schema and Redis."""
    checks = {}
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        checks["database"] = "ok"
        revisions = sorted(row[0] for row in found)
        checks["schema"] = "ok" if revisions == [head] else f"at {revisions}, head is {head}"
    except Exception as error:  # any failure makes the process unready; it is said, not raised
        checks["database"] = f"unreachable: {type(error).__name__}"
        checks["schema"] = "unknown"
    if redis is None:
        checks["redis"] = "not configured"
    else:
        try:
            redis.ping()
            checks["redis"] = "ok"
        except Exception as error:
            checks["redis"] = f"unreachable: {type(error).__name__}"
    return checks


class Health:
    """The middleware: /healthz and /readyz, everything else to the application."""

    def __init__(self, app, registry):
        self.app = app
        # Tests and tools reach the application's registry through the WSGI app.
        self.registry = registry
        self.engine = registry["db_engine"]
        self.redis = registry["redis"]
        self.head = schema_head(registry.settings["sqlalchemy.url"])

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path not in PATHS or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        if path == "/healthz":
            status, payload = "200 OK", {"status": "ok"}
        else:
            checks = readiness(self.engine, self.redis, self.head)
            ready = all(value in ("ok", "not configured") for value in checks.values())
            if not ready:
                log.warning("not ready: %s", checks)
            status = "200 OK" if ready else "503 Service Unavailable"
            payload = {"status": "ok" if ready else "unavailable", "checks": checks}
        body = orjson.dumps(payload)
        start_response(status, [*HEADERS, ("Content-Length", str(len(body)))])
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def wrap(app, router):
    return Health(app, router.registry)


def includeme(config):
    # Outermost: before the inbound checks, the caches and the lean path.
    config.add_wsgi_middleware(wrap, order=100)
