"""Fixed-window rate limits per endpoint and per client (decision 8).

The client is the authenticated user when there is one, else the (proxy-aware) IP. Exactly
`limit` requests succeed per window. Counters live in process memory by default and in Redis
when redis.url is set, so that every worker shares them; while Redis is unreachable each process
counts in its own memory (decision 19: a limit then allows up to `limit` per process).
"""

import threading
import time

from pyramid.events import ContextFound, NewResponse

from core.errors import ApiError, is_api_request
from core.redis import attempt, either, script


class MemoryCounter:
    """Counters for a single process (development, tests)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def incr(self, key: str, expires_at: float) -> int:
        with self._lock:
            now = time.time()
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            count, _ = self._counts.get(key, (0, expires_at))
            self._counts[key] = (count + 1, expires_at)
            return count + 1


# A window's count as Lua: INCR, and EXPIREAT on the window's first request. Scripts that count
# a request among other work compose it (one round trip, atomic).
LUA = """
local function window_count(key, expires)
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIREAT', key, expires) end
  return count
end
"""
INCR_SCRIPT = LUA + "return window_count(KEYS[1], ARGV[1])"


class RedisCounter:
    """Counters shared by every process: INCR + EXPIREAT in one round trip; in the process's
    own memory while Redis is unreachable (core.redis.either)."""

    def __init__(self, redis):
        self.redis = redis
        self.memory = MemoryCounter()
        # A single script call costs about half of a MULTI/INCR/EXPIREAT/EXEC pipeline.
        self._incr = script(redis, INCR_SCRIPT)

    def reset(self) -> None:
        self.memory.reset()

        def forget(client):
            for key in client.scan_iter("crowdnest:ratelimit:*"):
                client.delete(key)

        attempt(self.redis, forget)

    def incr(self, key: str, expires_at: float) -> int:
        return either(
            self.redis,
            lambda _: int(self._incr(keys=[key], args=[int(expires_at) + 10])),
            lambda: self.memory.incr(key, expires_at),
        )


class RateLimiter:
    def __init__(self, counter, limit: int, period: int):
        self.counter = counter
        self.limit = limit
        self.period = period

    def window(self, endpoint: str, client: str, now: float | None = None) -> tuple[str, int]:
        """The counter key of the current window, and the epoch at which the window ends."""
        now = time.time() if now is None else now
        reset = (int(now) // self.period + 1) * self.period
        return f"crowdnest:ratelimit:{endpoint}:{client}:{reset}", reset

    def verdict(self, count: int, reset: int) -> tuple[bool, int, int]:
        """(allowed, remaining, reset epoch) for the window's `count`-th request."""
        return count <= self.limit, max(0, self.limit - count), reset

    def hit(self, endpoint: str, client: str, now: float | None = None):
        """Count one request; returns (allowed, remaining, reset epoch)."""
        key, reset = self.window(endpoint, client, now)
        return self.verdict(self.counter.incr(key, reset), reset)


def client_of(request) -> str:
    user = request.user
    return client_key(user.id if user is not None else None, request.client_ip)


def client_key(user_id, address: str) -> str:
    """Whom a request is counted for: the signed-in user, else the client's address (both
    delivery paths: core.delivery counts before Pyramid does)."""
    return f"user:{user_id}" if user_id is not None else f"ip:{address}"


def check(event):
    request = event.request
    if not is_api_request(request) or request.method == "OPTIONS":
        return
    limiter = request.registry["ratelimiter"]
    counted = request.environ.get("crowdnest.ratelimit")
    if counted is None:
        route = request.matched_route.name if request.matched_route else request.path
        counted = limiter.hit(route, client_of(request))
    # else: the API cache (core.apicache) counted this request already, under the same key.
    headers = ratelimit_headers(limiter, counted)
    request.ratelimit_headers = headers
    if not counted[0]:
        raise ApiError(
            "TooManyRequests", target=request.path, action=request.method, headers=headers
        )


def ratelimit_headers(limiter, counted) -> dict:
    """The X-RateLimit-* headers of a counted request (allowed, remaining, reset epoch)."""
    _allowed, remaining, reset = counted
    return {
        "X-RateLimit-Limit": str(limiter.limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }


def add_headers(event):
    headers = getattr(event.request, "ratelimit_headers", None)
    if headers:
        event.response.headers.update(headers)


def includeme(config):
    settings = config.get_settings()
    redis = config.registry.get("redis")
    counter = RedisCounter(redis) if redis is not None else MemoryCounter()
    config.registry["ratelimiter"] = RateLimiter(
        counter, settings["ratelimit.limit"], settings["ratelimit.period"]
    )
    config.add_subscriber(check, ContextFound)
    config.add_subscriber(add_headers, NewResponse)
