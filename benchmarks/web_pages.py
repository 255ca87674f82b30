"""Server-side render time and weight of the web pages on a project with 100,000 tasks.

Uses the PostgreSQL database benchmarks/api_list.py seeds (--tasks tasks and --runs task runs
in project1; seeds it first unless --reuse), builds the application in this process with
production's settings (PostgreSQL, Redis cache) and requests each page --requests times, as an
anonymous visitor and as a signed-in volunteer, after --warmup unmeasured requests. Prints the
median, 99th percentile and worst time spent inside the WSGI application (the server-side
time: no network, no client) and the size of the HTML. Issue 4's target: the project page and
the presenter page under 50 ms.

    python benchmarks/web_pages.py [--db URL] [--redis URL] [--reuse] [--requests N]

Needs `pip install -e .`, PostgreSQL and Redis running. Not a test.
"""

import argparse
import os
import statistics
import sys
import time

import webtest
from api_list import DEFAULT_DB, DEFAULT_REDIS, reset_schema, seed_projects, seed_tasks
from redis import Redis
from sqlalchemy import select, update

from core import generations
from core import main as make_app
from core.db import Base, get_engine, get_session_factory
from core.models import Project, User
from core.passwords import hash_password

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESENTER = """
<div class="row"><div class="col-md-8"><img id="photo" class="img-fluid" alt=""></div>
<div class="col-md-4"><p id="question"></p>
<button class="btn btn-success btn-answer" value="yes">Yes</button>
<button class="btn btn-danger btn-answer" value="no">No</button></div></div>
<script>
pybossa.taskLoaded(function (task, deferred) { deferred.resolve(task); });
pybossa.presentTask(function (task, deferred) {
  $("#photo").attr("src", task.info.url); $("#question").text(task.info.question);
  $(".btn-answer").off("click").on("click", function () {
    pybossa.saveTask(task.id, $(this).val()).done(function () { deferred.resolve(); });
  });
});
pybossa.run("project1");
</script>
"""
PAGES = [
    ("home", "/"),
    ("project page", "/project/project1/"),
    ("presenter page (newtask)", "/project/project1/newtask"),
    ("presenter page (task 50000)", "/project/project1/task/50000"),
    ("task browse, page 1", "/project/project1/tasks/browse/"),
    ("task browse, page 4000", "/project/project1/tasks/browse/4000"),
    ("project stats", "/project/project1/stats"),
    ("project results", "/project/project1/results"),
    ("category listing", "/project/category/science/"),
    ("leaderboard", "/leaderboard/"),
    ("global stats", "/stats/"),
]
VOLUNTEER = ("volunteer", "volunteer@example.org", "volunteer-password")


def prepare(db_url: str, redis_url: str) -> None:
    """A presenter on project1 and a volunteer account; caches marked stale."""
    engine = get_engine({"sqlalchemy.url": db_url})
    with get_session_factory(engine)() as session, session.begin():
        session.execute(
            update(Project)
            .where(Project.short_name == "project1")
            .values(info={"task_presenter": PRESENTER, "thumbnail": "t1.png"})
        )
        name, email, password = VOLUNTEER
        if session.scalar(select(User.id).where(User.name == name)) is None:
            session.add(
                User(
                    name=name,
                    fullname="Volunteer",
                    email_addr=email,
                    passwd_hash=hash_password(password),
                )
            )
    engine.dispose()
    generations.bump_all(Redis.from_url(redis_url), Base.metadata)


def sign_in(app) -> None:
    _name, email, password = VOLUNTEER
    token = app.get("/account/signin", headers={"Content-Type": "application/json"}).json
    app.post_json(
        "/account/signin",
        {"email": email, "password": password},
        headers={"X-CSRFToken": token["form"]["csrf"]},
    )


def measure(app, path: str, requests: int, warmup: int) -> tuple[list[float], int, int]:
    for _ in range(warmup):
        app.get(path, expect_errors=True)
    times, size, status = [], 0, 0
    for _ in range(requests):
        began = time.perf_counter()
        response = app.get(path, expect_errors=True)
        times.append((time.perf_counter() - began) * 1000)
        size, status = len(response.body), response.status_int
    return sorted(times), size, status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--reuse", action="store_true", help="keep the seeded data")
    args = parser.parse_args(argv)
    if not args.reuse:
        reset_schema(args.db)
        seed_projects(args.db, 50, args.tasks, args.runs)
        seed_tasks(args.db, args.tasks, args.runs)
    prepare(args.db, args.redis)
    settings = {
        "sqlalchemy.url": args.db,
        "redis.url": args.redis,
        "cache.backend": "dogpile.cache.redis",
        "ratelimit.limit": "100000000",
        "session.secret": "benchmark",
    }
    application = make_app({"here": ROOT}, **settings)
    anonymous = webtest.TestApp(application)
    volunteer = webtest.TestApp(application)
    sign_in(volunteer)

    print(f"{args.tasks:,} tasks, {args.runs:,} task runs; {args.requests} requests per row")
    columns = ("status", "bytes", "p50 ms", "p99 ms", "max")
    print(f"{'page':30} {'caller':9} " + " ".join(f"{name:>7}" for name in columns))
    worst = {}
    for label, path in PAGES:
        for caller, app in (("anonymous", anonymous), ("volunteer", volunteer)):
            times, size, status = measure(app, path, args.requests, args.warmup)
            p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
            worst[label] = max(worst.get(label, 0), p99)
            print(
                f"{label:30} {caller:9} {status:7} {size:7} {statistics.median(times):7.1f} "
                f"{p99:7.1f} {times[-1]:7.1f}",
                flush=True,
            )
    met = all(worst[label] < 50 for label, _ in PAGES[1:4])
    print(f"\nproject and presenter pages under 50 ms at p99: {'yes' if met else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
