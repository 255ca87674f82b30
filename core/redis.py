"""The Redis client, when redis.url is set; None means in-process and database backends."""

import redis


def get_redis(url: str):
    return redis.Redis.from_url(url) if url else None


def includeme(config):
    config.registry["redis"] = get_redis(config.get_settings()["redis.url"])
