"""Rate-limit counters in Redis are shared: two app processes count against one budget."""

import uuid

from core.ratelimit import MemoryCounter, RateLimiter, RedisCounter


def test_two_limiters_over_one_redis_share_the_window(redis_client):
    endpoint = f"test-{uuid.uuid4()}"
    first = RateLimiter(RedisCounter(redis_client), limit=3, period=900)
    second = RateLimiter(RedisCounter(redis_client), limit=3, period=900)
    now = 1_800_000_000.0

    outcomes = [
        limiter.hit(endpoint, "ip:1.2.3.4", now)[0] for limiter in (first, second, first, second)
    ]

    assert outcomes == [True, True, True, False]


def test_redis_counter_expires_with_the_window(redis_client):
    endpoint = f"test-{uuid.uuid4()}"
    limiter = RateLimiter(RedisCounter(redis_client), limit=5, period=60)

    allowed, remaining, reset = limiter.hit(endpoint, "user:1", 1_800_000_030.0)

    key = f"crowdnest:ratelimit:{endpoint}:user:1:{reset}"
    assert allowed and remaining == 4 and reset == 1_800_000_060
    assert redis_client.ttl(key) > 0


def test_memory_counter_windows_are_separate():
    limiter = RateLimiter(MemoryCounter(), limit=1, period=60)

    assert limiter.hit("e", "c", 1_800_000_000.0)[0] is True
    assert limiter.hit("e", "c", 1_800_000_010.0)[0] is False
    assert limiter.hit("e", "c", 1_800_000_061.0)[0] is True
