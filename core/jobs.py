"""Background jobs: RQ on Redis when redis.url is set, else run in-process after the commit.

A job is a module-level function `func(settings, *args, **kwargs)`: it receives the
application's settings first (the worker's own, never a copy sent through Redis), then the
arguments it was enqueued with, which must pickle. It opens its own database session with
`database(settings)`: the request that enqueued it is long over when it runs.

`enqueue(request, ...)` holds the job until the request's transaction commits (nothing leaves
when it aborts); `enqueue(settings, ...)` sends it at once, for callers outside any transaction
(commands, after-commit hooks, other jobs). While Redis is unreachable (core.redis) a job runs
in a thread of the enqueuing process instead: it is never lost, nor fails its request. A job
that raises is retried as `retry` says, then logged: a failing job never fails the request that
enqueued it, nor stops a worker.

A job run in the process of the application that enqueued it (no Redis, or Redis unreachable)
finds that application's registry with `application_registry(settings)`: its mailer (the same
dummy outbox in tests), and its in-process caches, which the job's commits invalidate exactly as
the application's own sessions do (core.cache.listen). In an RQ worker there is none.
"""

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import redis
import rq
from pyramid.paster import setup_logging
from rq import Retry
from rq.job import Job

from core import cache
from core.db import own_session
from core.events import after_commit
from core.plugins import get_plugin_manager
from core.redis import either, get_redis
from core.requestlog import current_id

log = logging.getLogger(__name__)

__all__ = [
    "Retry",
    "SimpleWorker",
    "Worker",
    "application_registry",
    "database",
    "enqueue",
    "run_worker",
]

# The keyword a job's request id travels under, taken out before the job's function runs.
REQUEST_ID = "_crowdnest_request_id"


@contextmanager
def _as_requested(kwargs: dict) -> Iterator[dict]:
    """The job's keyword arguments without its request id, which its log lines carry meanwhile."""
    kwargs = dict(kwargs)
    token = current_id.set(kwargs.pop(REQUEST_ID, "-"))
    try:
        yield kwargs
    finally:
        current_id.reset(token)


# The registry of the application whose job runs in this thread, set by run_inline only.
_running_for: ContextVar = ContextVar("crowdnest_job_registry", default=None)


def enqueue(
    request_or_settings,
    func: Callable[..., Any],
    *args: Any,
    queue: str = "default",
    retry: Retry | None = None,
    **kwargs: Any,
) -> None:
    """Run `func(settings, *args, **kwargs)` in the background, once the transaction commits.

    `queue` and `retry` belong to enqueue itself: the RQ queue's name (from the settings, e.g.
    `webhooks.queue`) and how often and after how long a job that raises runs again.
    """
    registry = getattr(request_or_settings, "registry", None)
    # The job's log lines carry the id of the request that started it (core.requestlog).
    kwargs = {**kwargs, REQUEST_ID: current_id.get()} if current_id.get() != "-" else kwargs
    if registry is None:
        dispatch(request_or_settings, func, args, kwargs, queue, retry)
    else:
        after_commit(
            request_or_settings,
            dispatch,
            registry.settings,
            func,
            args,
            kwargs,
            queue,
            retry,
            registry,
        )


def dispatch(
    settings, func, args: tuple, kwargs: dict, queue: str, retry: Retry | None, registry=None
) -> None:
    """Hand the job to RQ, or run it in this process when no Redis is configured (`registry`:
    the enqueuing application's, for application_registry)."""
    if settings["redis.url"]:
        connection = get_redis(settings["redis.url"], settings)

        def to_rq(client) -> bool:
            rq.Queue(queue, connection=client, job_class=SettingsJob).enqueue_call(
                func, args=args, kwargs=kwargs, timeout=settings["jobs.timeout"], retry=retry
            )
            return True

        try:
            if either(connection, to_rq, lambda: False):
                return
        finally:
            connection.close()
        inline = "thread"  # Redis unreachable: here, without holding up the request
    else:
        inline = settings["jobs.inline"]
    if inline == "thread":
        name = f"job-{getattr(func, '__name__', 'job')}"
        threading.Thread(
            target=run_inline,
            args=(settings, func, args, kwargs, retry, registry),
            name=name,
            daemon=True,
        ).start()
    else:
        run_inline(settings, func, args, kwargs, retry, registry)


def run_inline(
    settings, func, args: tuple, kwargs: dict, retry: Retry | None, registry=None
) -> None:
    """Run a job here and now, again after each failure as `retry` says; errors are logged."""
    held = _running_for.set(registry)
    try:
        _run_with_retries(settings, func, args, kwargs, retry)
    finally:
        _running_for.reset(held)


def application_registry(settings):
    """The registry of the application these settings belong to, when its job runs in the
    application's own process; None in an RQ worker (or outside any job)."""
    registry = _running_for.get()
    if registry is not None and registry.settings is settings:
        return registry
    return None


def _run_with_retries(settings, func, args: tuple, kwargs: dict, retry: Retry | None) -> None:
    with _as_requested(kwargs) as kwargs:
        _run_with_retries_as_requested(settings, func, args, kwargs, retry)


def _run_with_retries_as_requested(settings, func, args, kwargs, retry) -> None:
    runs = 1 + (retry.max if retry is not None else 0)
    for done in range(runs):
        try:
            func(settings, *args, **kwargs)
            return
        except Exception as error:
            name = getattr(func, "__name__", func)
            if done + 1 == runs:
                log.exception("job %s failed for good", name)
                return
            delay = Retry.get_interval(done, retry.intervals)
            log.warning("job %s failed (%s); again in %s s", name, error, delay)
            time.sleep(delay)


@contextmanager
def database(settings) -> Iterator:
    """A session of the job's own in one transaction, committed when the block ends normally."""
    registry = application_registry(settings)

    def prepare(factory):
        if registry is not None:
            # Without Redis the application's caches live in its process, where only the commits
            # of its own session factory forget them: this job's commits must too (the
            # leaderboard and the figures after an account's deletion, say).
            cache.listen(factory, registry["cache"])

    with own_session(settings, prepare) as db:
        yield db


# --- the worker --------------------------------------------------------------------------------


class SettingsJob(Job):
    """An RQ job whose function is called with the worker's settings first."""

    settings: dict | None = None

    def _execute(self) -> Any:
        with _as_requested(self.kwargs) as kwargs:
            return self.func(self.settings, *self.args, **kwargs)


class _SettingsWorkerMixin:
    """A worker that runs SettingsJobs with the settings of its .ini."""

    job_class = SettingsJob

    def __init__(self, *args, settings: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = settings

    def perform_job(self, job, *args, **kwargs):
        job.settings = self.settings
        return super().perform_job(job, *args, **kwargs)


class Worker(_SettingsWorkerMixin, rq.Worker):
    """Forks a work horse per job, as RQ's Worker: a crashing job cannot take the worker down."""


class SimpleWorker(_SettingsWorkerMixin, rq.SimpleWorker):
    """Runs jobs in its own process (tests, platforms without fork)."""


FAILED_SHOWN = 20


def overview(settings) -> dict:
    """What the job queues hold, for the admins' /admin/rq page: per queue the jobs waiting,
    running, failed and scheduled for a retry; the workers; the latest failures.

    `backend` is "rq" (Redis), "in-process" (no redis.url: jobs run in the web process, nothing
    waits) or "unreachable" (Redis did not answer)."""
    if not settings["redis.url"]:
        return {"backend": "in-process", "queues": [], "workers": [], "failed": []}

    def read(connection) -> dict:
        queues, failed = [], []
        for name in settings["jobs.queues"]:
            queue = rq.Queue(name, connection=connection)
            registry = queue.failed_job_registry
            queues.append(
                {
                    "name": name,
                    "queued": queue.count,
                    "started": queue.started_job_registry.count,
                    "failed": registry.count,
                    "scheduled": queue.scheduled_job_registry.count,
                }
            )
            for job in Job.fetch_many(registry.get_job_ids(0, FAILED_SHOWN - 1), connection):
                if job is not None:
                    failed.append(_failed_job(name, job))
        workers = [
            {
                "name": worker.name,
                "state": worker.get_state(),
                "queues": worker.queue_names(),
            }
            for worker in rq.Worker.all(connection=connection)
        ]
        return {"backend": "rq", "queues": queues, "workers": workers, "failed": failed}

    unreachable = {"backend": "unreachable", "queues": [], "workers": [], "failed": []}
    return either(get_redis(settings["redis.url"], settings), read, lambda: unreachable)


def _failed_job(queue: str, job) -> dict:
    # The last line of the traceback says what went wrong; the rest is for the worker's log.
    outcome = job.latest_result()
    lines = ((outcome.exc_string if outcome is not None else "") or "").strip().splitlines()
    return {
        "id": job.id,
        "queue": queue,
        "function": job.func_name,
        "enqueued_at": job.enqueued_at.isoformat() if job.enqueued_at else None,
        "error": lines[-1] if lines else "",
    }


def run_worker(settings: dict, args) -> int:
    """`crowdnest worker`: serve the RQ queues of jobs.queues (or --queue) until stopped."""
    if not settings["redis.url"]:
        print(
            "crowdnest: error: the worker needs redis.url; without Redis jobs run in the web "
            "process",
            file=sys.stderr,
        )
        return 1
    setup_logging(args.config)
    # The enabled plugins' own settings (crowdnest_settings): their jobs read them.
    get_plugin_manager(settings)
    queues = args.queue or settings["jobs.queues"]
    # Not get_redis's short socket timeout: the worker blocks on its queues far longer.
    connection = redis.Redis.from_url(settings["redis.url"])
    worker_class = SimpleWorker if args.simple else Worker
    worker = worker_class(queues, connection=connection, settings=settings)
    print(f"serving queues {', '.join(queues)}")
    # The scheduler moves jobs due for a retry (webhooks' backoff) back onto their queue.
    worker.work(burst=args.burst, with_scheduler=True)
    return 0


def add_worker_command(commands) -> None:
    """Register `crowdnest worker` on the command line's subparsers."""
    worker = commands.add_parser("worker", help="run background jobs (RQ on redis.url)")
    worker.add_argument(
        "--queue", action="append", help="a queue to serve (default: jobs.queues); repeatable"
    )
    worker.add_argument("--burst", action="store_true", help="stop once the queues are empty")
    worker.add_argument("--simple", action="store_true", help="run jobs without forking")
    worker.set_defaults(run=run_worker)
