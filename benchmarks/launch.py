"""Answers a project launch wastes, per scheduler; and its time to completion when volunteers
abandon tasks (issue 24, behavior.md decision 25).

A launch: a fresh project of --tasks tasks (n_answers --n-answers; each task one language of
four in `user_pref`, as contribute.py's volunteers) and --crowds volunteers asking at once, each
looping newtask -> POST /api/taskrun until newtask answers `{}`. For each scheduler it prints
the answers needed, the answers collected and the waste (answers beyond n_answers, in % of those
needed), the launch's seconds, its requests per second (newtask and taskrun) as a fraction of
the floor (benchmarks/floor.py, measured before and after in the same run), and the CPU ms a
request cost gunicorn and the PostgreSQL backends (from /proc).

Then the same launches with one volunteer in ten (--abandon-share) who takes a task every
1.5 x --pending-ttl seconds and never answers, on servers whose scheduler.pending_ttl is
--pending-ttl: the time to completion of the project against the launch without them.

Servers are started as contribute.py starts them: `gunicorn --paste production.ini -w 4` on
loopback over a PostgreSQL database of its own (--db: its schema dropped, recreated, migrated)
and Redis (--redis: flushed before each launch). --compare GIT_REF serves GIT_REF's tree too
(a temporary git worktree, as contribute.py --compare does) and alternates the trees for
each launch, A (GIT_REF) then B (this tree), --compare-rounds times; medians are printed with
B's change. Newtask and cycle throughput before and after: contribute.py --compare.

    python benchmarks/launch.py [--db URL] [--redis URL] [--schedulers a,b] [--crowds 20,64]
        [--compare GIT_REF] [--compare-rounds 2] [--pending-ttl 2] [--no-abandon] [--no-floor]

A launch that has not finished after --deadline seconds is stopped and marked. Needs
`pip install -e .`, PostgreSQL (a role that may CREATE DATABASE) and Redis. Loopback only;
every loop is bounded in time. Not a test.
"""

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field

import psycopg
import redis
from api_list import ROOT, free_port, libpq_url, start_gunicorn, stop, worker_pids
from contribute import (
    JsonClient,
    api_key,
    client_backend_pids,
    create_database,
    preference,
    seed,
    user_ids,
    worktree,
)
from floor import Floor
from httpload import cpu_by_pid, cpu_spent, fetch

from core.db import get_engine, get_session_factory
from core.models import Project, ProjectStats, Task

DEFAULT_DB = "postgresql+psycopg://crowdnest:crowdnest@localhost/crowdnest_bench_launch"
# Flushed before each launch: not a database the test suite or contribute.py uses.
DEFAULT_REDIS = "redis://localhost:6379/9"
SCHEDULERS = ("default", "depth_first", "breadth_first", "incremental", "user_pref")
# The project contribute.seed makes (one task): the launches' projects come after it.
SEEDED_PROJECT = 1


@dataclass
class Launch:
    """What one launch gave."""

    needed: int
    collected: int = 0
    extra: int = 0
    # Extra answers handed out before the last phase (outcome).
    during: int = 0
    over_tasks: int = 0
    completed: int = 0
    tasks: int = 0
    seconds: float = 0.0
    requests: int = 0
    errors: int = 0
    app_cpu_ms: float = float("nan")
    db_cpu_ms: float = float("nan")
    stopped: bool = False
    statuses: Counter = field(default_factory=Counter)

    @property
    def waste(self) -> float:
        return 100 * self.extra / self.needed

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def new_project(url: str, scheduler: str, n_tasks: int, n_answers: int) -> int:
    """A published project served by `scheduler`, with its tasks (one language each)."""
    name = f"launch-{scheduler}-{uuid.uuid4().hex[:12]}"
    engine = get_engine({"sqlalchemy.url": url})
    session = get_session_factory(engine)()
    try:
        owned = session.get(Project, SEEDED_PROJECT)
        project = Project(
            name=name,
            short_name=name,
            description=f"A launch served by {scheduler}",
            published=True,
            owner_id=owned.owner_id,
            category_id=owned.category_id,
            info={"sched": scheduler, "task_presenter": "<div></div>"},
        )
        project.set_owners([owned.owner_id])
        session.add(project)
        session.flush()
        session.add(ProjectStats(project_id=project.id, n_tasks=n_tasks))
        session.add_all(
            Task(
                project_id=project.id,
                n_answers=n_answers,
                info={"n": n},
                user_pref=json.loads(preference(n)),
            )
            for n in range(n_tasks)
        )
        session.commit()
        return project.id
    finally:
        session.close()


def outcome(url: str, project_id: int, crowd: int, launch: Launch) -> None:
    """Fill in the launch's answers, waste and completion from the database. An answer is
    extra when its task had its n_answers before it (finish order); it was handed out in the
    last phase when the answers still needed had fallen to the crowd's size by then (from
    then on a volunteer with nothing else left is handed a task others hold, rather than
    turned away: tests/concurrency/test_launch.py's Waste)."""
    with psycopg.connect(libpq_url(url)) as connection:
        tasks = connection.execute(
            "SELECT id, n_answers FROM task WHERE project_id = %s", (project_id,)
        ).fetchall()
        rows = connection.execute(
            "SELECT task_id, finish_time, created FROM task_run WHERE project_id = %s"
            " ORDER BY finish_time",
            (project_id,),
        ).fetchall()
    answers = {task_id: [] for task_id, _ in tasks}
    for task_id, finished, handed_out in rows:
        answers[task_id].append((finished, handed_out))
    wanted = dict(tasks)
    needed = sorted(f for task_id, runs in answers.items() for f, _ in runs[: wanted[task_id]])
    extras = [run for task_id, runs in answers.items() for run in runs[wanted[task_id] :]]
    ending = needed[len(needed) - crowd - 1] if len(needed) > crowd else ""
    launch.tasks = len(tasks)
    launch.collected = len(rows)
    launch.extra = len(extras)
    launch.during = sum(handed_out < ending for _, handed_out in extras)
    launch.over_tasks = sum(len(runs) > wanted[task_id] for task_id, runs in answers.items())
    launch.completed = sum(len(runs) >= wanted[task_id] for task_id, runs in answers.items())


class Server:
    """One tree served by gunicorn, with the settings given."""

    def __init__(self, args, root: str, settings: dict[str, str]):
        self.port = free_port()
        log_path = os.path.join(tempfile.gettempdir(), f"crowdnest-launch-{self.port}.log")
        self.process = start_gunicorn(
            args.db, args.redis, self.port, args.workers, log_path, root=root, settings=settings
        )
        # Every worker's database connection opened before a launch counts its backends' CPU.
        warm = f"/api/project/{SEEDED_PROJECT}/newtask"
        threads = [
            threading.Thread(target=fetch, args=(self.port, warm)) for _ in range(8 * args.workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    def close(self) -> None:
        stop(self.process)


def launch(args, server: Server, project_id: int, crowd: int, leaving: int) -> Launch:
    """`crowd` volunteers on the project at once, `leaving` of them abandoning tasks."""
    users = list(user_ids(crowd))
    answering, abandoning = users[: crowd - leaving], users[crowd - leaving :]
    result = Launch(needed=0)
    lock, done = threading.Lock(), threading.Event()
    deadline = time.monotonic() + args.deadline
    newtask = f"/api/project/{project_id}/newtask?api_key="

    def count(kind: str, status: int) -> None:
        with lock:
            result.statuses[f"{kind} {status}"] += 1
            result.requests += 1
            result.errors += status != 200

    def volunteer(user_id: int) -> None:
        client, key = JsonClient(server.port), api_key(user_id)
        while time.monotonic() < deadline:
            try:
                status, body = client.get(newtask + key)
                count("newtask", status)
                if status != 200:
                    time.sleep(0.05)
                    continue
                task = json.loads(body)
                if not task:
                    break
                answer = {"project_id": project_id, "task_id": task["id"], "info": {"a": 1}}
                status, _ = client.post(f"/api/taskrun?api_key={key}", answer)
                count("taskrun", status)
            except (OSError, ValueError):
                client.close()
                with lock:
                    result.errors += 1
        else:
            result.stopped = True
        client.close()

    def abandoner(user_id: int) -> None:
        client, key = JsonClient(server.port), api_key(user_id)
        while not done.is_set():
            try:
                count("abandoned newtask", client.get(newtask + key)[0])
            except OSError:
                client.close()
            done.wait(1.5 * args.pending_ttl)
        client.close()

    threads = [threading.Thread(target=volunteer, args=(u,), daemon=True) for u in answering]
    leavers = [threading.Thread(target=abandoner, args=(u,), daemon=True) for u in abandoning]
    pids = worker_pids(server.process), client_backend_pids(args.db)
    cpu_before = [cpu_by_pid(group) for group in pids]
    began = time.perf_counter()
    for thread in threads + leavers:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 35)
    result.seconds = time.perf_counter() - began
    done.set()
    for thread in leavers:
        thread.join(30)
    cpu_after = [cpu_by_pid(group) for group in pids]
    app_ms, db_ms = (
        cpu_spent(before, after) * 1000 / max(1, result.requests)
        for before, after in zip(cpu_before, cpu_after, strict=True)
    )
    result.app_cpu_ms, result.db_cpu_ms = app_ms, db_ms
    return result


class Runner:
    """Launches, each on a fresh project."""

    def __init__(self, args):
        self.args = args
        self.redis = redis.Redis.from_url(args.redis)

    def run(self, server: Server, scheduler: str, crowd: int, leaving: int) -> Launch:
        args = self.args
        project_id = new_project(args.db, scheduler, args.tasks, args.n_answers)
        self.redis.flushdb()
        found = launch(args, server, project_id, crowd, leaving)
        found.needed = args.tasks * args.n_answers
        outcome(args.db, project_id, crowd, found)
        return found


def median_launch(launches: list[Launch]) -> Launch:
    """Each figure's median over launches of the same thing."""
    first = launches[0]
    median = statistics.median
    return Launch(
        needed=first.needed,
        collected=round(median(x.collected for x in launches)),
        extra=round(median(x.extra for x in launches)),
        during=round(median(x.during for x in launches)),
        over_tasks=round(median(x.over_tasks for x in launches)),
        completed=min(x.completed for x in launches),
        tasks=first.tasks,
        seconds=median(x.seconds for x in launches),
        requests=round(median(x.requests for x in launches)),
        errors=sum(x.errors for x in launches),
        app_cpu_ms=median(x.app_cpu_ms for x in launches),
        db_cpu_ms=median(x.db_cpu_ms for x in launches),
        stopped=any(x.stopped for x in launches),
    )


def line(name: str, x: Launch, floor: Floor) -> str:
    flags = (" STOPPED at the deadline" if x.stopped else "") + (
        f" {x.tasks - x.completed} TASKS NOT COMPLETED" if x.completed < x.tasks else ""
    )
    return (
        f"{name:40} {x.needed:6} {x.collected:6} {x.extra:6} {x.waste:7.1f}% {x.during:6}"
        f" {x.over_tasks:5}"
        f" {x.seconds:7.1f} {x.per_second:6.0f} {floor.of(x.per_second):>16}"
        f" {x.app_cpu_ms:5.2f} {x.db_cpu_ms:5.2f} {x.errors:5}{flags}"
    )


HEADER = (
    f"{'launch':40} {'needed':>6} {'answers':>6} {'extra':>6} {'waste':>8} {'before':>6}"
    f" {'tasks':>5} {'seconds':>7} {'req/s':>6} {'':>16} {'app':>5} {'db':>5} {'errs':>5}"
)
LEGEND = (
    "extra: answers beyond n_answers; waste: extra in % of needed; before: extra answers"
    " handed out before the last phase (the answers still needed down to the crowd's size);"
    " tasks: tasks over-answered; seconds: until every volunteer got {}; req/s: newtask and"
    " taskrun requests a second, and as a fraction of the floor; app, db: CPU ms a request"
    " of gunicorn and of the PostgreSQL backends; errs: non-200 answers and errors"
)


def measure(args, trees: dict[str, str], settings: dict[str, str], leaving_share: int):
    """Every scheduler and crowd on every tree, the trees alternating: {(tree, scheduler,
    crowd): [Launch]}; with leaving_share, one volunteer in that many abandons tasks."""
    found: dict[tuple, list[Launch]] = {}
    runner = Runner(args)
    rounds = args.compare_rounds if len(trees) > 1 else 1
    with ExitStack() as stack:
        servers = {}
        for label, root in trees.items():
            servers[label] = server = Server(args, root, settings)
            stack.callback(server.close)
        for scheduler in args.schedulers:
            for crowd in args.crowds:
                leaving = crowd // leaving_share if leaving_share else 0
                for _ in range(rounds):
                    for label, server in servers.items():
                        x = runner.run(server, scheduler, crowd, leaving)
                        found.setdefault((label, scheduler, crowd), []).append(x)
                        name = f"{label + ' ' if label else ''}{scheduler} x{crowd}"
                        name += f" ({leaving} abandon)" if leaving else ""
                        print(line(name, x, args.floor), flush=True)
    runner.redis.close()
    return found


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB, help="PostgreSQL SQLAlchemy URL (emptied!)")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="Redis URL (flushed!)")
    parser.add_argument("--schedulers", default=",".join(SCHEDULERS))
    parser.add_argument("--crowds", default="20,64", help="volunteers asking at once")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--n-answers", type=int, default=2)
    parser.add_argument(
        "--pending-ttl",
        type=int,
        default=2,
        help="scheduler.pending_ttl of the abandon launches' servers (seconds)",
    )
    parser.add_argument(
        "--abandon-share", type=int, default=10, help="one volunteer in this many abandons"
    )
    parser.add_argument("--no-abandon", action="store_true", help="skip the abandon launches")
    parser.add_argument("--compare", metavar="GIT_REF", help="also serve GIT_REF's tree (A)")
    parser.add_argument("--compare-rounds", type=int, default=2, help="A/B pairs per launch")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds a launch may take")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor")
    args = parser.parse_args(argv)
    args.schedulers = [name.strip() for name in args.schedulers.split(",") if name.strip()]
    args.crowds = [int(size) for size in args.crowds.split(",") if size.strip()]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.db.startswith("postgresql"):
        raise SystemExit("--db must be a PostgreSQL URL")
    create_database(args.db)
    seed(args.db, 1, 0, max(args.crowds))
    args.floor = Floor(16, 5.0, 1.0, args.workers)
    if not args.no_floor:
        args.floor.measure()
    with ExitStack() as stack:
        trees = {"": ROOT}
        if args.compare:
            trees = {f"A {args.compare}": stack.enter_context(worktree(args.compare)), "B": ROOT}
        print(HEADER, flush=True)
        launches = measure(args, trees, {}, 0)
        abandoned = {}
        if not args.no_abandon:
            ttl = {"CROWDNEST_SCHEDULER_PENDING_TTL": str(args.pending_ttl)}
            abandoned = measure(args, trees, ttl, args.abandon_share)
    if not args.no_floor:
        args.floor.measure()

    print(
        f"\n{args.tasks} tasks, n_answers {args.n_answers} ({args.tasks * args.n_answers} "
        f"answers needed); gunicorn -w {args.workers}; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}; loopback"
    )
    if args.floor.found:
        print(args.floor.summary())
    rounds = f"medians of {args.compare_rounds}" if args.compare else "one launch each"
    print(f"\nlaunches ({rounds}); {LEGEND}:")
    print(HEADER)
    for (label, scheduler, crowd), found in launches.items():
        name = f"{label + ' ' if label else ''}{scheduler} x{crowd}"
        print(line(name, median_launch(found), args.floor))
    if abandoned:
        print(
            f"\none volunteer in {args.abandon_share} takes a task every "
            f"{1.5 * args.pending_ttl:g} s and never answers; scheduler.pending_ttl "
            f"{args.pending_ttl} s:"
        )
        print(HEADER)
        for (label, scheduler, crowd), found in abandoned.items():
            leaving = crowd // args.abandon_share
            name = f"{label + ' ' if label else ''}{scheduler} x{crowd} ({leaving} abandon)"
            print(line(name, median_launch(found), args.floor))
        print("\ntime to completion, without -> with the abandoning volunteers:")
        for key, found in abandoned.items():
            label, scheduler, crowd = key
            before = median_launch(launches[key]).seconds
            after = median_launch(found)
            name = f"{label + ' ' if label else ''}{scheduler} x{crowd}"
            print(
                f"{name:40} {before:6.1f} s -> {after.seconds:6.1f} s"
                f" ({after.seconds / before - 1:+.0%}); waste {after.waste:.1f}%"
            )
    if args.compare:
        print(f"\nB (this tree) against A ({args.compare}), waste and seconds:")
        labels = list(trees)
        for scheduler in args.schedulers:
            for crowd in args.crowds:
                a, b = (median_launch(launches[label, scheduler, crowd]) for label in labels)
                print(
                    f"{scheduler:13} x{crowd:<3} waste {a.waste:6.1f}% -> {b.waste:5.1f}%"
                    f" ({a.collected} -> {b.collected} answers for {a.needed});"
                    f" {a.seconds:5.1f} -> {b.seconds:5.1f} s"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
