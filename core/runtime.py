"""Process tuning for long-running workers: fewer garbage-collector passes.

A request allocates many short-lived objects; CPython's default thresholds run the cyclic
collector every 700 allocations and re-scan the application's long-lived objects each time.
Freezing what exists after start-up and raising the first threshold removes most of that work.
"""

import gc


def includeme(config):
    settings = config.get_settings()
    if settings["runtime.gc_tuning"]:
        # Called when the application is built: once per worker process, or once in
        # gunicorn's master with preload_app (gunicorn.conf.py), the workers inheriting it.
        config.action(None, _tune_gc, order=10_000)


def _tune_gc():
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def check_workers(workers: int, registry) -> str | None:
    """gunicorn's `when_ready`: several workers need Redis (rate limits, locks, caches, the job
    queue and pending hand-outs are otherwise each worker's own). A refusal in production, a
    warning elsewhere; the message, or None when all is well."""
    if workers <= 1 or registry is None or registry.get("redis") is not None:
        return None
    message = (
        f"{workers} workers without Redis: rate limits, caches and pending hand-outs are each "
        "worker's own; set redis.url (CROWDNEST_REDIS_URL) or run one worker"
    )
    if registry.settings["environment"] == "production":
        raise SystemExit(f"crowdnest refuses to start: {message}")
    return message
