"""Redis is an accelerator, not a single point of failure (decision 19, core/redis.py).

The application is configured with Redis (API cache, lean delivery, Redis cache backend) at
an address where nothing listens: reads, newtask, answers, sign-in, rate limits and pages are
served from the database, `locked` answers 503 (never over-answered), and the outage is logged
once, not per request. With a Redis server of the test's own: it is used, killed (served
without it), started again (used again, without a restart of the application).
"""

import logging
import shutil
import time

import pytest
import redis
from sqlalchemy import select

from core import redis as core_redis
from core.models import Task, TaskRequest, TaskRun
from tests.factories import ProjectFactory, TaskFactory
from tests.functional.web.conftest import make_user, sign_in
from tests.redis_server import RedisServer

# Nothing listens there (ports 6390-6399 are this test's; 6399 is never started).
DEAD_REDIS = "redis://localhost:6399/0"
SCHEDULERS = "default breadth_first locked"


def _settings(url: str, **more) -> dict:
    return {
        "redis__url": url,
        "api__cache": "true",
        "delivery__lean": "true",
        "cache__backend": "dogpile.cache.redis",
        "plugins__schedulers": SCHEDULERS,
        **more,
    }


def _records(caplog) -> list:
    """The test's log records, its fixtures' (the app built on a dead Redis) included."""
    return [*caplog.get_records("setup"), *caplog.records]


def _redis_lines(caplog) -> list[str]:
    return [r.getMessage() for r in _records(caplog) if r.name == "core.redis"]


def _unexpected(caplog) -> list[str]:
    """Error lines other than core.redis's own (a traceback per request is what must not be)."""
    return [
        r.getMessage()
        for r in _records(caplog)
        if r.levelno >= logging.ERROR and r.name != "core.redis"
    ]


def _project(sched="default", tasks=3, **fields):
    project = ProjectFactory(info={"task_presenter": "<div></div>", "sched": sched}, **fields)
    for _ in range(tasks):
        TaskFactory(project=project, n_answers=2)
    return project


@pytest.fixture
def dead(make_app, db, caplog):
    """An app whose Redis is unreachable, its breaker fresh (as after a process start)."""
    core_redis._breakers.pop(DEAD_REDIS, None)
    caplog.set_level(logging.INFO)
    return make_app(**_settings(DEAD_REDIS))


def test_everything_is_served_without_redis(dead, db, caplog):
    volunteer = make_user()
    project = _project()
    db.commit()
    key = {"api_key": volunteer.api_key}

    listing = dead.get("/api/project")
    assert listing.status_int == 200 and listing.json[0]["id"] == project.id
    assert listing.headers["X-RateLimit-Limit"] == "100000"
    assert int(listing.headers["X-RateLimit-Remaining"]) < 100000
    assert dead.get(f"/api/project/{project.id}").status_int == 200
    assert dead.get(f"/api/task?project_id={project.id}").status_int == 200

    task = dead.get(f"/api/project/{project.id}/newtask", params=key).json
    assert task["project_id"] == project.id
    run = dead.post_json(
        f"/api/taskrun?api_key={volunteer.api_key}",
        {"project_id": project.id, "task_id": task["id"], "info": {"answer": "yes"}},
    )
    assert run.status_int == 200
    db.expire_all()
    assert db.get(TaskRun, run.json["id"]).info == {"answer": "yes"}
    # The hand-out was stamped in the database (then consumed by the answer).
    assert db.scalars(select(TaskRequest)).all() == []

    # The same answer again: refused as PYBOSSA refuses it, not a 500.
    again = dead.post_json(
        f"/api/taskrun?api_key={volunteer.api_key}",
        {"project_id": project.id, "task_id": task["id"], "info": {"answer": "yes"}},
        expect_errors=True,
    )
    assert again.status_int == 403

    # Pages (their cached listings come from the database) and signing in.
    assert dead.get("/").status_int == 200
    assert dead.get("/project/").status_int in (200, 302)
    assert dead.get(f"/project/{project.short_name}/").status_int == 200
    assert sign_in(dead, volunteer).status_int in (200, 302)
    assert dead.get("/account/profile").status_int == 200

    assert _unexpected(caplog) == []
    # One line for the whole outage so far (within redis.log_interval), not one per request.
    lines = _redis_lines(caplog)
    assert len(lines) == 1 and "unreachable" in lines[0]


def test_rate_limits_fall_back_to_the_process_counter(make_app, db):
    core_redis._breakers.pop(DEAD_REDIS, None)
    limited = make_app(**_settings(DEAD_REDIS, ratelimit__limit="3"))
    statuses = [limited.get("/api/project", expect_errors=True).status_int for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = limited.get("/api/project", expect_errors=True)
    assert refused.json["exception_cls"] == "TooManyRequests"
    assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_locked_refuses_with_503_rather_than_over_answer(dead, db, caplog):
    volunteer = make_user()
    project = _project("locked")
    db.commit()

    refused = dead.get(
        f"/api/project/{project.id}/newtask",
        params={"api_key": volunteer.api_key},
        expect_errors=True,
    )
    assert refused.status_int == 503
    assert refused.headers["Retry-After"]
    assert refused.json["exception_cls"] == "ServiceUnavailable"
    assert refused.json["status_code"] == 503
    task_id = db.scalars(select(Task.id).where(Task.project_id == project.id)).first()
    answer = dead.post_json(
        f"/api/taskrun?api_key={volunteer.api_key}",
        {"project_id": project.id, "task_id": task_id, "info": {"answer": "x"}},
        expect_errors=True,
    )
    assert answer.status_int == 503
    db.expire_all()
    assert db.scalars(select(TaskRun)).all() == []
    assert _unexpected(caplog) == []


def test_the_log_says_it_once_per_interval(monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    clock = [1000.0]
    monkeypatch.setattr(core_redis.time, "monotonic", lambda: clock[0])
    breaker = core_redis.Breaker("redis://example:1/0", pause=5, log_interval=30)
    error = redis.ConnectionError("refused")
    for _ in range(100):  # a second of requests, each failing at once
        breaker.failed(error)
        clock[0] += 0.01
    assert len(_redis_lines(caplog)) == 1
    clock[0] += 30
    breaker.failed(error)
    assert len(_redis_lines(caplog)) == 2 and "100 failure(s)" in _redis_lines(caplog)[1]
    assert breaker.paused()
    clock[0] += 6
    assert not breaker.paused()  # tried again after redis.pause
    breaker.answered()
    assert "answers again" in _redis_lines(caplog)[-1]
    assert not breaker.paused()


# -- with a Redis server of the test's own, killed and started again -----------------------------


@pytest.fixture
def own_redis():
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server")
    server = RedisServer()
    server.start()
    yield server
    server.kill()


def test_redis_killed_then_back_is_used_again_without_a_restart(make_app, db, own_redis, caplog):
    caplog.set_level(logging.INFO)
    url = own_redis.url
    core_redis._breakers.pop(url, None)
    app = make_app(**_settings(url, redis__pause="0.2"))
    client = redis.Redis(port=own_redis.port)
    volunteer = make_user()
    project = _project(tasks=4)
    db.commit()
    key = f"api_key={volunteer.api_key}"

    def contribute():
        task = app.get(f"/api/project/{project.id}/newtask?{key}").json
        run = app.post_json(
            f"/api/taskrun?{key}",
            {"project_id": project.id, "task_id": task["id"], "info": {"n": 1}},
        )
        return task, run

    assert app.get("/api/project").status_int == 200
    assert client.keys("crowdnest:ratelimit:*")  # Redis in use
    contribute()

    own_redis.kill()
    served = [app.get("/api/project").status_int for _ in range(20)]
    _task, run = contribute()  # stamped in the database, answered from it
    assert served == [200] * 20 and run.status_int == 200
    # Handed out during the outage, answered once Redis is back: the database's stamp counts.
    during = app.get(f"/api/project/{project.id}/newtask?{key}").json
    assert db.scalars(select(TaskRequest.task_id)).all() == [during["id"]]

    own_redis.start()
    time.sleep(0.3)  # redis.pause
    assert app.get("/api/project").status_int == 200
    assert client.keys("crowdnest:ratelimit:*")  # used again, no restart
    answered = app.post_json(
        f"/api/taskrun?{key}",
        {"project_id": project.id, "task_id": during["id"], "info": {"n": 2}},
    )
    assert answered.status_int == 200
    contribute()  # and the usual way again
    lines = _redis_lines(caplog)
    assert len(lines) == 2, lines
    assert "unreachable" in lines[0] and "answers again" in lines[1]
    assert _unexpected(caplog) == []
