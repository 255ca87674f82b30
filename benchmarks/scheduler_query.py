"""Microseconds per query of the `default` scheduler's newtask statement, as the lean path runs
it (compiled once, prepared, generic plan), for two shapes of a volunteer's history:

    spread   a random one of the seeded volunteers: 10 answers a task by 20,000 volunteers, so
             each has answered 5 tasks of 10,000, 500 of 1,000,000, spread over the project;
    ahead    one volunteer who answered the first K open tasks (ahead of the crowd), K given
             by --ahead; their answers are inserted in a transaction rolled back afterwards.

Each is timed with the statement as it is (plugins/schedulers/base.py: the first PROBED open
tasks probed one by one, the rest against all the volunteer's answers read at once) and with
the volunteer's answers read at once for every task (`hash only`, the statement before), to
show what the probes save and what they cost.

Runs against contribute.py's sweep databases (`<db>_s<size>`, seeded by it when missing):

    python benchmarks/scheduler_query.py [--db URL] [--sizes 10000,1000000] [--ahead 0,1000,5000]

Needs `pip install -e .` and PostgreSQL. Writes nothing it keeps. Not a test.
"""

import argparse
import random
import time
from types import SimpleNamespace

import psycopg
from api_list import libpq_url
from contribute import DEFAULT_DB, PROJECT_ID, RUNS_PER_TASK, prepare_sweep, user_ids
from sqlalchemy.dialects import postgresql

from core.db import GENERIC_PLANS
from core.models import Task
from plugins.schedulers.base import SHOWN, answered_by, ordered, paged, tasks_not_completed
from plugins.schedulers.depth_first import _unfinished


def statements() -> dict[str, str]:
    """{name: SQL with %(name)s placeholders} of the two forms, for a signed-in volunteer."""
    options = SimpleNamespace(orderby="id", desc=False)
    hash_only = tasks_not_completed(*SHOWN).where(Task.id.not_in(answered_by("user")))
    forms = {
        "as it is": paged(_unfinished("user", options, *SHOWN)),
        "hash only": paged(ordered(hash_only, options)),
    }
    dialect = postgresql.psycopg.dialect()
    return {name: str(query.compile(dialect=dialect)) for name, query in forms.items()}


def timed(connection, sql: str, who, repeat: int) -> float:
    """Median of three timings of `repeat` runs, in µs a query; `who()` gives each volunteer."""
    params = {"project_id": PROJECT_ID, "limit": 1, "offset": 0}
    for _ in range(50):
        connection.execute(sql, {**params, "who": who()}, prepare=True).fetchall()
    rounds = []
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(repeat):
            connection.execute(sql, {**params, "who": who()}, prepare=True).fetchall()
        rounds.append((time.perf_counter() - began) / repeat * 1e6)
    return sorted(rounds)[1]


def ahead(connection, volunteer: int, count: int) -> None:
    """The volunteer's answers to the first `count` open tasks (in the open transaction)."""
    connection.execute(
        "INSERT INTO task_run (created, project_id, task_id, user_id, finish_time, info)"
        " SELECT '2024-01-01', %(project)s, id, %(who)s, '2024-01-01', '{}'"
        " FROM (SELECT id FROM task WHERE project_id = %(project)s AND state != 'completed'"
        " ORDER BY id LIMIT %(count)s) AS front ON CONFLICT DO NOTHING",
        {"project": PROJECT_ID, "who": volunteer, "count": count},
    )


def measure_size(connection, size: int, forms: dict[str, str], args) -> None:
    """Print the figures of one size: spread volunteers, then one ahead by each K."""

    def line(label: str, who, repeat: int) -> str:
        figures = [timed(connection, sql, who, repeat) for sql in forms.values()]
        return f"{size:>9,} {label:12} " + " ".join(f"{f:10.0f}µs" for f in figures)

    users = user_ids(args.users)
    print(line("spread", lambda: random.choice(users), args.repeat), flush=True)
    for count in (int(k) for k in args.ahead.split(",") if k.strip()):
        ahead(connection, users[0], count)  # their seeded answers kept
        repeat = max(20, args.repeat * 100 // max(count, 100))
        print(line(f"ahead {count:,}", lambda: users[0], repeat), flush=True)
    connection.rollback()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB, help="contribute.py's --db")
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--ahead", default="0,100,1000,5000", help="K: answers at the front")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1000)
    args = parser.parse_args(argv)
    args.sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    args.reseed = False
    forms = statements()
    print(f"{'size':>9} {'volunteer':12} " + " ".join(f"{name:>12}" for name in forms))
    for size, url in prepare_sweep(args).items():
        # Sessions as the lean path's (core.db): generic plans, no JIT.
        with psycopg.connect(libpq_url(url), options=GENERIC_PLANS) as connection:
            measure_size(connection, size, forms, args)
    print(f"(each size: {RUNS_PER_TASK} answers a task by {args.users:,} volunteers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
