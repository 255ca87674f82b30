"""In a real browser: a project written the classic PYBOSSA way runs unchanged (issue 18).

The project in classic_project/ (template.html with jQuery, tutorial.html with a Bootstrap
modal, results.html, long_description.md, project.json, tasks.csv) is deployed by the real `pbs`
(create-project, update-project, add-tasks; tests/clients/pbs.py finds it, CI requires it, it
is skipped without it elsewhere) on a fresh install; a volunteer then sees
the tutorial on the first visit, contributes, and reads the results. Any JavaScript error in the
browser's console, of the pages or of their frames, fails the test.
"""

import json
import shutil
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import served_application
from tests.browser.test_contribute_browser import (
    Browser,
    api,
    publish,
    tasks_of,
    user_named,
)
from tests.clients.pbs import pbs_executable, run_pbs

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


def deploy_with_pbs(pbs: str, server, api_key: str, folder: Path) -> dict:
    """Deploy the project as its author does, with the real pbs in a copy of its folder:
    create-project from project.json, update-project (template.html, tutorial.html,
    results.html, long_description.md), add-tasks from tasks.csv, one answer per task."""
    shutil.copytree(PROJECT, folder)
    # pbs exits 0 on some failures (a connection error): what it says is checked too.
    for command, said in (
        (["create-project"], "Project: birds created!"),
        (["update-project"], "Project birds updated!"),
        (["add-tasks", "--tasks-file", "tasks.csv", "--redundancy", "1"], "2 tasks added"),
    ):
        done = run_pbs(pbs, folder, server.url, api_key, *command)
        assert done.returncode == 0 and said in done.stdout, done.stdout + done.stderr
    [project] = api(server, "GET", "/api/project?short_name=birds&all=1", api_key)
    return project


def in_frame(browser: Browser, css: str):
    """Enter the page's owner frame and wait for an element to be displayed there."""
    browser.enter_presenter()
    return browser.wait(lambda driver: _displayed(driver, css))


def _displayed(driver, css: str):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found and found[0].is_displayed() else False


def test_a_classic_project_deployed_with_pbs_runs_without_a_console_error(
    live_server, new_browser, screenshots, tmp_path
):
    pbs = pbs_executable()
    console = Console()
    owner = Browser(new_browser(FRAMES_IN_PROCESS), live_server, screenshots, "pbs-owner")
    owner.register("Clara Classic", "clara")
    key = user_named(live_server, "clara").api_key
    project = deploy_with_pbs(pbs, live_server, key, tmp_path / "classic_project")
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
