"""`crowdnest export PROJECT --type T --format F [-o FILE]`: the web page's zip, on disk.

Progress goes to standard error: one line rewritten in place on a terminal, a line every few
seconds otherwise. The zip is written to `FILE.part` and renamed when complete.

`crowdnest export --refresh-stale [--interval S] [--all] [--enqueue]`, for cron: rebuild the
stored exports (core/services/export_store.py) that are older than their max age, or will be
within S seconds (how often cron runs it); --all also builds the ones never stored yet;
--enqueue hands the work to `crowdnest worker` instead. A line per export rebuilt, then a
summary, go to standard output; the exit code is 1 when an export failed.
"""

import os
import sys
from collections.abc import Iterable

from core import jobs
from core.cli.common import CommandError, Progress
from core.db import get_engine
from core.services import export_store
from core.services.export import (
    FORMATS,
    TYPES,
    ExportTarget,
    count_rows,
    export_zip,
    find_project,
)

MIB = 1024 * 1024
LABELS = {"task": "tasks", "task_run": "task runs", "result": "results"}


class ProgressLine(Progress):
    """`exported 120000/1000000 task runs (12 %)` on stderr."""

    def __init__(self, total: int, label: str, stream=None) -> None:
        super().__init__(stream)
        self.total, self.label = total, label

    def __call__(self, done: int) -> None:
        if self.due(final=done >= self.total):
            percent = 100 * done // self.total if self.total else 100
            self.show(f"exported {done}/{self.total} {self.label} ({percent} %)")


def export_command(settings: dict, args) -> int:
    if args.refresh_stale:
        return refresh_command(settings, args)
    if args.project is None:
        raise CommandError("name a PROJECT, or give --refresh-stale")
    # DEFERRED: a long read must not hold SQLite's write lock.
    engine = get_engine(settings, sqlite_begin="DEFERRED")
    try:
        with engine.connect() as connection:
            project = find_project(connection, args.project)
            if project is None:
                raise CommandError(f"no project named {args.project!r}")
            total = count_rows(connection, args.type, project.id)
        target = ExportTarget(project.id, project.short_name, args.type, args.format)
        path = args.output or target.zip_name
        label = LABELS[args.type]
        progress = ProgressLine(total, label)
        written = write_chunks(
            path, export_zip(engine, target, settings["export.batch_size"], progress)
        )
        progress.close()
    finally:
        engine.dispose()
    where = "standard output" if path == "-" else path
    print(f"wrote {where}: {total} {label}, {written / MIB:.1f} MiB", file=sys.stderr)
    return 0


def refresh_command(settings: dict, args) -> int:
    if args.interval < 0:
        raise CommandError("--interval must not be negative")
    if args.enqueue and settings["redis.url"]:
        jobs.enqueue(
            settings,
            export_store.refresh_stale_job,
            interval=args.interval,
            missing=args.all,
            queue=settings["export.queue"],
        )
        print(f"refresh: sent to the worker (queue {settings['export.queue']})")
        return 0
    if args.enqueue:
        # No queue without Redis, and a job thread would die with this command.
        print("refresh: no redis.url, so it runs here")

    def say(line: str) -> None:
        print(line, flush=True)

    report = export_store.refresh_stale(
        settings, interval=args.interval, missing=args.all, say=say
    )
    print(report.summary)
    return 1 if report.failed else 0


def write_chunks(path: str, chunks: Iterable[bytes]) -> int:
    """Write the chunks to `path` (`-`: standard output); the number of bytes written."""
    written = 0
    if path == "-":
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
            written += len(chunk)
        sys.stdout.buffer.flush()
        return written
    partial = f"{path}.part"
    try:
        with open(partial, "wb") as output:
            for chunk in chunks:
                output.write(chunk)
                written += len(chunk)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return written


def add_parser(commands) -> None:
    """Register `crowdnest export` on the command's sub-parsers."""
    export = commands.add_parser(
        "export", help="a project's tasks, task runs or results as a zipped JSON or CSV file"
    )
    export.add_argument(
        "project", metavar="PROJECT", nargs="?", help="the project's short name (or id)"
    )
    export.add_argument("--type", choices=TYPES, default="task", help="default: %(default)s")
    export.add_argument("--format", choices=FORMATS, default="json", help="default: %(default)s")
    export.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write the zip (default: <short_name>_<type>_<format>.zip; - for stdout)",
    )
    refresh = export.add_argument_group("stored exports (for cron)")
    refresh.add_argument(
        "--refresh-stale",
        action="store_true",
        help="rebuild every published project's stored exports older than their max age",
    )
    refresh.add_argument(
        "--interval",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="how often cron runs the refresh: rebuild also what would be stale by the next run "
        "(default: %(default)s)",
    )
    refresh.add_argument(
        "--all", action="store_true", help="also build the exports never stored yet"
    )
    refresh.add_argument(
        "--enqueue",
        action="store_true",
        help="run the refresh in `crowdnest worker` (queue export.queue)",
    )
    export.set_defaults(run=export_command)
