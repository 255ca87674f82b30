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
exactly as for any other request, before the cache is consulted. Without Redis (development,
one process) nothing is cached: a per-process cache could not be invalidated across workers.
"""

import logging

import orjson
from pyramid.interfaces import IRoutesMapper
from pyramid.response import Response

from core.generations import key as generation_key
from core.security import SESSION_COOKIE

log = logging.getLogger(__name__)

ENTRY_KEY = "crowdnest:api:"
# Resource -> the tables an anonymous answer about it is read from.
DEPENDENCIES = {
    "task": ("task", "favorite"),
    "taskrun": ("task_run",),
    "result": ("result",),
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


# -- the tween --------------------------------------------------------------------------------


def _resource_of(route_name: str) -> str | None:
    """`task` for the routes `collection_task` and `task`, None for other routes."""
    name = route_name.removeprefix("collection_")
    return name if name in DEPENDENCIES else None


def cacheable(request, session_cookie: str) -> bool:
    if request.method != "GET" or not request.path_info.startswith("/api/"):
        return False
    headers = request.headers
    if "Authorization" in headers or "Origin" in headers:
        return False
    if session_cookie in request.cookies:
        return False
    return not UNCACHED_PARAMS.intersection(request.GET.keys())


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
    """Entries are `<generations>\n<headers as JSON>\n<body>`: the body is never decoded."""

    def __init__(self, redis, ttl: int):
        self.redis = redis
        self.ttl = ttl
        self._lookup = redis.register_script(LOOKUP_SCRIPT)

    def lookup(self, counter_key: str, expires: int, tables, key: str):
        """(rate-limit count, current generations, (headers, body) or None)."""
        keys = [counter_key, *(generation_key(table) for table in tables), key]
        found = self._lookup(keys=keys, args=[expires + 10])
        count, generations, entry = int(found[0]), _generations(found[1:-1]), found[-1]
        parts = entry.split(b"\n", 2) if entry else ()
        if len(parts) == 3 and parts[0] == generations:
            return count, generations, (orjson.loads(parts[1]), parts[2])
        return count, generations, None

    def store(self, key: str, generations: bytes, response) -> None:
        headers = [
            (name, value)
            for name, value in response.headerlist
            if name.lower() not in UNSTORED_HEADERS and not name.startswith("X-RateLimit-")
        ]
        entry = b"\n".join((generations, orjson.dumps(headers), response.body))
        self.redis.set(key, entry, ex=self.ttl)


def _generations(values) -> bytes:
    return b",".join(value or b"0" for value in values)


def api_cache_tween_factory(handler, registry):
    settings = registry.settings
    redis = registry.get("redis")
    if redis is None or not settings["api.cache"]:
        return handler
    cache = ApiCache(redis, settings["api.cache_ttl"])
    limiter = registry["ratelimiter"]
    mapper = registry.getUtility(IRoutesMapper)

    def api_cache_tween(request):
        if not cacheable(request, SESSION_COOKIE):
            return handler(request)
        route = mapper(request)["route"]
        resource = _resource_of(route.name) if route is not None else None
        if resource is None:
            return handler(request)
        counter_key, reset = limiter.window(route.name, f"ip:{request.client_ip}")
        key = ENTRY_KEY + request.path_qs
        try:
            count, generations, hit = cache.lookup(counter_key, reset, DEPENDENCIES[resource], key)
        except Exception:  # Redis trouble: the usual path answers (and counts) the request
            log.exception("API cache lookup failed")
            return handler(request)
        counted = limiter.verdict(count, reset)
        # Counted once: core.ratelimit reuses this count if the view path runs.
        request.environ["crowdnest.ratelimit"] = counted
        if hit is not None and counted[0]:
            headers, body = hit
            response = Response(body=body, headerlist=[tuple(pair) for pair in headers])
            response.headers.update(ratelimit_headers(limiter, counted))
            return response

        def store(request, response):
            if response.status_int == 200 and "Set-Cookie" not in response.headers:
                try:
                    cache.store(key, generations, response)
                except Exception:
                    log.exception("API cache store failed")

        response = handler(request)
        # Stored by a response callback added last, so that it keeps the headers every other
        # callback (Cornice's CORS and nosniff headers) adds to the answer.
        request.add_response_callback(store)
        return response

    return api_cache_tween


def ratelimit_headers(limiter, counted) -> dict:
    _allowed, remaining, reset = counted
    return {
        "X-RateLimit-Limit": str(limiter.limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }


def includeme(config):
    # Outside pyramid_tm: a cached answer opens no transaction and no database session.
    config.add_tween("core.apicache.api_cache_tween_factory", over="pyramid_tm.tm_tween_factory")
