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
