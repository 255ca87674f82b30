"""In a real browser: a hostile task presenter cannot reach the volunteer's account.

The presenter (malicious_presenter.html) runs in its sandboxed frame (decision 15) and tries
to read the profile and the API key, the cookies, the page around it and a CSRF token, to change
the volunteer's e-mail address, to forge a write with the session's cookie and to abuse the
postMessage bridge; each attempt is refused, and its normal answer is still saved.
"""

import json
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from core.models import TaskRun
from core.security import SESSION_COOKIE
from tests.browser.test_contribute_browser import (
    IMAGES,
    Browser,
    api,
    create_project,
    database,
    publish,
    tasks_of,
    user_named,
)

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
# Attempts the browser or the server must refuse, each by name in the presenter's report.
REFUSED = (
    "profile",
    "api_user_credentials",
    "cookie",
    "parent_document",
    "parent_cookie",
    "csrf_here",
    "csrf_page",
    "put_user",
    "simple_post",
    "bridge_other_op",
    "bridge_other_project",
)


def test_a_hostile_presenter_cannot_take_the_volunteers_account(
    live_server, new_browser, screenshots
):
    owner = Browser(new_browser(), live_server, screenshots, "hostile-owner")
    owner.register("Mallory Owner", "mallory")
    owner_key = user_named(live_server, "mallory").api_key
    volunteer = Browser(new_browser(), live_server, screenshots, "victim")
    volunteer.register("Victoria Victim", "victoria")
    victim = user_named(live_server, "victoria")
    presenter = (
        (HERE / "malicious_presenter.html")
        .read_text()
        .replace("__VICTIM_ID__", str(victim.id))
        .replace("__SHORT_NAME__", "hostile")
    )
    create_project(owner, owner_key, "Hostile", "hostile")
    project = api(live_server, "GET", "/api/project?short_name=hostile", owner_key)[0]
    info = {**project["info"], "task_presenter": presenter}
    api(live_server, "PUT", f"/api/project/{project['id']}", owner_key, {"info": info})
    task = {"project_id": project["id"], "info": {"url_b": IMAGES[0]}, "n_answers": 1}
    api(live_server, "POST", "/api/task", owner_key, task)
    publish(owner, "hostile")
    [task] = tasks_of(live_server, "hostile")
    first_request = len(live_server.requests)

    volunteer.go("/project/hostile/newtask")
    page_url = volunteer.driver.current_url
    volunteer.enter_presenter()
    volunteer.wait(lambda driver: driver.find_element(By.ID, "saved").is_displayed())
    report = json.loads(volunteer.find("#report").text)
    volunteer.driver.switch_to.default_content()
    volunteer.shot("hostile-presenter")

    print("what the hostile presenter got:", json.dumps(report, indent=1))
    for name in REFUSED:
        assert report[name].startswith("blocked"), (name, report[name])
    # Public reads work from the frame, as an anonymous caller's; nothing of the session.
    assert report["api_user_anonymous"].startswith("GOT"), report["api_user_anonymous"]
    assert victim.api_key not in json.dumps(report)
    assert victim.email_addr not in json.dumps(report)
    # The page around the frame was not navigated away without a click.
    assert volunteer.driver.current_url == page_url
    with database(live_server) as db:
        runs = db.query(TaskRun).filter(TaskRun.task_id == task.id).all()
    assert [(run.user_id, run.info) for run in runs] == [(victim.id, {"cat": "yes"})]
    assert user_named(live_server, "victoria").email_addr == victim.email_addr
    assert user_named(live_server, "victoria").api_key == victim.api_key
    # Every request the frame's document made (Origin: null, its opaque origin) left without
    # the session cookie; the page around it did make same-origin calls with it.
    sent = live_server.requests[first_request:]
    from_frame = [request for request in sent if request[2] == "null"]
    assert {path for _, path, _, _ in from_frame} >= {f"/api/user/{victim.id}", "/api/taskrun"}
    assert [request for request in from_frame if SESSION_COOKIE in request[3]] == []
    assert any(
        path == "/api/taskrun" and method == "POST" and SESSION_COOKIE in cookie
        for method, path, _, cookie in sent
    )
