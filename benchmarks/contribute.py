"""Requests per second and p50/p99 of task delivery (newtask, taskrun) under gunicorn.

Seeds a PostgreSQL database (created when missing; its schema dropped, recreated and migrated)
with one project of --tasks tasks, --runs task runs by --users users (10 runs a task by
default, n_answers 30, so every task stays open), by COPY; starts `gunicorn --paste
production.ini -w 4` on loopback with that database and Redis; then, for each of the
`default`, `breadth_first` and `locked` schedulers (the project's info.sched), drives with
--clients concurrent clients for --duration seconds:

    anonymous newtask      GET /api/project/1/newtask
    authenticated newtask  the same with ?api_key=, each request another user
    newtask + taskrun      newtask then POST /api/taskrun, each cycle another user

Redis (the guard stamps and `locked` reservations) is flushed before each measurement, so one
measurement's unanswered reservations never crowd the next.

Then the size sweep: authenticated newtask (each scheduler) against a database of each of
--sizes tasks (10 runs a task), one database a size (the --db name with `_s<size>`), to show
how latency grows with the tables. The sizes are measured interleaved, in --rounds rounds (each
round visits every size, the next round in the reverse order), and the growth is taken within
each round: on a shared machine whose speed moves by tens of percent within minutes, sizes
measured one after the other, minutes apart, differ by the machine's pace as much as by their
size. Newtask writes nothing to the database, so a sweep database is seeded once and kept
while it holds its size untouched (--reseed seeds them again).

Prints the figures as they come, then one table; CPU ms/request (from /proc) splits each
request's cost between gunicorn, the PostgreSQL backends and this load generator; the last,
whose work is the same in every run, shows how fast the machine ran (a shared machine's speed
varies: here the same code gave 268 and 132 cycles/s within an hour).

    python benchmarks/contribute.py [--quick] [--db URL] [--sizes 10000,100000] [--rounds 3]
        [--reuse] [--reseed]

Needs `pip install -e .`, PostgreSQL (a role that may CREATE DATABASE) and Redis. Loopback
only; every loop is bounded in time. Not a test.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid

import psycopg
import redis
from api_list import (
    _copy,
    backend_pids,
    free_port,
    libpq_url,
    reset_schema,
    seed_projects,
    start_gunicorn,
    stop,
    worker_pids,
)
from httpload import Client, Figures, measure
from sqlalchemy.engine import make_url

DEFAULT_DB = "postgresql+psycopg://crowdnest:crowdnest@localhost/crowdnest_bench2"
# Flushed before each measurement: not a database the test suite uses (13, 12; 14 for the
# concurrency proof).
DEFAULT_REDIS = "redis://localhost:6379/10"
SCHEDULERS = ("default", "breadth_first", "locked")
CREATED = "2024-01-01T00:00:00.000000"
RUNS_PER_TASK = 10
N_ANSWERS = 30
PROJECT_ID = 1


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
    """Volunteer ids: 1 is the project owner seeded by api_list.seed_projects."""
    return range(2, n_users + 2)


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
                f"\t{api_key(uid)}\tf\tf\tt\tf\tf\tt\tf\tf\tt\t{{}}\t{{}}\n"
                for uid in user_ids(n_users)
            ),
        )
        _copy(
            cursor,
            "COPY task (id, created, project_id, state, quorum, calibration, priority_0, info, "
            "n_answers, n_task_runs) FROM STDIN",
            (
                f"{tid}\t{CREATED}\t{PROJECT_ID}\tongoing\t0\t0\t{tid % 10 / 10}"
                f'\t{{"url": "https://example.org/{tid}.jpg", "n": {tid}}}\t{N_ANSWERS}'
                f"\t{_runs_of(tid, n_runs)}\n"
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
        cursor.execute("SELECT setval('user_id_seq', %s)", (n_users + 1,))
        cursor.execute("SELECT setval('task_id_seq', %s)", (n_tasks,))
        cursor.execute("SELECT setval('task_run_id_seq', %s)", (max(n_runs, 1),))
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
        # Written out now: a checkpoint of the seeded gigabytes must not run while measuring,
        # nor the kernel's writeback of what the checkpoint left in its page cache.
        connection.execute("CHECKPOINT")
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
                ' (SELECT count(*) FROM "user" WHERE id <> 1)',
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


def drive(port, step, users, clients, duration, app_pids=(), db_pids=()) -> Figures:
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

    return measure(clients, duration, work, app_pids, db_pids)


STEPS = (
    ("anonymous newtask", anonymous_newtask),
    ("authenticated newtask", authenticated_newtask),
    ("newtask + taskrun", cycle),
)


# -- the run --------------------------------------------------------------------------------


class Bench:
    """One seeded size served by gunicorn; measures steps against it."""

    def __init__(self, args, url: str):
        self.args, self.url = args, url
        self.users = list(user_ids(args.users))
        self.redis = redis.Redis.from_url(args.redis)
        self.port = args.port or free_port()
        log_path = os.path.join(tempfile.gettempdir(), f"crowdnest-contribute-{self.port}.log")
        self.server = start_gunicorn(url, args.redis, self.port, args.workers, log_path)

    def measure(self, scheduler: str, step) -> Figures:
        set_scheduler(self.url, scheduler)
        self.redis.flushdb()
        args = self.args
        drive(self.port, step, self.users, args.clients, args.warmup)
        self.redis.flushdb()
        return drive(
            self.port,
            step,
            self.users,
            args.clients,
            args.duration,
            worker_pids(self.server),
            backend_pids(self.url),
        )

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
        help="comma-separated schedulers to measure (default: all three)",
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
        help="10,000 tasks, 100,000 runs, 2,000 users, 5 s, sweep 1k/10k/100k in 2 rounds",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.runs, args.users = 10_000, 100_000, 2_000
        args.duration, args.warmup, args.sizes = 5.0, 1.0, "1000,10000,100000"
        args.rounds = 2
    args.sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    args.schedulers = [name.strip() for name in args.schedulers.split(",") if name.strip()]
    return args


def row(label: str, f: Figures) -> str:
    return (
        f"{label:40} {f.per_second:7.0f} {f.p50_ms:7.1f} {f.p99_ms:7.1f} {f.errors:6}   "
        f"{f.app_cpu_ms:5.2f} {f.db_cpu_ms:5.2f} {f.client_cpu_ms:6.2f}"
    )


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


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.db.startswith("postgresql"):
        raise SystemExit("--db must be a PostgreSQL URL")
    create_database(args.db)
    rows = []

    if args.reuse and seeded_size(args.db) != (args.tasks, args.runs, args.users):
        print("--reuse: the database holds another size; seeding it again", flush=True)
        args.reuse = False
    if not args.reuse:
        seconds = seed(args.db, args.tasks, args.runs, args.users)
        print(
            f"seeded {args.tasks:,} tasks, {args.runs:,} runs, {args.users:,} users "
            f"in {seconds:.0f} s",
            flush=True,
        )
    # Seeded before the main measurements: the seeding's writes must not overlap any of them.
    urls = prepare_sweep(args)
    bench = Bench(args, args.db)
    try:
        for scheduler in args.schedulers:
            for label, step in STEPS:
                figures = bench.measure(scheduler, step)
                rows.append(row(f"{scheduler:13} {label}", figures))
                print(rows[-1], flush=True)
    finally:
        bench.close()
    swept = sweep_rows(args, run_sweep(args, urls)) if urls else []

    print(
        f"\n{args.tasks:,} tasks, {args.runs:,} runs, {args.users:,} users; gunicorn -w "
        f"{args.workers}, {args.clients} clients, {args.duration:g} s each; {os.cpu_count()} "
        f"CPUs, load average {os.getloadavg()[0]:.1f}; loopback"
    )
    print(
        f"{'measurement':40} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}   "
        f"CPU ms/request: app, db, client"
    )
    print("\n".join(rows))
    print("(newtask + taskrun: one cycle is two requests; req/s counts cycles)")
    if swept:
        print(f"\nsize sweep, {args.rounds} rounds, sizes interleaved:")
        print("\n".join(swept))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
