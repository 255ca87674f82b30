"""What a Redis outage costs a volunteer: newtask + answer cycles per second, in process.

Decision 19: with Redis unreachable, tasks are still handed out and answers accepted, from the
database. This prints the cycles per second (and ms a cycle) of one volunteer asking for a task
and answering it, through the whole WSGI application (WebTest, no network), in three modes:

    up           redis.url answers (the lean newtask path, guard stamps in Redis)
    none         no redis.url at all (development: stamps and counters in the database)
    unreachable  redis.url names a closed port (the breaker: served as without Redis)

    python benchmarks/redis_outage.py [--db URL] [--redis URL] [--cycles N]

--db defaults to a fresh SQLite file; a PostgreSQL URL has its schema dropped and recreated.
--redis (default redis://localhost:6379/15) is flushed. Not a test; figures only.
"""

import argparse
import tempfile
import time
from pathlib import Path

import redis
import webtest
from sqlalchemy import text

from core import main
from core.db import get_engine, get_session_factory
from core.migrate import upgrade
from tests import factories

HERE = str(Path(__file__).resolve().parent.parent)
UNREACHABLE = "redis://127.0.0.1:1/0"


def fresh_database(url: str) -> None:
    if url.startswith("postgresql"):
        engine = get_engine({"sqlalchemy.url": url})
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(url)


def seed(url: str, tasks: int) -> tuple[str, int]:
    """A volunteer and a published project of one-answer tasks: (api key, project id)."""
    session = get_session_factory(get_engine({"sqlalchemy.url": url}))()
    factories.bind(session)
    volunteer = factories.UserFactory()
    project = factories.ProjectFactory(published=True)
    for _ in range(tasks):
        factories.TaskFactory(project=project, n_answers=1)
    session.commit()
    return volunteer.api_key, project.id


def cycles_per_second(db_url: str, redis_url: str, cycles: int, folder: str) -> float:
    key, project_id = seed(db_url, cycles + 5)
    settings = {
        "sqlalchemy.url": db_url,
        "redis.url": redis_url,
        "session.secret": "benchmark-session-secret-of-32-bytes-or-more",
        "ratelimit.limit": "100000000",
        "upload.dir": folder,
        "export.dir": folder,
    }
    app = webtest.TestApp(main({"here": HERE}, **settings))
    newtask = f"/api/project/{project_id}/newtask?api_key={key}"
    started = time.perf_counter()
    for _ in range(cycles):
        task = app.get(newtask).json
        body = {"project_id": project_id, "task_id": task["id"], "info": {"answer": 1}}
        app.post_json(f"/api/taskrun?api_key={key}", body)
    elapsed = time.perf_counter() - started
    app.app.registry["db_engine"].dispose()
    return cycles / elapsed


def main_(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="")
    parser.add_argument("--redis", default="redis://localhost:6379/15")
    parser.add_argument("--cycles", type=int, default=300)
    options = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="crowdnest-outage-")
    print(f"{'mode':12} {'cycles/s':>9} {'ms/cycle':>9}")
    for mode, redis_url in (("up", options.redis), ("none", ""), ("unreachable", UNREACHABLE)):
        db_url = options.db or f"sqlite:///{folder}/{mode}.sqlite"
        fresh_database(db_url)
        if redis_url == options.redis:
            redis.Redis.from_url(redis_url).flushdb()
        rate = cycles_per_second(db_url, redis_url, options.cycles, folder)
        print(f"{mode:12} {rate:9.1f} {1000 / rate:9.2f}", flush=True)


if __name__ == "__main__":
    main_()
