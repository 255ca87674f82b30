"""The Redis client, when redis.url is set; None means in-process and database backends.

`script(client, source)` calls a Lua script over a connection of the calling thread's own,
kept open between requests: redis-py's command path (a pool checkout and check-in, retries,
observability hooks) costs about 70 µs a call here, twice the round trip itself, and the
task-delivery path makes two to four such calls per request (core/delivery.py). hiredis packs
the commands, without redis-py's checks of each argument.
"""

import hashlib
import os
import threading

import redis
from redis.exceptions import ConnectionError, NoScriptError, TimeoutError
from redis.utils import HIREDIS_AVAILABLE

if HIREDIS_AVAILABLE:
    from hiredis import pack_command


def get_redis(url: str):
    return redis.Redis.from_url(url) if url else None


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
    config.registry["redis"] = get_redis(config.get_settings()["redis.url"])
