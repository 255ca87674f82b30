"""dogpile.cache regions, configured from the .ini (memory in development, Redis in production)."""

from dogpile.cache import make_region


def build_region(settings):
    backend = settings["cache.backend"]
    arguments = {}
    if backend == "dogpile.cache.redis":
        arguments = {
            "url": settings["redis.url"],
            "distributed_lock": True,
            "redis_expiration_time": settings["cache.expiration_time"] + 60,
        }
    return make_region(key_mangler=lambda key: "crowdnest:cache:" + key).configure(
        backend, expiration_time=settings["cache.expiration_time"], arguments=arguments
    )


def includeme(config):
    config.registry["cache"] = build_region(config.get_settings())
