"""dogpile.cache regions, configured from the .ini (memory in development, Redis in production).

Cached listings (stats, leaderboard, project categories) live in namespaces. A value is stored
under its namespace's current token, so a new token forgets every value of the namespace at
once. Where the token comes from:

* With Redis and the table generations of core.generations (the API cache's, on whenever Redis
  is), the token of a namespace is made of the generations of the tables its values are read
  from (TABLES_BY_NAMESPACE), read in one MGET. Every commit that writes a table already
  increments its generation, from any process: nothing more is written per commit.
* Otherwise (no Redis; or `api.cache = false`) each namespace has a random token kept in the
  region itself, replaced after each commit of a session of the application's factory that
  wrote one of its tables (recorded by core.generations).

"dashboard", read from no particular table, always has a stored token (refreshed on demand).

With the Redis backend, a cached value is read from the database itself while Redis is
unreachable (core.redis.either: no request waits on it, the outage is logged once), and every
namespace is forgotten when it answers again (commits could not bump their tokens meanwhile).
"""

import uuid
from collections.abc import Callable

from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE
from sqlalchemy import event

from core import generations
from core.redis import attempt, either, get_redis, on_recovery

# The namespaces whose values show data of each table.
NAMESPACES_BY_TABLE = {
    "project": ("projects", "stats"),
    "project_owner": ("projects",),
    "project_stats": ("projects",),
    "category": ("projects", "stats"),
    "task": ("projects", "stats"),
    "task_run": ("projects", "stats", "leaderboard"),
    "result": ("stats",),
    "user": ("projects", "stats", "leaderboard"),
    "auditlog": ("stats",),
}
# Every namespace; "dashboard" is only refreshed on demand (and by expiry).
NAMESPACES = ("projects", "stats", "leaderboard", "dashboard")
TABLES_BY_NAMESPACE = {
    namespace: tuple(sorted(t for t, spaces in NAMESPACES_BY_TABLE.items() if namespace in spaces))
    for namespace in NAMESPACES
}
# region -> Redis client, for the regions whose tokens follow the table generations.
_following: dict = {}
# region -> a client of its Redis (whose breaker says whether to try it), for Redis backends.
_breaker_clients: dict = {}


def build_region(settings):
    backend = settings["cache.backend"]
    arguments = {}
    if backend == "dogpile.cache.redis":
        arguments = {
            "url": settings["redis.url"],
            "distributed_lock": True,
            # The lock token is shared by the threads of a process (dogpile warns otherwise).
            "thread_local_lock": False,
            "redis_expiration_time": settings["cache.expiration_time"] + 60,
            # A dead Redis must not stall a page (core.redis).
            "socket_timeout": settings["redis.timeout"],
            "connection_kwargs": {"socket_connect_timeout": settings["redis.timeout"]},
        }
    return make_region(key_mangler=lambda key: "crowdnest:cache:" + key).configure(
        backend, expiration_time=settings["cache.expiration_time"], arguments=arguments
    )


def _generation_key(namespace: str) -> str:
    return f"generation:{namespace}"


def follow_generations(region, redis) -> None:
    """Namespace tokens from the table generations in `redis` (see the module doc)."""
    _following[region] = redis


def generation(region, namespace: str) -> str:
    """The namespace's current token (a new one when the backend has none)."""
    redis, tables = _following.get(region), TABLES_BY_NAMESPACE.get(namespace)
    if redis is not None and tables:
        found = redis.mget([generations.key(table) for table in tables])
        return "g" + ".".join(_text(value) for value in found)
    token = region.get(_generation_key(namespace), ignore_expiration=True)
    if token is NO_VALUE:
        token = bump(region, namespace)
    return token


def bump(region, *namespaces: str) -> str:
    """Forget every cached value of the namespaces; returns the last new token."""
    # Random tokens, not counters: concurrent bumps need no atomic increment. One round trip.
    tokens = {_generation_key(namespace): uuid.uuid4().hex for namespace in namespaces}
    if tokens:
        region.set_multi(tokens)
    return next(reversed(tokens.values()), "")


def bump_all(region) -> None:
    """Forget every cached listing (after changes made outside the application's sessions)."""
    redis = _following.get(region)
    if redis is not None:
        generations.bump(redis, NAMESPACES_BY_TABLE)
    client = _breaker_clients.get(region)
    if client is None:
        bump(region, *NAMESPACES)
    else:
        attempt(client, lambda _: bump(region, *NAMESPACES))


def cached(region, namespace: str, key: str, creator: Callable[[], object], **kw):
    """The value of `creator()`, cached until the namespace changes or the value expires.

    Values are shared between requests: callers must not modify what they get.
    """
    # The token is read before the data: a write committed meanwhile bumps it after commit,
    # so a value computed from older data is stored under a token nobody reads any more.
    breaker_client = _breaker_clients.get(region)
    if breaker_client is None:  # an in-process backend
        token = generation(region, namespace)
        return region.get_or_create(f"{namespace}:{token}:{key}", creator, **kw)

    def from_cache(_client):
        token = generation(region, namespace)
        return region.get_or_create(f"{namespace}:{token}:{key}", creator, **kw)

    return either(breaker_client, from_cache, creator)


def listen(session_factory, region) -> None:
    """After each commit of the factory's sessions, bump the namespaces of the written tables."""

    def after_commit(session):
        bump_written(region, generations.written(session))

    event.listen(session_factory, "after_commit", after_commit)


def _text(value) -> str:
    if value is None:
        return "0"
    return value.decode() if isinstance(value, bytes) else str(value)


def bump_written(region, tables) -> None:
    """Forget the cached values read from these tables (after a commit that wrote them);
    nothing to do when the tokens follow the table generations: the commit bumped them."""
    if region in _following:
        return
    namespaces = {ns for table in tables for ns in NAMESPACES_BY_TABLE.get(table, ())}
    if not namespaces:
        return
    client = _breaker_clients.get(region)
    if client is None:
        bump(region, *sorted(namespaces))
    else:
        attempt(client, lambda _: bump(region, *sorted(namespaces)))


def includeme(config):
    settings = config.get_settings()
    region = build_region(settings)
    config.registry["cache"] = region
    if settings["cache.backend"] == "dogpile.cache.redis" and settings["redis.url"]:
        _breaker_clients[region] = get_redis(settings["redis.url"], settings)

        def forget_all(url):
            if url == settings["redis.url"]:
                attempt(_breaker_clients[region], lambda _: bump(region, *NAMESPACES))

        on_recovery(forget_all)
    if generations.tracked(config.registry["db_engine"]):
        follow_generations(region, generations.redis_of(config.registry["db_engine"]))
    listen(config.registry["dbsession_factory"], region)
