"""Time and memory of importing 10,000 and 100,000 CSV rows, on SQLite and on PostgreSQL.

Each import runs in a child process of its own through the service path (the csv importer's
records read from a file, core.services.importer.import_tasks, one commit), which reports the
seconds it took and its peak resident memory (`getrusage` ru_maxrss) before and after: the
memory an import adds ("MiB added") should not grow with its rows, since the duplicate check
looks each batch up in task.info_digest instead of holding a digest per task. With
--tracemalloc the child also traces Python's allocations during the import and reports their
peak ("traced peak"), a figure the allocator's page reuse does not blur; tracing slows the import,
so the seconds of such a run are not comparable. Target: 100,000 rows in under 30 s.

    python benchmarks/import_csv.py [--db URL ...] [--rows 10000,100000] [--tracemalloc]

Without --db: a fresh SQLite file per run ("sqlite") and postgresql+psycopg://crowdnest:crowdnest@localhost/
crowdnest_test_h (create it with `su postgres -c "createdb -O crowdnest crowdnest_test_h"`).
The benchmark's project is deleted afterwards. Not a test.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

from sqlalchemy import delete, select

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from core.db import get_engine, get_session_factory  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Category, Project, ProjectStats, Task, User  # noqa: E402
from core.services.importer import import_tasks  # noqa: E402
from core.settings import load_settings  # noqa: E402
from plugins.importers.csv import CSVImporter  # noqa: E402

POSTGRES = "postgresql+psycopg://crowdnest:crowdnest@localhost/crowdnest_test_h"
MIB = 1024


def write_csv(path: str, rows: int) -> None:
    """A CSV like a real one: an image URL, a question, a number, a blank cell, n_answers."""
    with open(path, "w", encoding="utf-8") as out:
        out.write("url,question,number,note,n_answers\n")
        for i in range(rows):
            out.write(f"https://example.org/images/{i:07d}.jpg,Is there a bird in {i}?,{i},,3\n")


class FileUpload:
    def __init__(self, path: str):
        self.filename = os.path.basename(path)
        self.file = open(path, "rb")  # closed by the importer's reader


def child(url: str, path: str, traced: bool = False) -> None:
    """Import the CSV into a new project; print {seconds, created, rss_before, rss_peak}.

    `traced`: also `traced_peak`, the peak of Python's traced allocations during the import.
    """
    settings = load_settings({"sqlalchemy.url": url}, environ={})
    engine = get_engine(settings)
    factory = get_session_factory(engine)
    with factory() as db, db.begin():
        owner = User(name=f"bench{os.getpid()}", fullname="Bench", email_addr=f"b{os.getpid()}@x")
        category = Category(
            name=f"Bench {os.getpid()}", short_name=f"bench{os.getpid()}", description="bench"
        )
        db.add_all([owner, category])
        db.flush()
        project = Project(
            name=f"Bench {os.getpid()}",
            short_name=f"bench{os.getpid()}",
            description="benchmark",
            owner_id=owner.id,
            category_id=category.id,
        )
        db.add(project)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    with factory() as db, db.begin():
        project = db.get(Project, project.id)
        records = CSVImporter().records({"csv_file": FileUpload(path)}, settings)
        report = import_tasks(db, project, records)
    seconds = time.perf_counter() - start
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures = {"seconds": seconds, "created": report.created}
    figures.update(rss_before=rss_before, rss_peak=rss_peak)
    if traced:
        figures["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    # SQLite databases are fresh files, thrown away (deleting there is slow: unindexed FKs).
    with factory() as db, db.begin():
        if engine.dialect.name == "sqlite":
            db.rollback()
            return print(json.dumps(figures))
        db.execute(delete(Task).where(Task.project_id == project.id))
        db.execute(delete(ProjectStats).where(ProjectStats.project_id == project.id))
        db.execute(delete(Project).where(Project.id == project.id))
        db.execute(delete(User).where(User.id == owner.id))
        db.execute(delete(Category).where(Category.id == category.id))
        assert db.scalar(select(Project.id).where(Project.id == project.id)) is None
    engine.dispose()
    print(json.dumps(figures))


def run(url: str, path: str, traced: bool) -> dict:
    flags = ["--tracemalloc"] if traced else []
    output = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", url, path, *flags],
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", help="a database URL (repeatable)")
    parser.add_argument("--rows", default="10000,100000", help="comma-separated row counts")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also report the peak of Python's traced allocations (slower imports)",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, traced=args.tracemalloc)
        return
    with tempfile.TemporaryDirectory() as folder:
        urls = args.db or ["sqlite", POSTGRES]
        traced = f" {'traced peak':>12}" if args.tracemalloc else ""
        print(
            f"{'database':<12} {'rows':>8} {'seconds':>8} {'rows/s':>8} {'MiB before':>11} "
            f"{'MiB peak':>9} {'MiB added':>10}{traced}"
        )
        for given in urls:
            for rows in (int(n) for n in args.rows.split(",")):
                url = f"sqlite:///{folder}/bench{rows}.sqlite" if given == "sqlite" else given
                upgrade(url)
                path = os.path.join(folder, f"{rows}.csv")
                if not os.path.exists(path):
                    write_csv(path, rows)
                result = run(url, path, args.tracemalloc)
                assert result["created"] == rows, result
                before, peak = result["rss_before"] / MIB, result["rss_peak"] / MIB
                if args.tracemalloc:
                    traced = f" {result['traced_peak'] / 2**20:>12.1f}"
                print(
                    f"{url.split(':')[0].split('+')[0]:<12} {rows:>8} {result['seconds']:>8.1f} "
                    f"{rows / result['seconds']:>8.0f} {before:>11.1f} {peak:>9.1f} "
                    f"{peak - before:>10.1f}{traced}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
