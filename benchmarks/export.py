"""Memory and time of exporting 1,000,000 task runs from PostgreSQL, as CSV and as JSON.

Each export runs in a child process of its own, which reports its peak resident memory
(`getrusage` ru_maxrss), its memory before the export started (imports, application), the
seconds the export took and the size of the zip:

    service   core.services.export.export_zip written to a file (what `crowdnest export` does)
    http      GET /project/<short_name>/tasks/export?type=task_run&format=... from the real
              application under wsgiref on loopback, the body read 1 MiB at a time

The database is seeded with the helpers of benchmarks/api_list.py (--tasks tasks and --runs
task runs in project1, by COPY) unless --reuse says it already holds them; a database that
already holds task runs is dropped and reseeded only with --reset.

    python benchmarks/export.py [--db URL] [--reuse|--reset] [--runs N] [--formats csv,json]
                                [--paths service,http] [--batch-size N]

Needs `pip install -e .` and PostgreSQL. Seeding 1,000,000 runs takes about 90 s. Not a test.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

from api_list import reset_schema, seed_projects, seed_tasks
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from core import main as make_app
from core.db import get_engine
from core.models import TaskRun
from core.services.export import ExportTarget, export_zip, find_project

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DB = "postgresql+psycopg://crowdnest:crowdnest@localhost/crowdnest_bench"
PROJECT = "project1"
MIB = 1024 * 1024
READ_SIZE = MIB


def peak_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def count_runs(url: str) -> int | None:
    """The task runs in the database; None when it has no schema yet."""
    engine = get_engine({"sqlalchemy.url": url})
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count(TaskRun.id)))
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()


# -- the child: one export, its figures as one JSON line ------------------------------------


def export_by_service(url: str, fmt: str, batch_size: int, path: str) -> int:
    engine = get_engine({"sqlalchemy.url": url}, sqlite_begin="DEFERRED")
    written = 0
    try:
        with engine.connect() as connection:
            project_id = find_project(connection, PROJECT).id
        target = ExportTarget(project_id, PROJECT, "task_run", fmt)
        with open(path, "wb") as output:
            for chunk in export_zip(engine, target, batch_size):
                output.write(chunk)
                written += len(chunk)
    finally:
        engine.dispose()
    return written


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def serve(url: str, batch_size: int):
    """The application under wsgiref on a free loopback port, in a daemon thread."""
    settings = {
        "sqlalchemy.url": url,
        "redis.url": "",
        "session.secret": "benchmark",
        "export.batch_size": str(batch_size),
    }
    app = make_app({"here": ROOT}, **settings)
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def export_by_http(server, fmt: str, path: str) -> int:
    port = server.server_address[1]
    address = f"http://127.0.0.1:{port}/project/{PROJECT}/tasks/export?type=task_run&format={fmt}"
    written = 0
    with urllib.request.urlopen(address, timeout=600) as response, open(path, "wb") as output:
        assert response.headers["Content-Type"] == "application/zip", response.headers
        while chunk := response.read(READ_SIZE):
            output.write(chunk)
            written += len(chunk)
    return written


def child(args) -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "export.zip")
        server = serve(args.db, args.batch_size) if args.child == "http" else None
        before = peak_rss_mib()
        started = time.perf_counter()
        if server is None:
            written = export_by_service(args.db, args.child_format, args.batch_size, path)
        else:
            written = export_by_http(server, args.child_format, path)
            server.shutdown()
        seconds = time.perf_counter() - started
    figures = {"seconds": seconds, "bytes": written, "rss_before": before, "peak": peak_rss_mib()}
    print(json.dumps(figures))
    return 0


# -- the parent -----------------------------------------------------------------------------


def measure(args, path: str, fmt: str) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--db", args.db]
    command += ["--batch-size", str(args.batch_size), "--child", path, "--child-format", fmt]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.path.dirname(__file__)])}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{path}/{fmt} export failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--reuse", action="store_true", help="the database is already seeded")
    parser.add_argument(
        "--reset", action="store_true", help="drop and reseed a database that holds task runs"
    )
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,json")
    parser.add_argument("--paths", default="service,http")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--child", choices=("service", "http"), help=argparse.SUPPRESS)
    parser.add_argument("--child-format", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    if not args.reuse:
        if count_runs(args.db) and not args.reset:
            raise SystemExit("the database already holds task runs: pass --reuse (or --reset)")
        print(f"seeding {args.tasks} tasks and {args.runs} task runs...", flush=True)
        started = time.perf_counter()
        reset_schema(args.db)
        seed_projects(args.db, 1, args.tasks, args.runs)
        seed_tasks(args.db, args.tasks, args.runs)
        print(f"seeded in {time.perf_counter() - started:.0f} s")
    runs = count_runs(args.db)
    print(f"exporting the {runs} task runs of {PROJECT} (batches of {args.batch_size})")
    print(f"{'path':<8} {'format':<6} {'seconds':>8} {'zip MiB':>8} {'RSS before':>11}", end="")
    print(f" {'peak RSS':>9}")
    for path in args.paths.split(","):
        for fmt in args.formats.split(","):
            figures = measure(args, path, fmt)
            print(
                f"{path:<8} {fmt:<6} {figures['seconds']:>8.1f} "
                f"{figures['bytes'] / MIB:>8.1f} {figures['rss_before']:>8.0f} MiB "
                f"{figures['peak']:>5.0f} MiB",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
