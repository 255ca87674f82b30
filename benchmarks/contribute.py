"""Requests per second and p50/p99 of task delivery (newtask, taskrun) under gunicorn.

Seeds a PostgreSQL database (created when missing; its schema dropped, recreated and migrated)
with one project of --tasks tasks, --runs task runs by --users users (10 runs a task by
default, n_answers 30, so every task stays open; tasks and users each with one language of
four in `user_pref`), by COPY; starts `gunicorn --paste production.ini -w 4` on loopback with
that database and Redis; then, for each of the `default`, `breadth_first`, `locked`,
`incremental` and `user_pref` schedulers (the project's info.sched), drives with --clients
concurrent clients for --duration seconds:

    anonymous newtask      GET /api/project/1/newtask
    authenticated newtask  the same with ?api_key=, each request another user
    newtask + taskrun      newtask then POST /api/taskrun, each cycle another user

After each scheduler's cycles it counts, in the database, the tasks holding more answers than
their n_answers: `locked` must leave none (the script says OK or FAIL, and exits with 1 on a
FAIL); the others may, when volunteers answer the same task at once.

Redis (the guard stamps and `locked` reservations) is flushed before each measurement, so one
measurement's unanswered reservations never crowd the next.

The floor (benchmarks/floor.py): a trivial WSGI app served the same way (gunicorn, workers,
load client, clients, duration) is measured before and after the others, and every figure is
also printed as a fraction of the floor's req/s ("0.31 of floor"): what share of the bare
serving speed of this machine the request keeps, a figure that compares across machines.

--compare GIT_REF measures main before against after in one run: GIT_REF's tree is checked out
into a temporary git worktree, both trees are served at once (each gunicorn with PYTHONPATH at
its tree, on the same database and Redis), and each figure is measured on A (GIT_REF), then B
(this tree), --compare-rounds times (A, B, A, B), then printed as medians with B's change.

Then the size sweep: authenticated newtask (each scheduler) against a database of each of
--sizes tasks (10 runs a task), one database a size (the --db name with `_s<size>`), to show
how latency grows with the tables. The sizes are measured interleaved, in --rounds rounds (each
round visits every size, the next round in the reverse order), and the growth is taken within
each round: on a shared machine whose speed moves by tens of percent within minutes, sizes
measured one after the other, minutes apart, differ by the machine's pace as much as by their
size. Newtask writes nothing to the database, so a sweep database is seeded once and kept
while it holds its size untouched (--reseed seeds them again).

Prints the figures as they come, then one table; CPU ms/request (from /proc) splits each
request's cost between gunicorn, the PostgreSQL backends of its connections (autovacuum workers
not counted: they run when earlier writes call for them), redis-server (a local one) and this
load generator; on a shared machine, compare CPU ms/request rather than req/s (the client's
column, whose work is the same in every run, shows how fast the machine ran: here the same code
gave 268 and 132 cycles/s within an hour). Their total gives each figure's ceiling: the rate
that CPU per request allows on this machine's cores with nothing else running. For the targets
of issue 19 (`locked`, `incremental`, `user_pref`: newtask 1,000 req/s, the cycle 400/s) it
prints the CPU per request each needs here, the measured one, and whether the ceiling reaches
it. During the cycles it samples what the PostgreSQL backends running a statement wait on
(pg_stat_activity, every 20 ms): on CPU, row locks (held by other answers until their commit),
the WAL flush of a commit, other; the mean number of backends in each.

A database kept by --reuse (and a kept sweep database) is brought to alembic's head first: one
seeded before a migration would be measured without its indexes.

    python benchmarks/contribute.py [--quick] [--db URL] [--redis URL] [--schedulers a,b]
        [--compare GIT_REF] [--compare-rounds 2] [--sizes 10000,100000] [--rounds 3]
        [--reuse] [--reseed] [--no-floor]

--quick (10,000 tasks, 3 s a figure, no sweep) takes under 3 minutes, about twice that with
--compare. Needs `pip install -e .`, PostgreSQL (a role that may CREATE DATABASE) and Redis.
Loopback only; every loop is bounded in time. Not a test.
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import ExitStack, contextmanager

import psycopg
import redis
from api_list import (
    ROOT,
    _copy,
    free_port,
    libpq_url,
    reset_schema,
    seed_projects,
    start_gunicorn,
    stop,
    worker_pids,
)
from floor import Floor
from httpload import Client, Figures, measure
from sqlalchemy.engine import make_url

from core.migrate import upgrade

DEFAULT_DB = "postgresql+psycopg://crowdnest:crowdnest@localhost/crowdnest_bench2"
# Flushed before each measurement: not a database the test suite uses (13, 12; 14 for the
# concurrency proof).
DEFAULT_REDIS = "redis://localhost:6379/10"
SCHEDULERS = ("default", "breadth_first", "locked", "incremental", "user_pref")
CREATED = "2024-01-01T00:00:00.000000"
RUNS_PER_TASK = 10
N_ANSWERS = 30
PROJECT_ID = 1
# Tasks and volunteers each have one (the user_pref scheduler's matching tasks: one in four).
LANGUAGES = ("en", "fr", "de", "es")


# -- seeding --------------------------------------------------------------------------------


def create_database(url: str) -> None:
    """CREATE DATABASE when it does not exist (through the server's `postgres` database)."""
    parsed = make_url(url)
    admin_url = libpq_url(parsed.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        found = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
        ).fetchone()
        if not found:
            admin.execute(f'CREATE DATABASE "{parsed.database}"')


def api_key(user_id: int) -> str:
    """A stable api key per user id, so a --reuse run knows every key without a query."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crowdnest-bench-user-{user_id}"))


def user_ids(n_users: int) -> range:
    """Volunteer ids: 1 and 2 are the project owner and the volunteer api_list.seed_projects
    seeds."""
    return range(3, n_users + 3)


def preference(number: int) -> str:
    """A user's or task's `user_pref` (the user_pref scheduler): one language of four."""
    return json.dumps({"languages": [LANGUAGES[number % len(LANGUAGES)]]})


def seed(url: str, n_tasks: int, n_runs: int, n_users: int) -> float:
    """Empty the database, then seed owner, project, users, tasks and runs; returns seconds."""
    began = time.perf_counter()
    reset_schema(url)
    seed_projects(url, 1, n_tasks, n_runs)
    with psycopg.connect(libpq_url(url)) as connection, connection.cursor() as cursor:
        _copy(
            cursor,
            'COPY "user" (id, created, email_addr, name, fullname, locale, api_key, admin, pro, '
            "privacy_mode, restrict, newsletter_prompted, valid_email, confirmation_email_sent, "
            "subscribed, consent, info, user_pref) FROM STDIN",
            (
                f"{uid}\t{CREATED}\tv{uid}@example.org\tv{uid}\tVolunteer {uid}\ten"
                f"\t{api_key(uid)}\tf\tf\tt\tf\tf\tt\tf\tf\tt\t{{}}\t{preference(uid)}\n"
                for uid in user_ids(n_users)
            ),
        )
        _copy(
            cursor,
            "COPY task (id, created, project_id, state, quorum, calibration, priority_0, info, "
            "n_answers, n_task_runs, user_pref) FROM STDIN",
            (
                f"{tid}\t{CREATED}\t{PROJECT_ID}\tongoing\t0\t0\t{tid % 10 / 10}"
                f'\t{{"url": "https://example.org/{tid}.jpg", "n": {tid}}}\t{N_ANSWERS}'
                f"\t{_runs_of(tid, n_runs)}\t{preference(tid)}\n"
                for tid in range(1, n_tasks + 1)
            ),
        )
        if n_runs:
            _copy(
                cursor,
                "COPY task_run (id, created, project_id, task_id, user_id, finish_time, info) "
                "FROM STDIN",
                _run_lines(n_runs, n_users),
            )
        cursor.execute("SELECT setval('user_id_seq', %s)", (user_ids(n_users).stop - 1,))
        cursor.execute("SELECT setval('task_id_seq', %s)", (n_tasks,))
        cursor.execute("SELECT setval('task_run_id_seq', %s)", (max(n_runs, 1),))
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
        # Written out now: a checkpoint of the seeded gigabytes must not run while measuring,
        # nor the kernel's writeback of what the checkpoint left in its page cache.
        try:
            connection.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:  # a role without pg_checkpoint
            pass
    os.sync()
    return time.perf_counter() - began


def seeded_size(url: str, untouched: bool = False) -> tuple[int, int, int] | None:
    """(tasks, task runs, volunteers) of the benchmark's project as seeded (None without its
    tables); answers given by earlier measurements are not counted, but with `untouched` any
    answer given since the seeding makes it None."""
    try:
        with psycopg.connect(libpq_url(url)) as connection:
            tasks, seeded, runs, volunteers = connection.execute(
                "SELECT (SELECT count(*) FROM task WHERE project_id = %s),"
                " (SELECT count(*) FROM task_run WHERE project_id = %s AND created = %s),"
                " (SELECT count(*) FROM task_run),"
                ' (SELECT count(*) FROM "user" WHERE id > 2)',
                (PROJECT_ID, PROJECT_ID, CREATED),
            ).fetchone()
    except psycopg.Error:
        return None
    if untouched and runs != seeded:
        return None
    return tasks, seeded, volunteers


def _runs_of(task_id: int, n_runs: int) -> int:
    return max(0, min(RUNS_PER_TASK, n_runs - (task_id - 1) * RUNS_PER_TASK))


def _run_lines(n_runs: int, n_users: int):
    """RUNS_PER_TASK runs a task, by distinct users spread over the whole user table."""
    first = user_ids(n_users).start
    for run_id in range(1, n_runs + 1):
        task_id, slot = divmod(run_id - 1, RUNS_PER_TASK)
        user_id = first + (task_id * RUNS_PER_TASK + slot) % n_users
        yield (
            f"{run_id}\t{CREATED}\t{PROJECT_ID}\t{task_id + 1}\t{user_id}\t{CREATED}"
            '\t{"answer": "yes"}\n'
        )


def set_scheduler(url: str, scheduler: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute(
            "UPDATE project SET info = jsonb_set(info::jsonb, '{sched}', to_jsonb(%s::text))"
            " WHERE id = %s",
            (scheduler, PROJECT_ID),
        )


# -- the load -------------------------------------------------------------------------------


class JsonClient(Client):
    """httpload's keep-alive-aware client, with a JSON POST."""

    def post(self, path: str, body: dict) -> tuple[int, bytes]:
        if self.sock is None:
            self._connect()
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + payload)
        lines = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in lines[1:])
        )
        body_bytes = self._read_exactly(int(headers.get("content-length", 0)))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(lines[0].split()[1]), body_bytes


def newtask_path(key: str | None = None) -> str:
    path = f"/api/project/{PROJECT_ID}/newtask"
    return f"{path}?api_key={key}" if key else path


def anonymous_newtask(client, user_id):
    status, body = client.get(newtask_path())
    return status == 200 and body.startswith(b'{"id"')


def authenticated_newtask(client, user_id):
    status, body = client.get(newtask_path(api_key(user_id)))
    return status == 200 and body.startswith(b'{"id"')


def cycle(client, user_id):
    """One volunteer's newtask, then their answer to the task handed out."""
    key = api_key(user_id)
    status, body = client.get(newtask_path(key))
    if status != 200 or not body.startswith(b'{"id"'):
        return False
    task = json.loads(body)
    answer = {"project_id": PROJECT_ID, "task_id": task["id"], "info": {"answer": "yes"}}
    status, _ = client.post(f"/api/taskrun?api_key={key}", answer)
    return status == 200


def drive(
    port, step, users, clients, duration, app_pids=(), db_pids=(), redis_pids=None
) -> Figures:
    """`clients` threads repeat `step(client, user_id)` for `duration` seconds, each thread
    walking its own share of the users so that no two threads act as the same user."""

    def work(slot, deadline, own, errors):
        client, clock = JsonClient(port), time.perf_counter
        mine = users[slot::clients]
        turn = 0
        while (began := clock()) < deadline:
            try:
                ok = step(client, mine[turn % len(mine)])
            except (OSError, ValueError):
                client.close()
                ok = False
            turn += 1
            own.append(clock() - began)
            errors[slot] += not ok
        client.close()

    return measure(clients, duration, work, app_pids, db_pids, redis_pids)


STEPS = (
    ("anonymous newtask", anonymous_newtask),
    ("authenticated newtask", authenticated_newtask),
    ("newtask + taskrun", cycle),
)


# -- the run --------------------------------------------------------------------------------


def client_backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends of the database's client connections (the servers' own): not
    an autovacuum worker that happens to be running when a measurement starts, whose seconds
    of CPU (a table of a million rows) would be charged to the requests of that measurement
    alone, erratically (they run when earlier measurements' writes call for them)."""
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchall()
    return [pid for (pid,) in rows]


def redis_server_pids(client) -> list[int] | None:
    """The pid of the redis-server behind `client` when it runs on this machine (its CPU is
    counted per request), else None."""
    host = client.connection_pool.connection_kwargs.get("host", "localhost")
    if host not in ("localhost", "127.0.0.1", "::1"):
        return None
    pid = client.info("server").get("process_id")
    return [pid] if pid and os.path.exists(f"/proc/{pid}") else None


# What a PostgreSQL backend serving a request is doing, by pg_stat_activity's wait event.
WAIT_KINDS = ("on CPU", "row locks", "WAL flush", "other waits")
WAL_WAITS = frozenset({"WALSync", "WALWrite", "WALInsert", "WALBufMapping"})


def wait_kind(event_type: str | None, event: str | None) -> str:
    """WAIT_KINDS' name of an active backend's wait event (none: on CPU, or runnable)."""
    if event_type is None:
        return "on CPU"
    if event_type == "Lock":  # a row's transaction id, a tuple: another answer's lock
        return "row locks"
    return "WAL flush" if event in WAL_WAITS else "other waits"


class Waits:
    """Samples, every SAMPLE_SECONDS while open, what the database's client backends that are
    running a statement wait on: `shares()` gives the mean number of backends in each of
    WAIT_KINDS. Where an answer's time goes when it is not CPU (row locks held by other
    answers until their commit, the commit's WAL flush), which CPU figures do not show."""

    SAMPLE_SECONDS = 0.02

    def __init__(self, url: str):
        self.url, self.found, self.samples = url, Counter(), 0
        self._stop = threading.Event()

    def __enter__(self):
        self._connection = psycopg.connect(libpq_url(self.url), autocommit=True)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self._connection.close()

    def _sample(self) -> None:
        query = (
            "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE datname ="
            " current_database() AND pid <> pg_backend_pid() AND state = 'active'"
            " AND backend_type = 'client backend'"
        )
        while not self._stop.wait(self.SAMPLE_SECONDS):
            rows = self._connection.execute(query).fetchall()
            self.found.update(wait_kind(*found) for found in rows)
            self.samples += 1

    def shares(self) -> dict[str, float]:
        return {kind: self.found[kind] / max(1, self.samples) for kind in WAIT_KINDS}


class Bench:
    """One seeded size served by gunicorn; measures steps against it."""

    def __init__(self, args, url: str, root: str = ROOT, port: int = 0):
        self.args, self.url = args, url
        self.users = list(user_ids(args.users))
        self.redis = redis.Redis.from_url(args.redis)
        self.port = port or free_port()
        log_path = os.path.join(tempfile.gettempdir(), f"crowdnest-contribute-{self.port}.log")
        self.server = start_gunicorn(url, args.redis, self.port, args.workers, log_path, root=root)
        self.redis_pids = redis_server_pids(self.redis)
        # What the PostgreSQL backends waited on during the last measurement (Waits.shares).
        self.waits: dict[str, float] = {}

    def measure(self, scheduler: str, step) -> Figures:
        set_scheduler(self.url, scheduler)
        self.redis.flushdb()
        args = self.args
        drive(self.port, step, self.users, args.clients, args.warmup)
        self.redis.flushdb()
        # The backends' pids before the sampler's own connection opens: its CPU is not theirs.
        pids = worker_pids(self.server), client_backend_pids(self.url), self.redis_pids
        if step is not cycle:  # only the cycles' waits are printed: no sampling for the others
            return drive(self.port, step, self.users, args.clients, args.duration, *pids)
        with Waits(self.url) as waits:
            figures = drive(self.port, step, self.users, args.clients, args.duration, *pids)
        self.waits = waits.shares()
        return figures

    def close(self):
        stop(self.server)
        self.redis.close()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB, help="PostgreSQL SQLAlchemy URL (emptied!)")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="Redis URL (flushed!)")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="task counts for the newtask p99 sweep (10 runs a task); '' skips",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the size sweep (each visits every size)"
    )
    parser.add_argument(
        "--reseed",
        action="store_true",
        help="seed the sweep's databases even when they hold their size",
    )
    parser.add_argument(
        "--schedulers",
        default=",".join(SCHEDULERS),
        help="comma-separated schedulers to measure (default: all five)",
    )
    parser.add_argument(
        "--compare",
        metavar="GIT_REF",
        help="also serve GIT_REF's tree (checked out into a temporary worktree) and alternate"
        " it (A) with this tree (B), A, B, A, B..., for each figure",
    )
    parser.add_argument(
        "--compare-rounds", type=int, default=2, help="A/B pairs per figure with --compare"
    )
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the floor (benchmarks/floor.py)"
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free loopback port")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the seeded data of the main size (skips its seeding; seeds when the database"
        " holds another size)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="10,000 tasks, 100,000 runs, 2,000 users, 3 s each, no size sweep (under 3 min;"
        " about twice that with --compare)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.runs, args.users = 10_000, 100_000, 2_000
        args.duration, args.warmup, args.sizes = 3.0, 1.0, ""
        args.compare_rounds = 1
    args.sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    args.schedulers = [name.strip() for name in args.schedulers.split(",") if name.strip()]
    return args


def total_cpu_ms(f: Figures) -> float:
    """CPU ms per request of every process serving it: gunicorn, PostgreSQL, Redis (when
    measured) and the load client, which shares the machine."""
    redis_ms = 0.0 if f.redis_cpu_ms != f.redis_cpu_ms else f.redis_cpu_ms  # NaN: not measured
    return f.app_cpu_ms + f.db_cpu_ms + redis_ms + f.client_cpu_ms


def ceiling(f: Figures) -> float:
    """Requests per second that CPU per request allows on this machine's cores with nothing
    else running: what a figure would be on a quiet machine, when CPU is what bounds it."""
    return (os.cpu_count() or 1) * 1000 / total_cpu_ms(f)


def row(label: str, f: Figures) -> str:
    return (
        f"{label:48} {f.per_second:7.0f} {f.p50_ms:7.1f} {f.p99_ms:7.1f} {f.errors:6}   "
        f"{f.app_cpu_ms:5.2f} {f.db_cpu_ms:5.2f} {f.redis_cpu_ms:5.2f} {f.client_cpu_ms:6.2f}"
        f" {total_cpu_ms(f):6.2f} {ceiling(f):7.0f}"
    )


# Issue 19's targets for the schedulers beyond default and breadth_first (req/s; the cycle in
# cycles/s), checked against the CPU per request they need on this machine's cores.
TARGETS = {
    ("locked", "authenticated newtask"): 1000,
    ("incremental", "authenticated newtask"): 1000,
    ("user_pref", "authenticated newtask"): 1000,
    ("locked", "newtask + taskrun"): 400,
    ("incremental", "newtask + taskrun"): 400,
    ("user_pref", "newtask + taskrun"): 400,
}


def target_rows(found: dict, floor) -> list[str]:
    """Each target: the CPU ms per request it needs on this machine's cores (the load client
    included), what was measured (medians per tree), the ceiling that allows, and the rate as
    a fraction of the floor."""
    cores = os.cpu_count() or 1
    lines = []
    for (label, scheduler, step), figures in found.items():
        target = TARGETS.get((scheduler, step))
        if target is None:
            continue
        f = median_of(figures) if len(figures) > 1 else figures[0]
        verdict = "within reach" if ceiling(f) >= target else "OUT OF REACH"
        name = f"{label + ' ' if label else ''}{scheduler} {step}"
        lines.append(
            f"{name:44} target {target:5}/s needs <= {cores * 1000 / target:.2f} ms CPU; "
            f"measured {total_cpu_ms(f):.2f} ms -> ceiling {ceiling(f):5.0f}/s ({verdict}); "
            f"{f.per_second:5.0f}/s here, {floor.of(f.per_second)}"
        )
    return lines


def sweep_url(url: str, size: int) -> str:
    """The sweep's database of `size` tasks: the --db database's name with `_s<size>`."""
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_s{size}").render_as_string(hide_password=False)


def prepare_sweep(args) -> dict[int, str]:
    """{size: its database URL}, each database seeded unless it holds its size untouched."""
    urls = {}
    for size in args.sizes:
        url = urls[size] = sweep_url(args.db, size)
        create_database(url)
        wanted = (size, size * RUNS_PER_TASK, args.users)
        if not args.reseed and seeded_size(url, untouched=True) == wanted:
            upgrade(url)  # kept: its schema brought to alembic's head (prepare_main)
            print(f"sweep: {size:,} tasks already seeded", flush=True)
            continue
        seconds = seed(url, size, size * RUNS_PER_TASK, args.users)
        print(
            f"sweep: seeded {size:,} tasks, {size * RUNS_PER_TASK:,} runs in {seconds:.0f} s",
            flush=True,
        )
    return urls


def run_sweep(args, urls: dict[int, str]) -> dict[tuple[int, str], list[Figures]]:
    """Authenticated newtask at every size for every scheduler, in rounds: {(size, scheduler):
    one Figures a round}. Each round visits the sizes in the reverse order of the one before."""
    found: dict[tuple[int, str], list[Figures]] = {}
    sizes = list(urls)
    for turn in range(args.rounds):
        for size in sizes if turn % 2 == 0 else reversed(sizes):
            bench = Bench(args, urls[size])
            try:
                for scheduler in args.schedulers:
                    figures = bench.measure(scheduler, authenticated_newtask)
                    found.setdefault((size, scheduler), []).append(figures)
                    label = f"round {turn + 1}: {size:>9,} {scheduler:13} auth."
                    print(row(label, figures), flush=True)
            finally:
                bench.close()
    return found


def sweep_rows(args, found: dict[tuple[int, str], list[Figures]]) -> list[str]:
    """Each size's medians over the rounds (p99's range in brackets), then each scheduler's
    p99 growth from the first size to the last, taken within each round."""

    def median(figures, name):
        return statistics.median(getattr(f, name) for f in figures)

    lines = []
    for (size, scheduler), figures in found.items():
        p99s = [f.p99_ms for f in figures]
        lines.append(
            f"{size:>9,} {scheduler:13} auth. newtask, median of {len(figures)}: "
            f"{median(figures, 'per_second'):5.0f} req/s, p50 {median(figures, 'p50_ms'):5.1f},"
            f" p99 {median(figures, 'p99_ms'):5.1f} ms [{min(p99s):.1f}-{max(p99s):.1f}]; "
            f"client {median(figures, 'client_cpu_ms'):.2f} ms/req"
        )
    first, last = args.sizes[0], args.sizes[-1]
    if first == last:
        return lines
    for scheduler in args.schedulers:
        pairs = zip(found[first, scheduler], found[last, scheduler], strict=True)
        growth = [100 * (high.p99_ms / low.p99_ms - 1) for low, high in pairs]
        each = ", ".join(f"{value:+.1f}%" for value in growth)
        lines.append(
            f"p99 growth {first:,} -> {last:,} tasks, {scheduler:13}: median "
            f"{statistics.median(growth):+.1f}% (rounds: {each})"
        )
    return lines


def answers_mark(url: str) -> int:
    """The last task run's id: answers after it are the next measurement's."""
    with psycopg.connect(libpq_url(url)) as connection:
        return connection.execute("SELECT coalesce(max(id), 0) FROM task_run").fetchone()[0]


def over_answered(url: str, mark: int) -> tuple[int, int]:
    """(tasks answered since `mark` that hold more answers than their n_answers, tasks answered
    since `mark`); then VACUUM the task table, whose rows the answers updated, so that dead
    rows of this measurement do not slow the next one."""
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        found = connection.execute(
            "SELECT count(*) FILTER (WHERE given > n_answers), count(*)"
            " FROM task JOIN (SELECT task_id, count(*) AS given FROM task_run"
            "  WHERE task_id IN (SELECT task_id FROM task_run WHERE id > %s)"
            "  GROUP BY task_id) AS runs ON runs.task_id = task.id",
            (mark,),
        ).fetchone()
        connection.execute("VACUUM ANALYZE task")
    return found


@contextmanager
def worktree(ref: str):
    """A temporary git worktree of `ref` (removed afterwards), for --compare."""
    path = tempfile.mkdtemp(prefix="crowdnest-compare-")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", path, ref], check=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", path], check=False)


def median_of(figures: list[Figures]) -> Figures:
    """The median of each figure over measurements of the same thing."""
    fields = (
        "per_second",
        "p50_ms",
        "p99_ms",
        "app_cpu_ms",
        "db_cpu_ms",
        "client_cpu_ms",
        "redis_cpu_ms",
    )
    found = {name: statistics.median(getattr(f, name) for f in figures) for name in fields}
    rate = found.pop("per_second")
    seconds = statistics.median(f.seconds for f in figures)
    return Figures(
        requests=round(rate * seconds),
        errors=sum(f.errors for f in figures),
        seconds=seconds,
        **found,
    )


def prepare_main(args) -> None:
    """The main size's database seeded, or with --reuse (holding that size) kept and brought
    to alembic's head: a database seeded before a migration would be measured without it (an
    index the statements rely on: `incremental` took 9.5 ms of database CPU a newtask
    without 0014's index, 0.2 ms with it)."""
    if args.reuse and seeded_size(args.db) != (args.tasks, args.runs, args.users):
        print("--reuse: the database holds another size; seeding it again", flush=True)
        args.reuse = False
    if args.reuse:
        upgrade(args.db)
        return
    seconds = seed(args.db, args.tasks, args.runs, args.users)
    print(
        f"seeded {args.tasks:,} tasks, {args.runs:,} runs, {args.users:,} users "
        f"in {seconds:.0f} s",
        flush=True,
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.db.startswith("postgresql"):
        raise SystemExit("--db must be a PostgreSQL URL")
    create_database(args.db)

    prepare_main(args)
    # Seeded before the main measurements: the seeding's writes must not overlap any of them.
    urls = prepare_sweep(args)
    floor = Floor(args.clients, args.duration, args.warmup, args.workers)
    if not args.no_floor:
        floor.measure()
    with ExitStack() as stack:
        trees = {"": ROOT}
        if args.compare:
            trees = {f"A {args.compare}": stack.enter_context(worktree(args.compare)), "B": ROOT}
        benches = {}
        for label, root in trees.items():
            benches[label] = bench = Bench(
                args, args.db, root, args.port if not args.compare else 0
            )
            stack.callback(bench.close)
        found, checks, waits = measure_trees(args, benches)
    if not args.no_floor:
        floor.measure()
    swept = sweep_rows(args, run_sweep(args, urls)) if urls else []

    print(
        f"\n{args.tasks:,} tasks, {args.runs:,} runs, {args.users:,} users; gunicorn -w "
        f"{args.workers}, {args.clients} clients, {args.duration:g} s each; {os.cpu_count()} "
        f"CPUs, load average {os.getloadavg()[0]:.1f}; loopback"
    )
    if floor.found:
        print(floor.summary())
    print(
        f"{'measurement':48} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}   "
        f"CPU ms/request: app, db, redis, client, total; ceiling req/s; fraction of floor"
    )
    for (label, scheduler, step), figures in found.items():
        name = f"{label + ' ' if label else ''}{scheduler} {step}"
        figure = median_of(figures) if len(figures) > 1 else figures[0]
        print(f"{row(name, figure)}   {floor.of(figure.per_second)}")
    if args.compare:
        print(f"\nB (this tree) against A ({args.compare}), medians of {args.compare_rounds}:")
        for scheduler in args.schedulers:
            for step, _ in STEPS:
                before, after = (median_of(found[label, scheduler, step]) for label in benches)
                print(
                    f"{scheduler:13} {step:22} {before.per_second:6.0f} -> "
                    f"{after.per_second:6.0f} req/s "
                    f"({after.per_second / before.per_second - 1:+.0%}); "
                    f"CPU ms/request app {before.app_cpu_ms:.2f} -> {after.app_cpu_ms:.2f}, "
                    f"db {before.db_cpu_ms:.2f} -> {after.db_cpu_ms:.2f}, "
                    f"redis {before.redis_cpu_ms:.2f} -> {after.redis_cpu_ms:.2f}, "
                    f"total {total_cpu_ms(before):.2f} -> {total_cpu_ms(after):.2f}; "
                    f"{floor.of(before.per_second)} -> {floor.of(after.per_second)}"
                )
    print("(newtask + taskrun: one cycle is two requests; req/s counts cycles)")
    print(
        f"(ceiling: the rate that total CPU per request allows on {os.cpu_count()} cores with"
        " nothing else running, the load client included)"
    )
    print(f"\nPostgreSQL backends during the cycles, mean number: {', '.join(WAIT_KINDS)}")
    for (label, scheduler), shares in waits.items():
        name = f"{label + ' ' if label else ''}{scheduler}"
        means = {kind: statistics.mean(share[kind] for share in shares) for kind in WAIT_KINDS}
        print(f"{name:26} " + "  ".join(f"{means[kind]:5.2f}" for kind in WAIT_KINDS))
    targets = target_rows(found, floor)
    if targets:
        print("\ntargets (issue 19):")
        print("\n".join(targets))
    print(
        "\ntasks given more answers than their n_answers by each scheduler's cycles / tasks"
        " the cycles answered:"
    )
    failed = False
    for (label, scheduler), (over, answered) in checks.items():
        verdict = ""
        if scheduler == "locked":
            verdict = (
                "  OK: locked never over-answers" if over == 0 else "  FAIL: locked over-answered"
            )
            failed = failed or over > 0
        name = f"{label + ' ' if label else ''}{scheduler}"
        print(f"{name:26} {over:6} / {answered:6}{verdict}")
    if swept:
        print(f"\nsize sweep, {args.rounds} rounds, sizes interleaved:")
        print("\n".join(swept))
    return 1 if failed else 0


def measure_trees(args, benches: dict) -> tuple[dict, dict, dict]:
    """Every scheduler's steps on every tree's server, the trees alternating for each figure
    (A, B, A, B...): ({(tree, scheduler, step): [Figures]}, {(tree, scheduler): over-answered
    and completed tasks after the cycle}, {(tree, scheduler): [the backends' waits during
    each cycle measurement (Waits.shares)]})."""
    found, checks, waits = {}, {}, {}
    rounds = args.compare_rounds if len(benches) > 1 else 1
    for scheduler in args.schedulers:
        for step_name, step in STEPS:
            for _ in range(rounds):
                for label, bench in benches.items():
                    mark = answers_mark(args.db) if step is cycle else 0
                    figures = bench.measure(scheduler, step)
                    found.setdefault((label, scheduler, step_name), []).append(figures)
                    name = f"{label + ' ' if label else ''}{scheduler} {step_name}"
                    print(row(name, figures), flush=True)
                    if step is cycle:
                        waits.setdefault((label, scheduler), []).append(bench.waits)
                        over, answered = over_answered(args.db, mark)
                        was = checks.get((label, scheduler), (0, 0))
                        checks[label, scheduler] = (was[0] + over, was[1] + answered)
    return found, checks, waits


if __name__ == "__main__":
    raise SystemExit(main())
