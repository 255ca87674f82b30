"""Shared cache of anonymous /api reads, invalidated by table generations (Redis only).

Public reads dominate a crowdsourcing server's API traffic: apps, dashboards and scripts page
through the same tasks, results and projects again and again. When Redis is configured, the JSON
of an anonymous GET of `/api/<type>` or `/api/<type>/<id>` is kept in Redis under its path and
query string, together with the *generation* of every table the answer was read from.

A generation is a Redis counter per table (core.generations): every database session records
which tables it wrote and, once its transaction has committed, increments their counters. A
cached answer is served only while the generations it was stored with are still the current
ones, so a read never sees data older than the last committed write it could have observed;
the answer is recomputed on the next request after any write. Generations are read *before*
the database is queried, so an answer computed while a write commits is stored under the old
generation and is never served once the write's increment is visible.

Only requests that carry no credentials (no api_key, Authorization header or session cookie)
and no parameter that reads other tables (`related`, `stats`, `full`, `participated`, `all`)
are cached; their answers are the same for every anonymous caller. Rate limits are counted
exactly as for any other request, in the same Redis call as the lookup. The cache is a WSGI
middleware in front of the Pyramid application, so a hit costs no routing, no transaction and
no view; a miss is answered by the application and stored with its final headers. Without
Redis (development, one process) nothing is cached: a per-process cache could not be
invalidated across workers; nor while Redis is unreachable (core.redis.either): the
application answers and counts every request then.
"""

import logging
import re
from wsgiref.util import application_uri

import orjson

from core.generations import key as generation_key
from core.ratelimit import ratelimit_headers
from core.redis import attempt, either, script
from core.security import address_of, may_carry_session, query_pairs

log = logging.getLogger(__name__)

ENTRY_KEY = "crowdnest:api:"
# Resource -> the tables an anonymous answer about it is read from.
# Tasks, task runs and results are shown only while their project is published (decision 24).
DEPENDENCIES = {
    "task": ("task", "favorite", "project"),
    "taskrun": ("task_run", "project"),
    "result": ("result", "project"),
    "project": ("project", "project_owner"),
    "category": ("category",),
    "blogpost": ("blogpost",),
    "helpingmaterial": ("helpingmaterial",),
    "page": ("page",),
    "announcement": ("announcement",),
}
# Parameters whose answer reads other tables or depends on the caller: never cached.
UNCACHED_PARAMS = {"api_key", "related", "stats", "full", "participated", "all", "external_uid"}
# Response headers a stored answer does not keep (recomputed for each response).
UNSTORED_HEADERS = {"content-length", "set-cookie", "date"}


# -- the middleware ---------------------------------------------------------------------------

# /api/<resource> and /api/<resource>/<id>: Cornice's routes collection_<resource>, <resource>.
API_PATH = re.compile(r"/api/([a-z]+)(?:/([0-9]+))?")


def cache_target(environ) -> tuple[str, str] | None:
    """(route name, resource) of a cacheable request, else None."""
    if environ.get("REQUEST_METHOD") != "GET":
        return None
    if "HTTP_AUTHORIZATION" in environ or "HTTP_ORIGIN" in environ:
        return None
    if may_carry_session(environ):
        return None
    match = API_PATH.fullmatch(environ.get("PATH_INFO", ""))
    if match is None or match.group(1) not in DEPENDENCIES:
        return None
    # Read as WebOb reads it (on `;` too), else `?limit=5;api_key=...` signs in uncounted.
    if UNCACHED_PARAMS.intersection(name for name, _ in query_pairs(environ)):
        return None
    resource = match.group(1)
    return (resource if match.group(2) else f"collection_{resource}"), resource


# One round trip: count the request in its rate-limit window (as core.ratelimit does), then
# read the tables' generations and the stored answer.
# KEYS: rate-limit counter, generation keys..., entry key; ARGV: the window's expiry epoch.
LOOKUP_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIREAT', KEYS[1], ARGV[1]) end
local found = redis.call('MGET', unpack(KEYS, 2))
table.insert(found, 1, count)
return found
"""


class ApiCache:
    """Entries are `<generations>\\n<headers as JSON>\\n<body>`: the body is never decoded."""

    def __init__(self, redis, ttl: int):
        self.redis = redis
        self.ttl = ttl
        self._lookup = script(redis, LOOKUP_SCRIPT)

    def lookup(self, counter_key: str, expires: int, tables, key: str):
        """(rate-limit count, current generations, (headers, body) or None)."""
        keys = [counter_key, *(generation_key(table) for table in tables), key]
        found = self._lookup(keys=keys, args=[expires + 10])
        count, generations, entry = int(found[0]), _generations(found[1:-1]), found[-1]
        parts = entry.split(b"\n", 2) if entry else ()
        if len(parts) == 3 and parts[0] == generations:
            return count, generations, (orjson.loads(parts[1]), parts[2])
        return count, generations, None

    def store(self, key: str, generations: bytes, headers: list, body: bytes) -> None:
        kept = [
            (name, value)
            for name, value in headers
            if name.lower() not in UNSTORED_HEADERS and not name.startswith("X-RateLimit-")
        ]
        self.redis.set(key, b"\n".join((generations, orjson.dumps(kept), body)), ex=self.ttl)


def _generations(values) -> bytes:
    return b",".join(value or b"0" for value in values)


class ApiCacheMiddleware:
    """WSGI middleware in front of the Pyramid application: a hit never reaches Pyramid."""

    def __init__(self, app, redis, settings, limiter):
        self.app = app
        # Tests and tools reach the application's registry through the WSGI app.
        self.registry = app.registry
        self.cache = ApiCache(redis, settings["api.cache_ttl"])
        self.settings = settings
        self.limiter = limiter

    def __call__(self, environ, start_response):
        target = cache_target(environ)
        if target is None:
            return self.app(environ, start_response)
        route, resource = target
        client = f"ip:{address_of(environ, self.settings)}"
        counter_key, reset = self.limiter.window(route, client)
        # The application's address (scheme and Host) is part of the key: the body's links are
        # built on it, and a Host header a client chooses must not reach another client.
        key = ENTRY_KEY + application_uri(environ) + environ["PATH_INFO"]
        if environ.get("QUERY_STRING"):
            key += "?" + environ["QUERY_STRING"]
        found = either(
            self.cache.redis,
            lambda _: self.cache.lookup(counter_key, reset, DEPENDENCIES[resource], key),
            lambda: None,
        )
        if found is None:  # Redis unreachable: the usual path answers (and counts) the request
            return self.app(environ, start_response)
        count, generations, hit = found
        counted = self.limiter.verdict(count, reset)
        # Counted once: core.ratelimit reuses this count when the application answers.
        environ["crowdnest.ratelimit"] = counted
        if hit is not None and counted[0]:
            headers, body = hit
            headers = [tuple(pair) for pair in headers]
            headers += [*ratelimit_headers(self.limiter, counted).items()]
            headers.append(("Content-Length", str(len(body))))
            start_response("200 OK", headers)
            return [body]
        return self._answer_and_store(environ, start_response, key, generations)

    def _answer_and_store(self, environ, start_response, key, generations):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)
            return start_response(status, headers, exc_info)

        chunks = self.app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        headers = captured.get("headers", [])
        stored = captured.get("status", "").startswith("200 ") and not any(
            name.lower() == "set-cookie" for name, _ in headers
        )
        if stored:
            attempt(self.cache.redis, lambda _: self.cache.store(key, generations, headers, body))
        return [body]


def wrap(app, router):
    """The application behind the cache when Redis is configured and api.cache is on."""
    registry = router.registry
    redis = registry.get("redis")
    settings = registry.settings
    if redis is None or not settings["api.cache"]:
        return app
    return ApiCacheMiddleware(app, redis, settings, registry["ratelimiter"])


def includeme(config):
    # Anonymous /api reads answered from Redis while the tables they read are unchanged.
    config.add_wsgi_middleware(wrap, order=20)
