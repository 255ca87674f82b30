"""/project/<short_name>/publicstream and /privatestream (PYBOSSA's SSE; core.streams).

Streams are read as a WSGI server reads them: the app_iter, chunk by chunk, with a deadline and
a keep-alive short enough that no read can hang a test.
"""

import http.client
import json
import threading
import time
import uuid

import pytest
import requests
import webob

from core.delivery import LeanDelivery
from core.streams import PUBLIC_RUN_FIELDS
from tests.factories import ProjectFactory, TaskFactory, UserFactory
from tests.functional.web.conftest import csrf_token, make_user, sign_in

# A quiet stream yields a keep-alive comment this often: a read never blocks for longer.
SSE = {"sse__enabled": "true", "sse__keepalive_seconds": "0.1", "sse__max_seconds": "20"}
UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"


class Stream:
    """An open event stream: its response, and the events read from it so far."""

    def __init__(self, testapp, url: str, cookie: str | None = None):
        headers = {"Accept": "text/event-stream"}
        if cookie:
            headers["Cookie"] = cookie
        request = webob.Request.blank(url, headers=headers, environ={"REMOTE_ADDR": "10.0.0.1"})
        self.response = request.get_response(testapp.app)
        self.status = self.response.status_int
        self.chunks = iter(self.response.app_iter) if self.status == 200 else iter(())
        self.text = b""

    def events(self, count: int, within: float = 5.0) -> list[dict]:
        """The next `count` events (fewer when `within` seconds pass or the stream ends)."""
        found, deadline = [], time.monotonic() + within
        while len(found) < count and time.monotonic() < deadline:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.text += chunk
            if chunk.startswith(b"data: "):
                found.append(json.loads(chunk[len(b"data: ") :]))
        return found

    def close(self) -> None:
        close = getattr(self.response.app_iter, "close", None)
        if close is not None:
            close()


@pytest.fixture
def open_stream():
    """open_stream(app, url, cookie=None) -> Stream; every stream is closed after the test."""
    opened = []

    def open_(testapp, url, cookie=None):
        stream = Stream(testapp, url, cookie)
        opened.append(stream)
        return stream

    yield open_
    for stream in opened:
        stream.close()


def _project(**fields):
    # Redis channels are server-wide: a name of this test's own (parallel test runs share Redis).
    fields.setdefault("short_name", f"stream-{uuid.uuid4().hex[:12]}")
    return ProjectFactory(**fields)


def _answer(testapp, volunteer, task) -> dict:
    """A volunteer asks for a task and answers it through the API (as pbclient does)."""
    key = volunteer.api_key
    handed = testapp.get(f"/api/project/{task.project_id}/newtask?api_key={key}").json
    assert handed["id"] == task.id
    body = {"project_id": task.project_id, "task_id": task.id, "info": {"answer": "yes"}}
    return testapp.post_json(f"/api/taskrun?api_key={key}", body).json


def _cookie(testapp) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in testapp.cookiejar)


# --- who may listen ------------------------------------------------------------------------------


@pytest.mark.parametrize("published", [True, False])
def test_who_may_listen(make_app, db, open_stream, published):
    owner, coowner, other = (make_user() for _ in range(3))
    admin = make_user(admin=True)
    project = _project(owner=owner, coowners=[coowner], published=published)
    expected = {
        # role: (publicstream, privatestream)
        "anonymous": (200 if published else 302, 302),
        "other": (200 if published else 403, 403),
        "owner": (200, 200),
        "coowner": (200, 200),
        "admin": (200, 200),
    }
    users = {"anonymous": None, "other": other, "owner": owner, "coowner": coowner, "admin": admin}

    found = {}
    for role, user in users.items():
        testapp = make_app(**SSE)
        if user is not None:
            sign_in(testapp, user)
        cookie = _cookie(testapp)
        statuses = []
        for kind in ("publicstream", "privatestream"):
            stream = open_stream(testapp, f"/project/{project.short_name}/{kind}", cookie)
            if stream.status == 302:
                assert "/account/signin?next=" in stream.response.location
            if stream.status == 200:
                assert stream.response.content_type == "text/event-stream"
                assert stream.response.headers["Cache-Control"] == "no-cache"
                assert stream.response.headers["X-Accel-Buffering"] == "no"
                assert "Content-Length" not in stream.response.headers
            statuses.append(stream.status)
            stream.close()
        found[role] = tuple(statuses)

    assert found == expected


def test_an_unknown_project_is_404(make_app, db, open_stream):
    stream = open_stream(make_app(**SSE), "/project/nothing-here/publicstream")
    assert stream.status == 404


def test_streams_are_off_by_default(make_app, db, open_stream):
    owner = UserFactory()
    project = _project(owner=owner)
    testapp = make_app()
    for kind in ("publicstream", "privatestream"):
        url = f"/project/{project.short_name}/{kind}?api_key={owner.api_key}"
        assert open_stream(testapp, url).status == 404


def test_a_signed_out_session_is_refused_on_reconnection(make_app, db, open_stream):
    owner = make_user()
    project = _project(owner=owner)
    testapp = make_app(**SSE)
    sign_in(testapp, owner)
    cookie = _cookie(testapp)
    url = f"/project/{project.short_name}/privatestream"
    assert open_stream(testapp, url, cookie).status == 200

    token = csrf_token(testapp, "/account/register")
    testapp.post_json("/account/signout", {}, headers={"X-CSRFToken": token})

    assert open_stream(testapp, url, cookie).status == 302


# --- what the streams carry ---------------------------------------------------------------------


def _check_answer_events(testapp, open_stream, db):
    """An answer completing its task reaches both streams, each with what it may show."""
    owner, volunteer = UserFactory(), UserFactory()
    project = _project(owner=owner)
    task = TaskFactory(project=project, n_answers=1)
    base = f"/project/{project.short_name}"
    public = open_stream(testapp, f"{base}/publicstream")
    private = open_stream(testapp, f"{base}/privatestream?api_key={owner.api_key}")
    assert (public.status, private.status) == (200, 200)

    run = _answer(testapp, volunteer, task)

    public_events = public.events(2)
    private_events = private.events(3)
    assert [e["type"] for e in public_events] == ["taskrun", "task_completed"]
    assert [e["type"] for e in private_events] == ["taskrun", "task_completed", "result"]
    # The public stream shows ids and times only: no author, no address, no answer.
    assert public_events[0]["data"] == {key: run[key] for key in PUBLIC_RUN_FIELDS}
    # The private one the run as the owner's API shows it.
    assert private_events[0]["data"] == run
    owner_view = testapp.get(f"/api/taskrun/{run['id']}?api_key={owner.api_key}").json
    assert {k: v for k, v in owner_view.items() if k not in ("link", "links")} == run
    completed = public_events[1]["data"]
    assert completed["event"] == "task_completed"
    assert completed["project_short_name"] == project.short_name
    assert (completed["task_id"], completed["project_id"]) == (task.id, project.id)
    assert private_events[1]["data"] == completed
    result = private_events[2]["data"]
    assert (result["id"], result["task_id"]) == (completed["result_id"], task.id)
    assert result["task_run_ids"] == [run["id"]]
    # A project's streams carry only its own answers.
    other = TaskFactory(project=_project(), n_answers=1)
    _answer(testapp, volunteer, other)
    assert public.events(1, within=0.5) == []
    return run


def test_answers_reach_the_streams_without_redis(make_app, db, open_stream):
    testapp = make_app(**SSE)
    assert testapp.app.registry["redis"] is None

    _check_answer_events(testapp, open_stream, db)


def test_answers_reach_the_streams_through_redis_on_the_application_path(
    make_app, db, open_stream, redis_client, redis_url
):
    testapp = make_app(**SSE, redis__url=redis_url, delivery__lean="false")

    _check_answer_events(testapp, open_stream, db)


class Spy:
    """Counts the requests the application behind the lean path answered."""

    def __init__(self, app):
        self.app, self.calls = app, 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.app(environ, start_response)


def test_answers_stored_by_the_lean_path_reach_the_streams(
    make_app, db, open_stream, redis_client, redis_url
):
    testapp = make_app(**SSE, redis__url=redis_url)
    lean = testapp.app
    while not isinstance(lean, LeanDelivery):
        lean = lean.app
    lean.forget_hints()
    spy = lean.app = Spy(lean.app)
    owner, volunteer = UserFactory(), UserFactory()
    project = _project(owner=owner)
    task = TaskFactory(project=project, n_answers=1)
    base = f"/project/{project.short_name}"
    try:
        public = open_stream(testapp, f"{base}/publicstream")
        private = open_stream(testapp, f"{base}/privatestream?api_key={owner.api_key}")
        calls = spy.calls
        run = _answer(testapp, volunteer, task)
        assert spy.calls == calls  # the lean path stored it
    finally:
        lean.app = spy.app

    public_events = public.events(2)
    private_events = private.events(3)
    assert [e["type"] for e in public_events] == ["taskrun", "task_completed"]
    assert public_events[0]["data"] == {key: run[key] for key in PUBLIC_RUN_FIELDS}
    assert [e["type"] for e in private_events] == ["taskrun", "task_completed", "result"]
    assert private_events[0]["data"] == run
    assert private_events[2]["data"]["task_run_ids"] == [run["id"]]
    assert private_events[2]["data"]["id"] == public_events[1]["data"]["result_id"]


def test_an_answer_to_one_worker_reaches_a_stream_held_by_another(
    make_app, db, open_stream, redis_client, redis_url
):
    # Two applications (two gunicorn workers) sharing one Redis: the setting that differs only
    # makes make_app build a second one.
    first = make_app(**SSE, redis__url=redis_url)
    second = make_app(**SSE, redis__url=redis_url, sse__max_streams="21")
    assert first.app.registry["streams"] is not second.app.registry["streams"]
    volunteer = UserFactory()
    project = _project()
    task = TaskFactory(project=project, n_answers=2)
    stream = open_stream(second, f"/project/{project.short_name}/publicstream")

    run = _answer(first, volunteer, task)

    assert stream.events(1) == [
        {"type": "taskrun", "data": {key: run[key] for key in PUBLIC_RUN_FIELDS}}
    ]


def test_with_redis_unreachable_a_process_still_streams_its_own_answers(make_app, db, open_stream):
    testapp = make_app(**SSE, redis__url=UNREACHABLE_REDIS)
    volunteer = UserFactory()
    project = _project()
    task = TaskFactory(project=project, n_answers=2)
    stream = open_stream(testapp, f"/project/{project.short_name}/publicstream")
    assert stream.status == 200

    run = _answer(testapp, volunteer, task)

    assert stream.events(1) == [
        {"type": "taskrun", "data": {key: run[key] for key in PUBLIC_RUN_FIELDS}}
    ]


def test_nothing_is_published_when_streams_are_off(make_app, db, redis_client, redis_url):
    testapp = make_app(redis__url=redis_url, delivery__lean="false")
    assert testapp.app.registry["streams"] is None
    project = _project()
    task = TaskFactory(project=project, n_answers=1)
    listener = redis_client.pubsub()
    listener.psubscribe("channel_*")
    assert listener.get_message(timeout=1)["type"] == "psubscribe"

    _answer(testapp, UserFactory(), task)

    assert listener.get_message(timeout=0.5) is None
    listener.close()


# --- streams end ----------------------------------------------------------------------------


def test_a_stream_ends_after_max_seconds_with_retry_and_keepalives(make_app, db, open_stream):
    testapp = make_app(**{**SSE, "sse__max_seconds": "0.5"})
    project = _project()
    stream = open_stream(testapp, f"/project/{project.short_name}/publicstream")
    started = time.monotonic()

    stream.events(1, within=10)

    assert time.monotonic() - started < 3
    assert next(stream.chunks, None) is None  # ended
    assert stream.text.startswith(b"retry: ")
    assert b": keep-alive\n\n" in stream.text


def test_a_process_holds_at_most_max_streams(make_app, db, open_stream):
    testapp = make_app(**{**SSE, "sse__max_streams": "1"})
    project = _project()
    url = f"/project/{project.short_name}/publicstream"
    first = open_stream(testapp, url)

    refused = open_stream(testapp, url)
    first.close()
    again = open_stream(testapp, url)

    assert first.status == 200
    assert refused.status == 503
    assert int(refused.response.headers["Retry-After"]) > 0
    assert again.status == 200


def test_one_client_holds_at_most_max_streams_per_client(make_app, db, open_stream):
    testapp = make_app(**{**SSE, "sse__max_streams": "4", "sse__max_streams_per_client": "2"})
    owner = make_user()
    project = _project(owner=owner)
    url = f"/project/{project.short_name}/publicstream"
    held = [open_stream(testapp, url) for _ in range(2)]

    refused = open_stream(testapp, url)
    other = open_stream(testapp, f"{url}?api_key={owner.api_key}")

    assert [stream.status for stream in held] == [200, 200]
    assert refused.status == 503
    assert other.status == 200  # another client (an account) still gets a slot
    for stream in (*held, other):
        stream.close()
    assert testapp.app.registry["streams"].open == 0


def test_a_stream_never_read_gives_its_slot_back_when_closed(make_app, db, open_stream):
    testapp = make_app(**{**SSE, "sse__max_streams": "1"})
    project = _project()
    url = f"/project/{project.short_name}/publicstream"
    for _ in range(3):
        stream = open_stream(testapp, url)
        assert stream.status == 200
        stream.close()
    assert testapp.app.registry["streams"].open == 0


# --- the owner's page ---------------------------------------------------------------------------


def test_the_tasks_page_counts_new_answers_live_for_owners_only(make_app, db):
    owner = make_user()
    project = _project(owner=owner)
    url = f"/project/{project.short_name}/tasks/"
    on = make_app(**SSE)
    sign_in(on, owner)

    owners_page = on.get(url).text
    visitors_page = make_app(**SSE).get(url).text
    off = make_app()
    sign_in(off, owner)
    page_when_off = off.get(url).text

    assert f'data-stream="/project/{project.short_name}/privatestream"' in owners_page
    assert "live-answers.js" in owners_page
    assert "live-answers" not in visitors_page
    assert "live-answers" not in page_when_off


# --- over HTTP ----------------------------------------------------------------------------------


@pytest.fixture
def live_server(make_app):
    """The application behind waitress, as a browser meets it (each event sent at once)."""
    from waitress.server import create_server

    application = make_app(**SSE).app
    server = create_server(application, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server.effective_port, application.registry["streams"]
    server.close()


def test_events_reach_a_browser_over_http_as_they_happen(live_server, db):
    port, broker = live_server
    owner, volunteer = UserFactory(), UserFactory()
    project = _project(owner=owner)
    task = TaskFactory(project=project, n_answers=2)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request(
        "GET",
        f"/project/{project.short_name}/privatestream?api_key={owner.api_key}",
        headers={"Accept": "text/event-stream"},
    )
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")
    assert response.readline().startswith(b"retry: ")  # sent before any event

    key = volunteer.api_key
    base = f"http://127.0.0.1:{port}"
    requests.get(f"{base}/api/project/{project.id}/newtask?api_key={key}", timeout=5)
    body = {"project_id": project.id, "task_id": task.id, "info": {"answer": "no"}}
    run = requests.post(f"{base}/api/taskrun?api_key={key}", json=body, timeout=5).json()

    line = response.readline()
    while not line.startswith(b"data: "):
        line = response.readline()
    assert json.loads(line[len(b"data: ") :]) == {"type": "taskrun", "data": run}
    assert broker.open == 1

    response.close()
    connection.close()

    # The stream notices the browser left at its next keep-alive, and gives its slot back.
    deadline = time.monotonic() + 5
    while broker.open and time.monotonic() < deadline:
        time.sleep(0.05)
    assert broker.open == 0
