"""The Redis client, when redis.url is set; None means in-process and database backends.

Redis is an accelerator, not a single point of failure (decision 19). Every caller reaches it
through `either(client, with_redis, without)`: `with_redis(client)` when Redis answers, else
`without()`, the caller's way without it (the database, a process's own counter, no cache).
The client has short socket timeouts (`redis.timeout`), and a failure pauses Redis for the
whole process for `redis.pause` seconds (a circuit breaker: no request waits on a dead Redis
meanwhile); then the next call tries again, and the first that succeeds resumes it. The outage
is logged once when it starts, at most once per `redis.log_interval` seconds while it lasts,
and once when Redis answers again; never per request. What cannot do without Redis (the
`locked` scheduler's reservations) calls `require(client)`, which raises Unavailable: the
application answers 503 in the API's error shape (core.errors).

`script(client, source)` calls a Lua script over a connection of the calling thread's own,
kept open between requests: redis-py's command path (a pool checkout and check-in, retries,
observability hooks) costs about 70 µs a call here, twice the round trip itself, and the
task-delivery path makes two to four such calls per request (core/delivery.py). hiredis packs
the commands, without redis-py's checks of each argument.
"""

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable

import redis
from redis.exceptions import (
    BusyLoadingError,
    ConnectionError,
    NoScriptError,
    ReadOnlyError,
    TimeoutError,
)
from redis.utils import HIREDIS_AVAILABLE

if HIREDIS_AVAILABLE:
    from hiredis import pack_command

log = logging.getLogger(__name__)

# What "Redis is unreachable" looks like: a refused or timed-out connection, a Redis still
# loading its data after a restart, a replica promoted read-only. Anything else is a bug and
# is raised as it is.
UNREACHABLE = (ConnectionError, TimeoutError, BusyLoadingError, ReadOnlyError)
# When no settings are given (commands, tests): the settings' defaults (core.settings).
DEFAULT_TIMEOUT, DEFAULT_PAUSE, DEFAULT_LOG_INTERVAL = 1.0, 5.0, 30.0


class Unavailable(ConnectionError):
    """Redis is paused after a failure (or failed now) and the caller cannot do without it."""


# Called with the error at each failure a breaker records (core.metrics counts them).
FAILURE_LISTENERS: list = []


class Breaker:
    """The circuit breaker of one Redis server in this process (see the module doc)."""

    def __init__(self, url: str, pause: float, log_interval: float):
        self.url, self.pause, self.log_interval = url, pause, log_interval
        self._lock = threading.Lock()
        # Redis is skipped until this monotonic time; None: it answered last time.
        self.until = 0.0
        self.down_since: float | None = None
        self.logged_at = 0.0
        self.failures = 0

    def paused(self) -> bool:
        return self.down_since is not None and time.monotonic() < self.until

    def failed(self, error: BaseException) -> None:
        for listener in FAILURE_LISTENERS:
            listener(error)
        now = time.monotonic()
        with self._lock:
            self.until = now + self.pause
            self.failures += 1
            if self.down_since is None:
                self.down_since = now
            elif now - self.logged_at < self.log_interval:
                return
            self.logged_at, failures, self.failures = now, self.failures, 0
        log.error(
            "Redis at %s unreachable (%s: %s); %d failure(s) since the last report; served "
            "without it (the database, per-process counters, no cache), trying again every "
            "%s s",
            _safe(self.url),
            type(error).__name__,
            error,
            failures,
            self.pause,
        )

    def answered(self) -> None:
        if self.down_since is None:  # the usual case: one attribute read
            return
        with self._lock:
            if self.down_since is None:
                return
            down, self.down_since, self.failures = time.monotonic() - self.down_since, None, 0
        log.warning("Redis at %s answers again after %.1f s: used again", _safe(self.url), down)
        for listener in list(_recovery_listeners):
            try:
                listener(self.url)
            except Exception:
                log.exception("after Redis came back: %s failed", listener)


def _safe(url: str) -> str:
    """The URL without its password, for the log."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


# url -> its Breaker, shared by every client of that URL in this process.
_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()
# Called with the URL when a paused Redis answers again (core.generations bumps every table).
_recovery_listeners: list[Callable[[str], None]] = []


def reset_breakers() -> None:
    """Forget every outage (tests: one test's dead Redis must not pause the next's)."""
    for breaker in list(_breakers.values()):
        with breaker._lock:
            breaker.until, breaker.down_since, breaker.failures = 0.0, None, 0


def on_recovery(listener: Callable[[str], None]) -> None:
    """Call listener(url) in the process that sees a paused Redis answer again."""
    if listener not in _recovery_listeners:
        _recovery_listeners.append(listener)


def breaker_for(url: str, settings: dict | None = None) -> Breaker:
    found = _breakers.get(url)
    if found is None:
        settings = settings or {}
        with _breakers_lock:
            found = _breakers.setdefault(
                url,
                Breaker(
                    url,
                    float(settings.get("redis.pause", DEFAULT_PAUSE)),
                    float(settings.get("redis.log_interval", DEFAULT_LOG_INTERVAL)),
                ),
            )
    return found


def breaker_of(client) -> Breaker:
    """The breaker of a client made by get_redis (or of its server, for any other client)."""
    found = client.__dict__.get("_crowdnest_breaker")
    if found is None:
        kwargs = client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        found = client.__dict__["_crowdnest_breaker"] = breaker_for(
            f"redis://{where}/{kwargs.get('db', 0)}"
        )
    return found


def either(client, with_redis: Callable, without: Callable):
    """with_redis(client) when Redis is configured and answers, else without().

    The one way callers use Redis: a failure (UNREACHABLE) pauses Redis for the process and
    is logged as the module doc says, and without() answers instead. While paused, with_redis
    is not tried at all. `without` must be safe to call after with_redis failed half-way.
    """
    if client is None:
        return without()
    breaker = breaker_of(client)
    if breaker.paused():
        return without()
    try:
        found = with_redis(client)
    except UNREACHABLE as error:
        breaker.failed(error)
        return without()
    breaker.answered()
    return found


def attempt(client, with_redis: Callable) -> None:
    """with_redis(client) unless Redis is paused; a failure is recorded, never raised (for
    what may be skipped: a cache entry stored, a stamp consumed after the commit)."""
    either(client, with_redis, _nothing)


def _nothing():
    return None


def available(client) -> bool:
    """Whether Redis is configured and not paused after a failure (it may still fail now)."""
    return client is not None and not breaker_of(client).paused()


def require(client) -> None:
    """Raise Unavailable when Redis is configured but paused (for what cannot do without it;
    a failure during the call itself raises redis' own ConnectionError)."""
    if client is not None and breaker_of(client).paused():
        raise Unavailable("Redis is unreachable")


def failed(client, error: BaseException) -> None:
    """Record a failure met outside `either` (an error view, a middleware)."""
    if client is not None:
        breaker_of(client).failed(error)


def get_redis(url: str, settings: dict | None = None):
    """A client of `url` with short timeouts (`redis.timeout`) and its breaker; None without
    a URL."""
    if not url:
        return None
    settings = settings or {}
    timeout = float(settings.get("redis.timeout", DEFAULT_TIMEOUT))
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    client.__dict__["_crowdnest_breaker"] = breaker_for(url, settings)
    return client


class _Line(threading.local):
    """One connection per thread (and per process: a forked child opens its own)."""

    def __init__(self, pool):
        self.pool, self.connection, self.pid = pool, None, None
        # hiredis packs a command as redis-py does for str, bytes, int and float arguments
        # (UTF-8) without redis-py's per-argument checks: a tenth of a call's CPU.
        utf8 = pool.connection_kwargs.get("encoding", "utf-8") == "utf-8"
        self.pack = pack_command if HIREDIS_AVAILABLE and utf8 else None

    def call(self, *command):
        connection = self.connection
        if connection is None or self.pid != os.getpid():
            pool = self.pool
            connection = self.connection = pool.connection_class(**pool.connection_kwargs)
            self.pid = os.getpid()
        try:
            if self.pack is None:
                connection.send_command(*command, check_health=False)
            else:
                connection.send_packed_command([self.pack(command)], check_health=False)
            return connection.read_response()
        except (ConnectionError, TimeoutError):
            # Redis restarted or the idle connection was dropped: once more, on a new one
            # (redis-py's own client retries such failures too).
            connection.disconnect()
            connection.send_command(*command)
            return connection.read_response()


class DirectScript:
    """A Lua script called as redis-py's Script is (`script(keys=[...], args=[...])`)."""

    def __init__(self, line: _Line, source: str):
        self.line, self.source = line, source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, keys=(), args=()):
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            return self.line.call(*command)
        except NoScriptError:  # a Redis restarted or flushed of its scripts
            self.line.call("SCRIPT", "LOAD", self.source)
            return self.line.call(*command)


def script(client, source: str) -> DirectScript:
    """The client's DirectScript for `source`, made once per client."""
    scripts = client.__dict__.setdefault("_crowdnest_scripts", {})
    found = scripts.get(source)
    if found is None:
        line = client.__dict__.get("_crowdnest_line")
        if line is None:
            line = client.__dict__["_crowdnest_line"] = _Line(client.connection_pool)
        found = scripts[source] = DirectScript(line, source)
    return found


def includeme(config):
    settings = config.get_settings()
    config.registry["redis"] = get_redis(settings["redis.url"], settings)
