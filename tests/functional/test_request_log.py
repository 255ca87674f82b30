"""One log line per request with its id (core.requestlog), JSON lines on demand, and the id
carried into the jobs the request starts."""

import json
import logging

import pytest

from core import jobs
from core.requestlog import JSON_FIELDS, RequestIdFilter, current_id
from tests.factories import ProjectFactory, TaskFactory, UserFactory


@pytest.fixture
def lines(caplog):
    caplog.set_level(logging.INFO, logger="core")
    return caplog


def _request_lines(caplog):
    return [record for record in caplog.records if record.name == "core.request"]


def test_each_request_gets_an_id_echoed_and_logged_with_its_line(app, lines, db):
    user = UserFactory()
    db.commit()

    found = app.get(f"/api/project?api_key={user.api_key}")

    request_id = found.headers["X-Request-ID"]
    (record,) = _request_lines(lines)
    assert record.request_id == request_id and len(request_id) == 32
    assert (record.method, record.route, record.status) == ("GET", "collection_project", 200)
    assert record.user_id == user.id and record.duration_ms >= 0
    # Never the query: it may hold the api key.
    assert user.api_key not in record.getMessage() and user.api_key not in str(record.__dict__)


def test_an_untrusted_proxys_request_id_is_replaced(app, lines):
    found = app.get("/api/project", headers={"X-Request-ID": "from-a-client"})

    assert found.headers["X-Request-ID"] != "from-a-client"


def test_a_trusted_proxys_request_id_is_kept_when_it_looks_like_one(make_app, lines):
    app = make_app(proxy__trusted="true")

    kept = app.get("/api/project", headers={"X-Request-ID": "abc-123.4"})
    odd = app.get("/api/project", headers={"X-Request-ID": 'a b"c'})

    assert kept.headers["X-Request-ID"] == "abc-123.4"
    assert odd.headers["X-Request-ID"] != 'a b"c'
    assert next(record.request_id for record in _request_lines(lines)) == "abc-123.4"


def test_the_lean_paths_requests_are_logged_with_their_user(
    make_app, redis_client, redis_url, lines, db
):
    app = make_app(redis__url=redis_url)
    project = ProjectFactory(info={"task_presenter": "<p></p>"})
    TaskFactory(project=project)
    user = UserFactory()
    db.commit()

    app.get(f"/api/project/{project.id}/newtask?api_key={user.api_key}")

    (record,) = _request_lines(lines)
    # The lean path names the route as the application would.
    assert (record.route, record.status, record.user_id) == ("newtask", 200, user.id)


def test_a_job_started_by_a_request_logs_with_its_id():
    seen = []

    def job(settings, value):
        seen.append((value, current_id.get()))

    token = current_id.set("req-1")
    try:
        jobs.enqueue({"redis.url": "", "jobs.inline": "now"}, job, 7)
    finally:
        current_id.reset(token)
    jobs.enqueue({"redis.url": "", "jobs.inline": "now"}, job, 8)

    assert seen == [(7, "req-1"), (8, "-")]


def test_json_lines_carry_the_id_and_the_fields():
    from pythonjsonlogger.json import JsonFormatter

    record = logging.LogRecord("core.request", logging.INFO, __file__, 1, "GET x 200", (), None)
    record.route, record.status = "x", 200
    token = current_id.set("req-2")
    try:
        RequestIdFilter().filter(record)
    finally:
        current_id.reset(token)

    line = json.loads(JsonFormatter(JSON_FIELDS).format(record))

    assert (line["request_id"], line["route"], line["status"], line["message"]) == (
        "req-2",
        "x",
        200,
        "GET x 200",
    )
