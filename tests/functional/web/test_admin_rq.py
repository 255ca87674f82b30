"""/admin/rq: the background jobs' queues, workers and failures, for admins (behavior.md 9.8)."""

import rq

from core import jobs
from core.settings import load_settings
from tests.functional.web.conftest import JSON, make_user, sign_in


def failing(settings, reason: str) -> None:
    raise ValueError(reason)


def admin_on(make_app, **settings):
    app = make_app(**settings)
    sign_in(app, make_user(admin=True))
    return app


def test_without_redis_jobs_run_in_process_and_nothing_waits(make_app, db):
    body = admin_on(make_app).get("/admin/rq", headers=JSON).json

    assert (body["backend"], body["queues"], body["failed"]) == ("in-process", [], [])
    assert body["template"] == "admin/rq.html"


def test_the_queues_their_counts_and_the_latest_failure(make_app, db, redis_client, redis_url):
    settings = load_settings({"redis.url": redis_url}, environ={})
    jobs.enqueue(settings, failing, "the sheet was empty", queue="low")
    jobs.enqueue(settings, failing, "never run", queue="default")
    worker = jobs.SimpleWorker(["low"], connection=redis_client, settings=settings)
    worker.work(burst=True)
    app = admin_on(make_app, **{"redis.url": redis_url})

    body = app.get("/admin/rq/", headers=JSON).json
    html = app.get("/admin/rq").text

    assert body["backend"] == "rq"
    counts = {queue["name"]: (queue["queued"], queue["failed"]) for queue in body["queues"]}
    assert counts == {"high": (0, 0), "default": (1, 0), "low": (0, 1)}
    [failure] = body["failed"]
    assert failure["queue"] == "low"
    assert failure["function"].endswith("test_admin_rq.failing")
    assert failure["error"] == "ValueError: the sheet was empty"
    assert "ValueError: the sheet was empty" in html
    assert rq.Queue("default", connection=redis_client).count == 1


def test_an_unreachable_redis_is_said_not_raised(make_app, db):
    app = admin_on(make_app, **{"redis.url": "redis://127.0.0.1:1/0", "redis.timeout": "0.2"})

    body = app.get("/admin/rq", headers=JSON).json

    assert body["backend"] == "unreachable"


def test_only_admins_see_the_jobs(make_app, db):
    anonymous = make_app()
    volunteer = make_app()
    sign_in(volunteer, make_user())

    assert anonymous.get("/admin/rq").status_int == 302
    assert volunteer.get("/admin/rq", headers=JSON, expect_errors=True).status_int == 403
