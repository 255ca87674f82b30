"""gunicorn's settings for `gunicorn --paste production.ini`, started from this directory.

gunicorn reads this file (its default configuration file) but not the .ini's [server:main],
which only `pserve production.ini` reads: the two say the same (tests/unit/test_gunicorn_logging).
Command-line options (`-w`, `-b`) override these.
"""

bind = "127.0.0.1:6543"
workers = 4
# The application is built once, in the master, and each worker forked from it: the workers
# share its memory pages (code, settings, templates; core/runtime.py freezes them out of the
# garbage collector's way), which measured about 10% less CPU a request with four workers on two
# CPUs (benchmarks/contribute.py). Engines drop inherited connections in a child (core/db.py).
# A code change then needs a restart: `kill -HUP` reloads the configuration, not the code.
preload_app = True
# Access-log lines only when a handler takes them (core/gunicorn_logging.py).
logger_class = "core.gunicorn_logging.AccessLogger"


def when_ready(server):
    """Several workers without Redis: a warning, or in production a refusal (core.runtime)."""
    from core.runtime import check_workers

    app = server.app.wsgi()
    warning = check_workers(server.cfg.workers, getattr(app, "registry", None))
    if warning:
        server.log.warning(warning)


def child_exit(server, worker):
    """A worker gone: its live gauges leave the metrics' sums (core.metrics, multiprocess)."""
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
