"""In a real browser: an owner builds a project, a volunteer completes it, the figures change.

Each step saves a screenshot (see conftest.py). Steps whose page does not exist yet in this
build go through the API instead, and say so in the test's output.
"""

import json
import urllib.request
from pathlib import Path

import pytest
from pyramid.interfaces import IRoutesMapper
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Project, Task, User

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
PASSWORD = "Br0wser-test!"
IMAGES = [
    "/static/vendor/leaflet/images/marker-icon-2x.png",
    "/static/vendor/leaflet/images/layers-2x.png",
    "/static/vendor/leaflet/images/marker-shadow.png",
]
CSV = "question,url_b,link,n_answers\n" + "".join(
    f"Is this picture number {n} a marker?,{url},{url},1\n" for n, url in enumerate(IMAGES, 1)
)
WAIT = 20


class Browser:
    """One volunteer's browser: pages by path, forms by field name, a screenshot per step."""

    def __init__(self, driver, server, folder: Path, who: str):
        self.driver, self.server, self.folder, self.who = driver, server, folder, who

    def go(self, path: str) -> None:
        self.driver.switch_to.default_content()
        self.driver.get(self.server.url + path)

    def enter_presenter(self) -> None:
        """Look inside the sandboxed frame the owner's HTML runs in (decision 15)."""
        frame = (By.ID, "presenter-frame")
        self.wait(ec.frame_to_be_available_and_switch_to_it(frame))

    def wait(self, condition, seconds: float = WAIT):
        return WebDriverWait(self.driver, seconds).until(condition)

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def fill(self, form_css: str, **fields) -> None:
        form = self.find(form_css)
        for name, value in fields.items():
            field = form.find_element(By.NAME, name)
            if field.tag_name == "select":
                Select(field).select_by_index(value)
            elif field.get_attribute("type") == "checkbox":
                if bool(value) != field.is_selected():
                    self.click(field)
            else:
                field.clear()
                field.send_keys(value)

    def click(self, element) -> None:
        # `instant`: Bootstrap makes scrolling smooth, and a click during the animation lands on
        # whatever passes under the pointer ("element click intercepted").
        self.driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", element
        )
        self.wait(lambda driver: element.is_displayed() and element.is_enabled())
        element.click()

    def press(self, css: str) -> None:
        self.click(self.find(css))

    def submit(self, form_css: str) -> None:
        # The page being left is marked; the submission is over when a page without the mark
        # has loaded. (Selenium's `staleness_of` asks Chrome about the old button, and while the
        # page is being replaced Chrome may answer with an inspector error instead of "stale".)
        self.driver.execute_script("window.crowdnestLeaving = true;")
        self.click(self.find(f"{form_css} [type=submit]"))
        self.wait(self.new_page_loaded)

    @staticmethod
    def new_page_loaded(driver) -> bool:
        try:
            return driver.execute_script(
                "return !window.crowdnestLeaving && document.readyState === 'complete';"
            )
        except WebDriverException:  # the old page is going away
            return False

    def text(self) -> str:
        return self.find("main").text

    def shot(self, step: str) -> Path:
        count = len(list(self.folder.glob("*.png"))) + 1
        path = self.folder / f"{count:02d}-{self.who}-{step}.png"
        self.driver.save_screenshot(str(path))
        print(f"screenshot: {path}")
        return path

    def register(self, fullname: str, name: str) -> None:
        self.go("/account/register")
        form = "form[action='/account/register']"
        self.fill(
            form,
            fullname=fullname,
            name=name,
            email_addr=f"{name}@example.com",
            password=PASSWORD,
            confirm=PASSWORD,
        )
        self.submit(form)
        assert fullname in self.find("nav").text, self.text()
        self.shot("registered")


def has_route(server, name: str) -> bool:
    mapper = server.app.registry.queryUtility(IRoutesMapper)
    return any(route.name == name for route in mapper.get_routes())


def api(server, method: str, path: str, api_key: str, body=None):
    request = urllib.request.Request(
        f"{server.url}{path}{'&' if '?' in path else '?'}api_key={api_key}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def database(server) -> Session:
    return Session(server.app.registry["db_engine"])


def user_named(server, name: str) -> User:
    with database(server) as db:
        return db.scalars(select(User).where(User.name == name)).one()


def tasks_of(server, short_name: str) -> list[Task]:
    with database(server) as db:
        project = db.scalars(select(Project).where(Project.short_name == short_name)).one()
        return list(
            db.scalars(select(Task).where(Task.project_id == project.id).order_by(Task.id))
        )


def create_project(owner: Browser, api_key: str, name: str, short_name: str) -> None:
    if has_route(owner.server, "project_new"):
        owner.go("/project/new")
        form = "#new-project-form"
        fields = {"name": name, "short_name": short_name, "description": f"{name}, by a browser"}
        owner.fill(form, **fields)
        owner.shot("new-project")
        owner.submit(form)
    else:
        print("no /project/new page yet: creating the project through the API")
        body = {"name": name, "short_name": short_name, "description": "By a browser"}
        api(owner.server, "POST", "/api/project", api_key, body)
    owner.go(f"/project/{short_name}/")
    owner.shot("project-created")


def import_tasks(owner: Browser, api_key: str, short_name: str, tmp_path: Path) -> None:
    """The CSV import page when there is one, else one POST /api/task per CSV row."""
    if has_route(owner.server, "project_tasks_import"):
        import_csv_page(owner, short_name, tmp_path)
    else:
        print("no /tasks/import page yet: importing the CSV rows through the API")
        project = api(owner.server, "GET", f"/api/project?short_name={short_name}", api_key)
        for line in CSV.splitlines()[1:]:
            question, url_b, link, n_answers = line.split(",")
            info = {"question": question, "url_b": url_b, "link": link}
            body = {"project_id": project[0]["id"], "info": info, "n_answers": int(n_answers)}
            api(owner.server, "POST", "/api/task", api_key, body)
    owner.go(f"/project/{short_name}/tasks/")
    owner.shot("tasks-imported")


def import_csv_page(owner: Browser, short_name: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "tasks.csv"
    csv_file.write_text(CSV)
    owner.go(f"/project/{short_name}/tasks/import?type=csv")
    owner.find("#import-form input[type=file]").send_keys(str(csv_file))
    owner.shot("import-csv")
    owner.submit("#import-form")


def write_presenter_from_image_template(owner: Browser, short_name: str) -> None:
    owner.go(f"/project/{short_name}/tasks/taskpresentereditor")
    owner.shot("presenter-templates")
    owner.press("#template-image")
    editor = owner.wait(ec.presence_of_element_located((By.ID, "editor")))
    assert "pybossa.presentTask(" in editor.get_attribute("value")
    # The owner makes the template their own.
    editor.send_keys("\n<!-- answer with the buttons below the picture -->\n")
    owner.shot("presenter-editor")
    owner.submit("#presenter-form")
    owner.shot("presenter-saved")


def publish(owner: Browser, short_name: str) -> None:
    owner.go(f"/project/{short_name}/publish")
    owner.submit("#publish-form")
    owner.shot("published")


def answer_until_done(volunteer: Browser, short_name: str, finished_css: str, button_css: str):
    """Click an answer for each task the presenter shows until it says there is none left."""
    answered = []
    for _ in range(len(IMAGES) + 2):
        shown = volunteer.wait(
            lambda driver: (
                (driver.find_element(By.CSS_SELECTOR, finished_css).is_displayed() and "finished")
                or (_current_task(driver) not in ("", *answered) and _current_task(driver))
            )
        )
        if shown == "finished":
            volunteer.shot(f"{short_name}-finished")
            return answered
        answered.append(shown)
        volunteer.shot(f"{short_name}-task-{shown}")
        volunteer.press(button_css)
    raise AssertionError(f"the presenter never said it was finished (answered {answered})")


def _current_task(driver) -> str:
    text = driver.find_element(By.ID, "task-id").text.strip().lstrip("#")
    return text if text.isdigit() else ""


def page_text(browser: Browser, path: str) -> str:
    browser.go(path)
    return browser.text()


def test_owner_builds_a_project_and_a_volunteer_completes_it(
    live_server, new_browser, screenshots, tmp_path
):
    owner = Browser(new_browser(), live_server, screenshots, "owner")
    owner.register("Olivia Owner", "olivia")
    owner_key = user_named(live_server, "olivia").api_key
    assert user_named(live_server, "olivia").admin is True

    create_project(owner, owner_key, "Spot the markers", "markers")
    import_tasks(owner, owner_key, "markers", tmp_path)
    tasks = tasks_of(live_server, "markers")
    assert [task.info["url_b"] for task in tasks] == IMAGES
    if {task.n_answers for task in tasks} != {1}:
        print("the CSV importer kept the default redundancy: one answer per task via the API")
        for task in tasks:
            api(live_server, "PUT", f"/api/task/{task.id}", owner_key, {"n_answers": 1})
    write_presenter_from_image_template(owner, "markers")
    publish(owner, "markers")

    before = {
        path: page_text(owner, path)
        for path in ("/project/markers/results", "/project/markers/stats", "/leaderboard/")
    }
    assert "victor" not in before["/leaderboard/"]

    volunteer = Browser(new_browser(), live_server, screenshots, "volunteer")
    volunteer.register("Victor Volunteer", "victor")
    volunteer.go("/project/markers/newtask")
    volunteer.enter_presenter()
    answered = answer_until_done(volunteer, "markers", "#finished", ".btn-answer[value=Yes]")

    assert answered == [str(task.id) for task in tasks]
    assert {task.state for task in tasks_of(live_server, "markers")} == {"completed"}
    assert volunteer.find("#done").text == volunteer.find("#total").text == str(len(IMAGES))
    for path, text in before.items():
        after = page_text(owner, path)
        owner.shot(path.strip("/").replace("/", "-"))
        assert after != text, f"{path} did not change"
    assert "victor" in page_text(owner, "/leaderboard/")


def test_a_classic_pybossa_presenter_works_unchanged(live_server, new_browser, screenshots):
    owner = Browser(new_browser(), live_server, screenshots, "classic-owner")
    owner.register("Paula Pybossa", "paula")
    key = user_named(live_server, "paula").api_key
    presenter = (HERE / "classic_presenter.html").read_text().replace("__SHORT_NAME__", "classic")
    create_project(owner, key, "Classic presenter", "classic")
    # The owner pastes the presenter into the editor as it is.
    owner.go("/project/classic/tasks/taskpresentereditor?template=basic")
    owner.driver.execute_script(
        "arguments[0].value = arguments[1];", owner.find("#editor"), presenter
    )
    owner.submit("#presenter-form")
    project = api(live_server, "GET", "/api/project?short_name=classic", key)[0]
    # Browsers send a textarea's line breaks as CRLF.
    assert project["info"]["task_presenter"].replace("\r\n", "\n") == presenter
    for url in IMAGES:
        info = {"question": f"Is {url} a photo?", "url_b": url, "link": url}
        body = {"project_id": project["id"], "info": info, "n_answers": 1}
        api(live_server, "POST", "/api/task", key, body)
    publish(owner, "classic")
    tasks = tasks_of(live_server, "classic")

    volunteer = Browser(new_browser(), live_server, screenshots, "classic-volunteer")
    volunteer.register("Walter Volunteer", "walter")
    # A task named in the address comes first, then the others.
    volunteer.go(f"/project/classic/task/{tasks[1].id}")
    volunteer.enter_presenter()
    try:
        answered = answer_until_done(volunteer, "classic", "#finish", ".btn-answer[value=Yes]")
    except TimeoutException:
        volunteer.shot("classic-stuck")
        logs = volunteer.driver.get_log("browser")
        raise AssertionError(f"the presenter got stuck; browser console: {logs}") from None

    assert answered[0] == str(tasks[1].id)
    assert sorted(answered) == sorted(str(task.id) for task in tasks)
    assert {task.state for task in tasks_of(live_server, "classic")} == {"completed"}
    assert volunteer.find("#finish").is_displayed()
