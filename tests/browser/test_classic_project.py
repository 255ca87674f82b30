"""In a real browser: a project written the classic PYBOSSA way runs unchanged (issue 18).

The project in classic_project/ (template.html with jQuery, tutorial.html with a Bootstrap
modal, results.html, long_description.md, project.json, tasks.csv) is deployed through the API
as `pbs create-project`, `pbs update-project` and `pbs add-tasks` send it; a volunteer then sees
the tutorial on the first visit, contributes, and reads the results. Any JavaScript error in the
browser's console, of the pages or of their frames, fails the test.
"""

import csv
import json
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from core.models import Category
from tests.browser.conftest import served_application
from tests.browser.test_contribute_browser import (
    Browser,
    api,
    database,
    publish,
    tasks_of,
    user_named,
)

pytestmark = pytest.mark.browser

PROJECT = Path(__file__).parent / "classic_project"
READY = ("classic tutorial ready", "classic presenter ready", "classic results ready")
# Chromium runs sandboxed frames in processes of their own, whose console chromedriver's log
# leaves out; in the page's process, their messages and errors are in driver.get_log().
FRAMES_IN_PROCESS = "--disable-features=IsolateSandboxedIframes"


@pytest.fixture(scope="module")
def live_server():
    """A server of this test's own: the shared one's first account must stay its admin."""
    with served_application() as server:
        yield server


class Console:
    """Every console message of the browsers, read as the test goes (reading empties Chrome's)."""

    def __init__(self):
        self.entries = []

    def read(self, *browsers: Browser) -> None:
        for browser in browsers:
            self.entries += [
                {**entry, "who": browser.who} for entry in browser.driver.get_log("browser")
            ]

    def errors(self) -> list[dict]:
        return [entry for entry in self.entries if entry["level"] == "SEVERE"]

    def said(self, text: str) -> bool:
        return any(text in entry["message"] for entry in self.entries)


def deploy_with_pbs_calls(server, api_key: str) -> dict:
    """What pbs does: create-project from project.json, update-project with the templates and
    long_description.md, add-tasks from tasks.csv."""
    config = json.loads((PROJECT / "project.json").read_text())
    with database(server) as db:
        if db.query(Category).count() == 0:
            print("no category on a fresh database yet (issue 18 point 1): adding one")
            db.add(Category(name="Thinking", short_name="thinking", description="Default"))
            db.commit()
    body = {key: config[key] for key in ("name", "short_name", "description")}
    project = api(server, "POST", "/api/project", api_key, body)
    info = {
        **project["info"],
        "task_presenter": (PROJECT / "template.html").read_text(),
        "tutorial": (PROJECT / "tutorial.html").read_text(),
        "results": (PROJECT / "results.html").read_text(),
    }
    update = {"info": info, "long_description": (PROJECT / "long_description.md").read_text()}
    api(server, "PUT", f"/api/project/{project['id']}", api_key, update)
    with (PROJECT / "tasks.csv").open() as rows:
        for row in csv.DictReader(rows):
            task = {"project_id": project["id"], "info": row, "n_answers": 1}
            api(server, "POST", "/api/task", api_key, task)
    return project


def in_frame(browser: Browser, css: str):
    """Enter the page's owner frame and wait for an element to be displayed there."""
    browser.enter_presenter()
    return browser.wait(lambda driver: _displayed(driver, css))


def _displayed(driver, css: str):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found and found[0].is_displayed() else False


def test_a_classic_project_deployed_with_pbs_runs_without_a_console_error(
    live_server, new_browser, screenshots
):
    console = Console()
    owner = Browser(new_browser(FRAMES_IN_PROCESS), live_server, screenshots, "pbs-owner")
    owner.register("Clara Classic", "clara")
    key = user_named(live_server, "clara").api_key
    project = deploy_with_pbs_calls(live_server, key)
    publish(owner, "birds")

    # long_description.md, rendered.
    owner.go("/project/birds/")
    description = owner.find(".long-description")
    assert description.find_element(By.TAG_NAME, "h2").text == "Why we count birds"
    assert description.find_element(By.TAG_NAME, "strong").text == "healthy"
    assert "##" not in description.text
    owner.shot("classic-description")
    console.read(owner)

    # The first visit shows the tutorial: its modal opened by its own inline script.
    volunteer = Browser(new_browser(FRAMES_IN_PROCESS), live_server, screenshots, "pbs-volunteer")
    volunteer.register("Vera Volunteer", "vera")
    volunteer.go("/project/birds/newtask")
    assert volunteer.find("#tutorial")
    dialog_height = in_frame(volunteer, "#tutorial-modal .modal-dialog").size["height"]
    assert volunteer.find("#i18n_step1").text == "Look at the picture."
    # The frame grows to show the whole modal (it is out of the document's flow).
    volunteer.driver.switch_to.default_content()
    frame = volunteer.find("#presenter-frame")
    volunteer.wait(lambda driver: frame.size["height"] >= dialog_height > 100)
    volunteer.shot("classic-tutorial")
    volunteer.enter_presenter()
    volunteer.press("#next-step")
    volunteer.wait(lambda driver: _displayed(driver, "#step-2"))
    volunteer.press("#start-contributing")
    volunteer.driver.switch_to.default_content()
    volunteer.wait(lambda driver: driver.find_elements(By.ID, "task-presenter"))
    console.read(volunteer)

    # Then the presenter, until every task is answered.
    in_frame(volunteer, "#photo")
    assert volunteer.find("#i18n_question").text == "Do you see a bird?"
    answered = []
    for _ in range(4):
        volunteer.wait(
            lambda driver: (
                _displayed(driver, "#finish")
                or driver.find_element(By.ID, "task-id").text not in ("", *answered)
            )
        )
        if _displayed(volunteer.driver, "#finish"):
            break
        answered.append(volunteer.find("#task-id").text)
        volunteer.shot(f"classic-task-{answered[-1]}")
        volunteer.press(".btn-answer[value=Yes]")
    tasks = tasks_of(live_server, "birds")
    assert sorted(answered) == sorted(str(task.id) for task in tasks)
    assert {task.state for task in tasks} == {"completed"}
    console.read(volunteer)

    # The owner fills the results in; results.html lists them.
    for result in api(live_server, "GET", f"/api/result?project_id={project['id']}", key):
        api(live_server, "PUT", f"/api/result/{result['id']}", key, {"info": {"answer": "Yes"}})
    volunteer.go("/project/birds/results")
    in_frame(volunteer, "#results-list li.result")
    volunteer.wait(lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "li.result")) == 2)
    assert {
        item.text.split(": ")[1]
        for item in volunteer.driver.find_elements(By.CSS_SELECTOR, "li.result")
    } == {"Yes"}
    volunteer.driver.switch_to.default_content()
    volunteer.shot("classic-results")
    console.read(owner, volunteer)

    print("browser console:", json.dumps(console.entries, indent=1))
    # The frames' own messages are in the log, so an error of theirs would be too.
    assert all(console.said(text) for text in READY), console.entries
    assert console.errors() == []
