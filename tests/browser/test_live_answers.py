"""In a real browser: the owner's tasks page counts new answers live (docs/streams.md).

The stream ends after sse.max_seconds and the page's EventSource reconnects by itself; the
answers sent after the reconnection are counted all the same.
"""

import time

import pytest

from tests.browser.conftest import served_application
from tests.browser.test_contribute_browser import Browser, api, user_named

pytestmark = pytest.mark.browser

STREAMS = {"sse.enabled": "true", "sse.keepalive_seconds": "1", "sse.max_seconds": "3"}


@pytest.fixture
def streaming_server():
    """development.ini's application with streams on, on a fresh SQLite database, served."""
    with served_application(**STREAMS) as server:
        yield server


def _streams_opened(server) -> int:
    return sum(path.endswith("/privatestream") for _, path, *_ in server.requests)


def test_the_tasks_page_counts_answers_across_a_reconnection(
    streaming_server, new_browser, screenshots
):
    owner = Browser(new_browser(), streaming_server, screenshots, "owner")
    owner.register("Olga Owner", "olga")
    key = user_named(streaming_server, "olga").api_key
    body = {"name": "Live", "short_name": "live", "description": "Live answers"}
    project = api(streaming_server, "POST", "/api/project", key, body)
    tasks = [
        api(streaming_server, "POST", "/api/task", key, {"project_id": project["id"], "info": {}})
        for _ in range(2)
    ]
    owner.go("/project/live/tasks/")
    owner.wait(lambda driver: owner.find("#live-answers").is_displayed())
    deadline = time.monotonic() + 20
    while _streams_opened(streaming_server) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # the first stream ends after sse.max_seconds; the page reconnects
    assert _streams_opened(streaming_server) >= 2
    time.sleep(0.5)

    for task in tasks:
        api(streaming_server, "GET", f"/api/project/{project['id']}/newtask", key)
        answer = {"project_id": project["id"], "task_id": task["id"], "info": {"a": 1}}
        api(streaming_server, "POST", "/api/taskrun", key, answer)

    owner.wait(lambda driver: owner.find("[data-count]").text == "2")
    assert owner.find("[data-last]").text == str(tasks[-1]["id"])
    owner.shot("live-answers")
    errors = [e for e in owner.driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
