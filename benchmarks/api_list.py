"""Requests per second and p50/p99 latency of the list API under gunicorn on PostgreSQL.

Seeds a PostgreSQL database (schema dropped, recreated and migrated to alembic's head) with
--projects published projects, --tasks tasks in the first of them and --runs task runs over
those tasks; starts `gunicorn --paste production.ini -w 4` on loopback with that database and
Redis; then drives each endpoint with --clients concurrent clients for --duration seconds:

    GET /api/task?project_id=1&limit=100                 first page
    GET /api/task?project_id=1&limit=100&last_id=90000   keyset page deep in the table
    GET /api/task?project_id=1&limit=100&offset=90000    offset page deep in the table
    GET /api/project                                     first page of projects

and the same lists as API clients send them, with an api key (never cached): the owner's, a
volunteer's who owns nothing (answered `[]`: a signed-in caller sees their own objects), and
the volunteer's with `all=1`.

once with the anonymous API cache on (production's default: core/apicache.py) and once with
it off (--cache on|off|both), and prints one row of figures per endpoint and mode: requests
per second, latency percentiles, and the CPU time each request cost gunicorn, the PostgreSQL
backends and the load generator (from /proc; the load comes from benchmarks/httpload.py).
Every figure is also printed as a fraction of the floor (benchmarks/floor.py: a trivial WSGI
app served the same way, measured before and after in the same run), which compares across
machines. Loopback only; loops are bounded in time.

    python benchmarks/api_list.py [--db URL] [--redis URL] [--runs N] [--duration S] [--reuse]
                                  [--compare GIT_REF] [--compare-rounds N]

Needs `pip install -e .`, PostgreSQL and Redis running (`.ci/run` shows how to start them).
Seeding the default 100,000 tasks and 1,000,000 task runs takes about 90 s. Not a test.
"""

import argparse
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager

import psycopg
from floor import Floor
from httpload import fetch, load
from redis import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core import generations
from core.db import Base, get_engine, get_session_factory
from core.migrate import upgrade
from core.models import Category, Project, ProjectStats, User

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFAULT_DB = "postgresql+psycopg://crowdnest:crowdnest@localhost/crowdnest_bench"
DEFAULT_REDIS = "redis://localhost:6379/15"
CREATED = "2024-01-01T00:00:00.000000"
RUNS_PER_COPY_BLOCK = 50_000
CACHE_MODES = {"both": (True, False), "on": (True,), "off": (False,)}


# -- seeding --------------------------------------------------------------------------------


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as psycopg takes it (no +psycopg driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def reset_schema(url: str) -> None:
    """Drop and recreate the public schema, then `alembic upgrade head`."""
    engine = get_engine({"sqlalchemy.url": url})
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)


def seed_projects(url: str, n_projects: int, n_tasks: int, n_runs: int) -> None:
    """One owner, one category and n_projects published projects, through the models."""
    engine = get_engine({"sqlalchemy.url": url})
    session = get_session_factory(engine)()
    owner = User(email_addr="owner@example.org", name="owner", fullname="Project Owner")
    volunteer = User(email_addr="volunteer@example.org", name="volunteer", fullname="Volunteer")
    category = Category(name="Science", short_name="science", description="Science")
    session.add_all([owner, volunteer, category])
    session.flush()
    for number in range(1, n_projects + 1):
        project = Project(
            name=f"Project {number}",
            short_name=f"project{number}",
            description=f"Benchmark project {number}",
            long_description="A project seeded by benchmarks/api_list.py.",
            published=True,
            owner_id=owner.id,
            category_id=category.id,
            info={"task_presenter": "<div>presenter</div>", "thumbnail": f"t{number}.png"},
        )
        project.set_owners([owner.id])
        session.add(project)
        session.flush()
        first = number == 1
        session.add(
            ProjectStats(
                project_id=project.id,
                n_tasks=n_tasks if first else 0,
                n_task_runs=n_runs if first else 0,
            )
        )
    session.commit()
    session.close()
    engine.dispose()


def _copy(cursor, statement: str, lines) -> None:
    with cursor.copy(statement) as copy:
        block = io.StringIO()
        for count, line in enumerate(lines, 1):
            block.write(line)
            if count % RUNS_PER_COPY_BLOCK == 0:
                copy.write(block.getvalue())
                block = io.StringIO()
        copy.write(block.getvalue())


def seed_tasks(url: str, n_tasks: int, n_runs: int) -> None:
    """Tasks 1..n_tasks in project 1 and n_runs anonymous task runs over them, by COPY."""
    runs_per_task = -(-n_runs // n_tasks) if n_runs else 0
    with psycopg.connect(libpq_url(url)) as connection, connection.cursor() as cursor:

        def task_lines():
            for task_id in range(1, n_tasks + 1):
                runs = min(runs_per_task, max(0, n_runs - (task_id - 1) * runs_per_task))
                info = json.dumps(
                    {
                        "url": f"https://example.org/img/{task_id}.jpg",
                        "question": "What do you see?",
                        "n": task_id,
                    }
                )
                yield (
                    f"{task_id}\t{CREATED}\t1\tongoing\t0\t0\t{task_id % 10 / 10}\t{info}"
                    f"\t30\t\\N\t{runs}\n"
                )

        _copy(
            cursor,
            "COPY task (id, created, project_id, state, quorum, calibration, "
            "priority_0, info, n_answers, user_pref, n_task_runs) FROM STDIN",
            task_lines(),
        )

        def run_lines():
            for run_id in range(1, n_runs + 1):
                task_id = (run_id - 1) // runs_per_task + 1
                yield (
                    f"{run_id}\t{CREATED}\t1\t{task_id}\t\\N\tip-{run_id % runs_per_task}"
                    f'\t{CREATED}\t\\N\t\\N\t\\N\t\\N\t{{"answer": "yes"}}\n'
                )

        if n_runs:
            _copy(
                cursor,
                "COPY task_run (id, created, project_id, task_id, user_id, user_ip, "
                "finish_time, timeout, calibration, external_uid, media_url, info) FROM STDIN",
                run_lines(),
            )
        cursor.execute("SELECT setval('task_id_seq', %s)", (n_tasks,))
        if n_runs:
            cursor.execute("SELECT setval('task_run_id_seq', %s)", (n_runs,))
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


# -- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(
    db_url: str,
    redis_url: str,
    port: int,
    workers: int,
    log_path: str,
    cache: bool = True,
    root: str = ROOT,
    settings: dict[str, str] | None = None,
):
    """gunicorn serving the Crowdnest of the tree `root` (this one by default); `settings`:
    more CROWDNEST_* variables."""
    environ = {
        **os.environ,
        "PYTHONPATH": root,
        "CROWDNEST_SQLALCHEMY_URL": db_url,
        "CROWDNEST_REDIS_URL": redis_url,
        "CROWDNEST_RATELIMIT_LIMIT": "100000000",
        "CROWDNEST_API_CACHE": "true" if cache else "false",
        # production.ini refuses default or short secrets (decision 18).
        "CROWDNEST_SESSION_SECRET": "benchmark-session-secret-of-32-bytes-or-more",
        "CROWDNEST_IP_PSEUDONYM_KEY": "benchmark-ip-pseudonym-key-of-32-bytes-or-more",
        "CROWDNEST_SITE_URL": "http://127.0.0.1",
        **(settings or {}),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--paste",
        os.path.join(root, "production.ini"),
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
    ]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=root, env=environ, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}; see {log_path}")
        try:
            status, _ = fetch(port, "/api/project")
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.25)
    stop(server)
    raise SystemExit(f"gunicorn did not answer within 60 s; see {log_path}")


def stop(server) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def worker_pids(server) -> list[int]:
    """The gunicorn master and its workers."""
    try:
        with open(f"/proc/{server.pid}/task/{server.pid}/children") as children:
            return [server.pid, *map(int, children.read().split())]
    except OSError:
        return [server.pid]


def backend_pids(db_url: str) -> list[int]:
    """The PostgreSQL server processes that serve the benchmark database."""
    database = make_url(db_url).database
    with psycopg.connect(libpq_url(db_url), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return [pid for (pid,) in rows]


# -- the run --------------------------------------------------------------------------------


def api_keys(url: str) -> dict[str, str]:
    """{name: api key} of the seeded owner and volunteer."""
    engine = get_engine({"sqlalchemy.url": url})
    with engine.connect() as connection:
        rows = connection.execute(text('SELECT name, api_key FROM "user"')).all()
    engine.dispose()
    return dict(rows)


# Answered with no item: a signed-in caller's list holds their own objects (without all=1).
EMPTY = "task list, volunteer's key"


def endpoints(n_tasks: int, keys: dict[str, str]) -> list[tuple[str, str]]:
    deep = int(n_tasks * 0.9)
    owner, volunteer = keys["owner"], keys["volunteer"]
    return [
        ("task list, first page", "/api/task?project_id=1&limit=100"),
        (f"task list, last_id={deep}", f"/api/task?project_id=1&limit=100&last_id={deep}"),
        (f"task list, offset={deep}", f"/api/task?project_id=1&limit=100&offset={deep}"),
        ("project list", "/api/project"),
        ("task list, owner's key", f"/api/task?project_id=1&limit=100&api_key={owner}"),
        (EMPTY, f"/api/task?project_id=1&limit=100&api_key={volunteer}"),
        (
            "task list, all=1, volunteer's key",
            f"/api/task?project_id=1&limit=100&all=1&api_key={volunteer}",
        ),
        ("project list, owner's key", f"/api/project?api_key={owner}"),
    ]


def measure_all(args, cache: bool, root: str = ROOT, tag: str = "") -> list[tuple]:
    """Every endpoint under one gunicorn serving the tree `root`, with or without the
    anonymous API cache."""
    port = args.port or free_port()
    log_path = os.path.join(tempfile.gettempdir(), f"crowdnest-bench-gunicorn-{port}.log")
    server = start_gunicorn(args.db, args.redis, port, args.workers, log_path, cache, root)
    mode = ("cached" if cache else "uncached") + tag
    rows = []
    try:
        for label, path in endpoints(args.tasks, api_keys(args.db)):
            if args.only and args.only not in label:
                continue
            status, body = fetch(port, path)
            items = len(json.loads(body)) if status == 200 else 0
            if status != 200 or (items == 0) != (label == EMPTY):
                raise SystemExit(f"{path} answered {status} with {items} items: {body[:300]!r}")
            load(port, path, args.clients, args.warmup)
            figures = load(
                port, path, args.clients, args.duration, worker_pids(server), backend_pids(args.db)
            )
            rows.append((f"{label} ({mode})", items, len(body), figures))
            print(f"  {label} ({mode}): {figures.per_second:.0f} req/s", flush=True)
    finally:
        stop(server)
    return rows


@contextmanager
def archived(ref: str):
    """The tree of git `ref` in a temporary folder (removed afterwards), for --compare."""
    path = tempfile.mkdtemp(prefix="crowdnest-api-list-")
    try:
        archive = subprocess.run(
            ["git", "-C", ROOT, "archive", ref], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", path], input=archive, check=True)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB, help="PostgreSQL SQLAlchemy URL (emptied!)")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="Redis URL for cache and limits")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1_000_000, help="task runs to seed")
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free loopback port")
    parser.add_argument("--reuse", action="store_true", help="keep the seeded data, skip seeding")
    parser.add_argument("--only", help="measure only endpoints whose label contains this")
    parser.add_argument(
        "--compare",
        metavar="GIT_REF",
        help="also serve GIT_REF's tree (git archive into a temporary folder), alternating "
        "A (GIT_REF) and B (this tree) --compare-rounds times, one gunicorn at a time",
    )
    parser.add_argument("--compare-rounds", type=int, default=2)
    parser.add_argument(
        "--cache",
        choices=sorted(CACHE_MODES),
        default="both",
        help="with the anonymous API cache (production's default), without it, or both",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.db.startswith("postgresql"):
        raise SystemExit("--db must be a PostgreSQL URL")
    if not args.reuse:
        began = time.perf_counter()
        reset_schema(args.db)
        seed_projects(args.db, args.projects, args.tasks, args.runs)
        seed_tasks(args.db, args.tasks, args.runs)
        print(
            f"seeded {args.projects} projects, {args.tasks:,} tasks, {args.runs:,} task runs "
            f"in {time.perf_counter() - began:.1f} s"
        )

    # Seeding wrote with COPY, behind SQLAlchemy's back: mark every table as changed so that
    # no answer cached by an earlier run is served.
    generations.bump_all(Redis.from_url(args.redis), Base.metadata)
    rows = []
    # The trivial WSGI app served the same way, before and after (benchmarks/floor.py).
    floor = Floor(args.clients, args.duration, args.warmup, args.workers)
    floor.measure()
    with ExitStack() as stack:
        trees = [("", ROOT)]
        if args.compare:
            base = stack.enter_context(archived(args.compare))
            trees = [(f", A {args.compare}", base), (", B", ROOT)]
        for _round in range(args.compare_rounds if args.compare else 1):
            for cache in CACHE_MODES[args.cache]:
                for tag, root in trees:
                    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
                    rows += measure_all(args, cache, root, tag)
    floor.measure()
    print(
        f"\ngunicorn -w {args.workers}, {args.clients} clients, {args.duration:g} s each, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, loopback"
    )
    print(floor.summary())
    print(
        f"{'endpoint':34} {'items':>5} {'bytes':>6} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'errors':>6}   CPU ms/request: {'app':>5} {'db':>5} {'client':>6}   of the floor"
    )
    for label, items, size, f in rows:
        print(
            f"{label:34} {items:5} {size:6} {f.per_second:6.0f} {f.p50_ms:7.1f} {f.p99_ms:7.1f} "
            f"{f.errors:6}                   {f.app_cpu_ms:5.1f} {f.db_cpu_ms:5.1f} "
            f"{f.client_cpu_ms:6.1f}   {floor.of(f.per_second)}"
        )
    return 0 if all(figures.errors == 0 for *_, figures in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
