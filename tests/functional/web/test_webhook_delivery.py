"""Webhook delivery end to end: the answer that completes a task reaches a local HTTP server.

The receiver is a real HTTP server on 127.0.0.1 started by the tests; `webhooks.allow_private`
lets Crowdnest reach it, as an intranet deployment would.
"""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import rq
from sqlalchemy import select

from core import jobs
from core.models import WebhookDelivery
from tests.factories import ProjectFactory, TaskFactory
from tests.functional.web.conftest import JSON, csrf_token, sign_in

PLUGIN_ON = {"plugins__webhooks": "http", "webhooks__backoff": "0"}
REACHES_LOCALHOST = {**PLUGIN_ON, "webhooks__allow_private": "true"}


class Receiver(ThreadingHTTPServer):
    """Records every POST; answers with the statuses it is given in turn, then 200."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.received: list[dict] = []
        self.statuses: list[int] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/hook"


class ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append({"path": self.path, "headers": self.headers, "body": body})
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(f"answered {status}".encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def complete_a_task(app, url: str, **project_fields):
    """A published project with one task needing one answer, answered through the API."""
    project = ProjectFactory(webhook=url, **project_fields)
    TaskFactory(project=project, n_answers=1)
    task = app.get(f"/api/project/{project.id}/newtask").json
    body = {"project_id": project.id, "task_id": task["id"], "info": {"answer": "cat"}}
    response = app.post_json("/api/taskrun", body)
    return project, task, response


def deliveries(db, project) -> list[WebhookDelivery]:
    db.rollback()
    db.expire_all()
    found = db.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.project_id == project.id)
        .order_by(WebhookDelivery.id)
    ).all()
    db.commit()
    return found


def test_completing_a_task_posts_the_signed_payload(make_app, db, receiver):
    app = make_app(**REACHES_LOCALHOST)

    project, task, response = complete_a_task(app, receiver.url)

    assert response.status_int == 200
    [received] = receiver.received
    payload = json.loads(received["body"])
    assert payload["event"] == "task_completed"
    assert (payload["project_id"], payload["task_id"]) == (project.id, task["id"])
    assert payload["project_short_name"] == project.short_name
    assert set(payload) == {
        "event",
        "project_short_name",
        "project_id",
        "task_id",
        "result_id",
        "fired_at",
    }
    expected = hmac.new(project.secret_key.encode(), received["body"], hashlib.sha256)
    assert received["headers"]["X-Crowdnest-Signature"] == f"sha256={expected.hexdigest()}"
    assert received["headers"]["Content-Type"] == "application/json"
    assert received["path"] == "/hook"
    [delivery] = deliveries(db, project)
    assert (delivery.status, delivery.status_code, delivery.attempts) == ("delivered", 200, 1)
    assert delivery.response == "answered 200"
    assert delivery.payload == payload
    assert delivery.last_error is None


def test_a_failing_receiver_is_retried_until_it_answers(make_app, db, receiver):
    app = make_app(**REACHES_LOCALHOST)
    receiver.statuses = [500, 503]

    project, _, response = complete_a_task(app, receiver.url)

    assert response.status_int == 200
    assert len(receiver.received) == 3
    assert len({item["body"] for item in receiver.received}) == 1
    [delivery] = deliveries(db, project)
    assert (delivery.status, delivery.status_code, delivery.attempts) == ("delivered", 200, 3)


def test_a_receiver_that_keeps_failing_is_given_up_after_the_last_attempt(make_app, db, receiver):
    app = make_app(**REACHES_LOCALHOST)
    receiver.statuses = [500] * 10

    project, _, response = complete_a_task(app, receiver.url)

    assert response.status_int == 200
    assert len(receiver.received) == 5
    [delivery] = deliveries(db, project)
    assert (delivery.status, delivery.status_code, delivery.attempts) == ("failed", 500, 5)
    assert delivery.last_error == "HTTP 500"
    assert delivery.response == "answered 500"


def test_a_refusal_by_the_receiver_is_not_retried(make_app, db, receiver):
    app = make_app(**REACHES_LOCALHOST)
    receiver.statuses = [410]

    project, _, _ = complete_a_task(app, receiver.url)

    assert len(receiver.received) == 1
    [delivery] = deliveries(db, project)
    assert (delivery.status, delivery.status_code, delivery.attempts) == ("failed", 410, 1)


def test_an_unreachable_receiver_is_logged_as_a_connection_error(make_app, db, receiver):
    app = make_app(**REACHES_LOCALHOST)
    closed = receiver.url
    receiver.shutdown()
    receiver.server_close()

    project, _, response = complete_a_task(app, closed)

    assert response.status_int == 200
    [delivery] = deliveries(db, project)
    assert (delivery.status, delivery.status_code, delivery.attempts) == ("failed", None, 5)
    assert delivery.last_error.startswith("Connection Error")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",
        "http://[::1]:{port}/hook",
        "http://10.0.0.1:{port}/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://224.0.0.1/hook",
        "http://0.0.0.0:{port}/hook",
    ],
)
def test_private_addresses_are_refused_and_logged(make_app, db, receiver, url):
    app = make_app(**PLUGIN_ON)
    url = url.format(port=receiver.server_address[1])

    project, _, response = complete_a_task(app, url)

    assert response.status_int == 200
    assert receiver.received == []
    [delivery] = deliveries(db, project)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error.startswith("Refused:")
    assert delivery.url == url


def test_a_project_without_webhook_url_logs_nothing(make_app, db, receiver):
    app = make_app(**REACHES_LOCALHOST)

    project, _, response = complete_a_task(app, None)

    assert response.status_int == 200
    assert deliveries(db, project) == []
    assert receiver.received == []


def test_answers_that_do_not_complete_a_task_send_nothing(make_app, db, receiver):
    app = make_app(**REACHES_LOCALHOST)
    project = ProjectFactory(webhook=receiver.url)
    TaskFactory(project=project, n_answers=2)
    task = app.get(f"/api/project/{project.id}/newtask").json

    app.post_json("/api/taskrun", {"project_id": project.id, "task_id": task["id"], "info": 1})

    assert receiver.received == []
    assert deliveries(db, project) == []


def test_without_the_plugin_nothing_is_sent(make_app, db, receiver):
    app = make_app(webhooks__allow_private="true")

    project, _, response = complete_a_task(app, receiver.url)

    assert response.status_int == 200
    assert receiver.received == []
    assert deliveries(db, project) == []


def test_the_owner_resends_a_delivery_with_rerun(make_app, db, receiver):
    app = make_app(**REACHES_LOCALHOST)
    project, _, _ = complete_a_task(app, receiver.url)
    [first] = deliveries(db, project)
    sign_in(app, project_owner(db, project))
    token = csrf_token(app, f"/project/{project.short_name}/webhook")

    body = app.post_json(
        f"/project/{project.short_name}/webhook/{first.id}/resend",
        {},
        headers={**JSON, "X-CSRFToken": token},
    ).json

    assert body["status"] == "success"
    assert body["next"] == f"/project/{project.short_name}/webhook"
    assert [item["path"] for item in receiver.received] == ["/hook", "/hook?rerun=True"]
    assert receiver.received[0]["body"] == receiver.received[1]["body"]
    old, new = deliveries(db, project)
    assert (old.id, old.rerun) == (first.id, False)
    assert (new.rerun, new.status, new.attempts, new.payload) == (
        True,
        "delivered",
        1,
        first.payload,
    )


def project_owner(db, project):
    from core.models import User

    return db.get(User, project.owner_id)


# --- through RQ and a worker -------------------------------------------------------------------


@pytest.fixture
def rq_app(make_app, redis_client, redis_url):
    return make_app(**REACHES_LOCALHOST, redis__url=redis_url)


def run_worker(app, redis_client):
    settings = app.app.registry.settings
    worker = jobs.SimpleWorker(settings["jobs.queues"], connection=redis_client, settings=settings)
    worker.work(burst=True)


def test_with_redis_a_worker_delivers_after_the_answer_returns(rq_app, db, redis_client, receiver):
    project, _, response = complete_a_task(rq_app, receiver.url)

    assert response.status_int == 200
    assert receiver.received == []
    assert rq.Queue("high", connection=redis_client).count == 1

    run_worker(rq_app, redis_client)

    [received] = receiver.received
    assert json.loads(received["body"])["project_id"] == project.id
    [delivery] = deliveries(db, project)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


def test_with_redis_rq_retries_a_failing_receiver(rq_app, db, redis_client, receiver):
    receiver.statuses = [500, 502]
    project, _, _ = complete_a_task(rq_app, receiver.url)

    run_worker(rq_app, redis_client)

    assert len(receiver.received) == 3
    [delivery] = deliveries(db, project)
    assert (delivery.status, delivery.status_code, delivery.attempts) == ("delivered", 200, 3)


def test_a_host_name_is_reached_through_its_checked_addresses(make_app, db, receiver):
    app = make_app(**REACHES_LOCALHOST)
    url = f"http://localhost:{receiver.server_address[1]}/hook?token=abc"

    project, _, _ = complete_a_task(app, url)

    assert [item["path"] for item in receiver.received] == ["/hook?token=abc"]
    assert receiver.received[0]["headers"]["Host"] == f"localhost:{receiver.server_address[1]}"
    [delivery] = deliveries(db, project)
    assert delivery.status == "delivered"
