"""A project's whole life with the real `pbs` and `pbclient`, on a fresh install (issue 18).

The server starts on an empty database (what `alembic upgrade head` leaves: the default
category and nothing else), the first account registers over HTTP and becomes the admin, an
owner registers after it, and `pbs` does what a project's README tells its author to do:
create-project, add-tasks from CSV and JSON, update-project, update-task-redundancy,
delete-tasks. Volunteers answer through pbclient's HTTP layer (pbclient 3.0.0 has no newtask or
task-run call: `_pybossa_req`, as pybossa.js does it), and pbclient reads the results.
"""

import importlib.util
import json
import threading

import pytest
import requests
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import func, select

from core.models import Category, Project, User
from core.models.category import DEFAULT_CATEGORY
from tests.clients.pbs import ROOT, pbs_executable, run_pbs

pbclient = pytest.importorskip("pbclient", reason="pip install pybossa-client")

JSON = {"Content-Type": "application/json"}
PROJECT = {
    "name": "Garden birds",
    "short_name": "gardenbirds",
    "description": "Is there a bird in the picture?",
}
FILES = {
    "template.html": "<div id='presenter'>{{ question }}</div><script>pybossa.run('x')</script>",
    "tutorial.html": "<div class='modal' id='tutorial'>Look at the picture.</div>",
    "results.html": "<ul id='results'></ul>",
    "long_description.md": "## Why birds\n\nBirds tell us how **healthy** a garden is.\n",
    "tasks.csv": "question,url,n\nBird?,https://example.org/1.jpg,1\n"
    "Bird?,https://example.org/2.jpg,2\nBird?,https://example.org/3.jpg,3\n",
    # pbs takes an object's "info" when it has one, else the whole object.
    "tasks.json": json.dumps(
        [
            {"question": "Nest?", "url": "https://example.org/nest-1.jpg"},
            {"info": {"question": "Nest?", "url": "https://example.org/nest-2.jpg"}},
        ]
    ),
}


def fresh_install(engine) -> None:
    """Run migration 0011 (the default category) on the suite's emptied tables: a fresh site."""
    with engine.connect() as connection:
        for model in (User, Project, Category):
            assert connection.scalar(select(func.count()).select_from(model)) == 0
    path = ROOT / "alembic" / "versions" / "0011_default_category.py"
    spec = importlib.util.spec_from_file_location("default_category_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with engine.begin() as connection, Operations.context(MigrationContext.configure(connection)):
        migration.upgrade()


@pytest.fixture
def live_server(make_app, engine):
    from waitress.server import create_server

    fresh_install(engine)
    server = create_server(make_app().app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=10)


def register(server: str, name: str) -> tuple[requests.Session, dict]:
    """Register over HTTP as a new user does; the signed-in session and the account's own
    summary (its API key read where PYBOSSA users read it: their profile in JSON)."""
    browser = requests.Session()
    form = browser.get(f"{server}/account/register", headers=JSON).json()["form"]
    account = {
        "fullname": name.title(),
        "name": name,
        "email_addr": f"{name}@example.org",
        "password": "a-long-password",
        "confirm": "a-long-password",
    }
    signed_up = browser.post(
        f"{server}/account/register", json=account, headers={"X-CSRFToken": form["csrf"]}
    )
    assert signed_up.json()["status"] == "success", signed_up.text
    profile = browser.get(f"{server}/account/profile", headers=JSON).json()
    own_page = browser.get(f"{server}/account/{name}/", headers=JSON).json()
    assert own_page["user"]["api_key"] == profile["user"]["api_key"]
    return browser, profile["user"]


def as_user(api_key: str):
    """pbclient speaking for the owner of this key."""
    pbclient.set("api_key", api_key)
    return pbclient


def contribute(project_id: int, api_key: str, answer: str, wanted) -> list[int]:
    """newtask (priority first, as pybossa.js may ask) and a task run for each task `wanted`
    accepts, until the scheduler offers one it does not; the ids answered."""
    client = as_user(api_key)
    answered = []
    while True:
        params = {"orderby": "priority_0", "desc": "true"}
        task = client._pybossa_req("get", f"project/{project_id}/newtask", params=params)
        if not task or not wanted(task):
            return answered
        run = {"project_id": project_id, "task_id": task["id"], "info": {"answer": answer}}
        created = client._pybossa_req("post", "taskrun", payload=run)
        assert created["task_id"] == task["id"], created
        answered.append(task["id"])


def by_url(tasks) -> dict:
    return {task.info["url"].rsplit("/", 1)[1]: task for task in tasks}


def test_a_project_life_with_pbs_and_pbclient_on_a_fresh_install(live_server, tmp_path):
    pbs = pbs_executable()
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "project.json").write_text(json.dumps(PROJECT))

    # The first account is the site's admin; the project's owner registers next.
    _, admin = register(live_server, "ada")
    owner_session, owner = register(live_server, "owen")
    volunteers = [register(live_server, name)[1] for name in ("vic", "val")]
    assert (admin["admin"], owner["admin"]) == (True, False)
    key = owner["api_key"]

    def pbs_run(*args, answer=None):
        return run_pbs(pbs, tmp_path, live_server, key, *args, answer=answer)

    pbclient.set("endpoint", live_server)
    try:
        # create-project: into the default category, owned by the key's account.
        created = pbs_run("create-project")
        assert created.returncode == 0 and "Project: gardenbirds created!" in created.stdout
        [project] = as_user(key).find_project(short_name="gardenbirds")
        [category] = as_user(key).get_categories()
        assert (category.short_name, category.name) == (
            DEFAULT_CATEGORY["short_name"],
            DEFAULT_CATEGORY["name"],
        )
        assert (project.category_id, project.owner_id) == (category.id, owner["id"])

        # add-tasks: from the CSV (cells stay text), then from the JSON (priority 1).
        csv_added = pbs_run("add-tasks", "--tasks-file", "tasks.csv", "--redundancy", "3")
        json_added = pbs_run(
            "add-tasks", "--tasks-file", "tasks.json", "--tasks-type", "json",
            "--redundancy", "3", "--priority", "1",
        )  # fmt: skip
        assert "3 tasks added to project: gardenbirds" in csv_added.stdout, csv_added.stderr
        assert "2 tasks added to project: gardenbirds" in json_added.stdout, json_added.stderr
        tasks = by_url(as_user(key).get_tasks(project.id))
        assert sorted(tasks) == ["1.jpg", "2.jpg", "3.jpg", "nest-1.jpg", "nest-2.jpg"]
        assert tasks["2.jpg"].info == {
            "question": "Bird?",
            "url": "https://example.org/2.jpg",
            "n": "2",
        }
        assert tasks["nest-2.jpg"].info == {
            "question": "Nest?",
            "url": "https://example.org/nest-2.jpg",
        }
        assert {t.n_answers for t in tasks.values()} == {3}
        assert {n: t.priority_0 for n, t in tasks.items() if n.startswith("nest")} == {
            "nest-1.jpg": 1,
            "nest-2.jpg": 1,
        }
        assert {t.priority_0 for n, t in tasks.items() if not n.startswith("nest")} == {0}

        # update-project: the templates into info, the Markdown into long_description.
        updated = pbs_run("update-project")
        assert "Project gardenbirds updated!" in updated.stdout, updated.stderr
        [project] = as_user(key).find_project(short_name="gardenbirds")
        assert project.long_description == FILES["long_description.md"]
        assert project.info["task_presenter"] == FILES["template.html"]
        assert project.info["tutorial"] == FILES["tutorial.html"]
        assert project.info["results"] == FILES["results.html"]
        page = owner_session.get(f"{live_server}/project/gardenbirds/").text
        assert "<strong>healthy</strong>" in page and "## Why birds" not in page

        # update-task-redundancy: every task (after the prompt), then one (sent as text).
        everyone = pbs_run("update-task-redundancy", "--redundancy", "2", answer="y\n")
        assert "All tasks redundancy have been updated" in everyone.stdout, everyone.stderr
        nest_2 = tasks["nest-2.jpg"].id
        one = pbs_run("update-task-redundancy", "--task-id", str(nest_2), "--redundancy", "3")
        assert f"Task.id = {nest_2} redundancy has been updated to 3" in one.stdout, one.stderr
        redundancy = {
            n: t.n_answers for n, t in by_url(as_user(key).get_tasks(project.id)).items()
        }
        assert redundancy == {"1.jpg": 2, "2.jpg": 2, "3.jpg": 2, "nest-1.jpg": 2, "nest-2.jpg": 3}

        # delete-tasks --task-id: a task without answers goes.
        gone = tasks["3.jpg"].id
        deleted = pbs_run("delete-tasks", "--task-id", str(gone))
        assert f"Task.id = {gone} and its associated task_runs have been deleted" in (
            deleted.stdout
        ), deleted.stderr
        assert as_user(key).find_tasks(project.id, id=gone) == []

        # The owner publishes on the web (presenter and tasks are there), volunteers answer the
        # nests (priority first), until the scheduler offers a bird.
        publish_page = owner_session.get(
            f"{live_server}/project/gardenbirds/publish", headers=JSON
        )
        published = owner_session.post(
            f"{live_server}/project/gardenbirds/publish",
            json={},
            headers={"X-CSRFToken": publish_page.json()["csrf"]},
        )
        assert published.json()["status"] == "success", published.text
        nests = {tasks["nest-1.jpg"].id, nest_2}
        for volunteer, answer in zip(volunteers, ("yes", "no"), strict=True):
            answered = contribute(project.id, volunteer["api_key"], answer, _is_nest)
            assert set(answered) == nests

        # nest-1 reached its two answers: completed, with its result; nest-2 waits for a third.
        client = as_user(key)
        states = {n: t.state for n, t in by_url(client.get_tasks(project.id)).items()}
        assert states == {
            "1.jpg": "ongoing",
            "2.jpg": "ongoing",
            "nest-1.jpg": "completed",
            "nest-2.jpg": "ongoing",
        }
        [result] = client.get_results(project.id)
        runs = client.find_taskruns(project.id, task_id=tasks["nest-1.jpg"].id)
        assert result.task_id == tasks["nest-1.jpg"].id
        assert sorted(result.task_run_ids) == sorted(run.id for run in runs)
        assert sorted(run.info["answer"] for run in runs) == ["no", "yes"]

        # Lowering nest-2's redundancy to its two answers completes it and gives its result.
        lowered = pbs_run("update-task-redundancy", "--task-id", str(nest_2), "--redundancy", "2")
        assert lowered.returncode == 0, lowered.stderr
        [nest_2_task] = client.find_tasks(project.id, id=nest_2)
        [nest_2_result] = client.find_results(project.id, task_id=nest_2)
        assert nest_2_task.state == "completed"
        assert len(nest_2_result.task_run_ids) == 2
        assert {r.task_id for r in client.get_results(project.id)} == nests

        # delete-tasks (all): the tasks without results go; the first with a result is refused
        # to its owner (behavior.md §2: only an admin deletes those), and pbs stops there.
        everything = pbs_run("delete-tasks", answer="y\n")
        assert everything.returncode == 1
        assert "'status_code': 403" in everything.stdout
        assert "'exception_cls': 'Forbidden'" in everything.stdout
        kept = client.get_tasks(project.id)
        assert {t.id for t in kept} == nests
        assert {t.state for t in kept} == {"completed"}
        refused = pbs_run("delete-tasks", "--task-id", str(nest_2))
        assert refused.returncode == 1 and "'status_code': 403" in refused.stdout
        assert {r.task_id for r in client.get_results(project.id)} == nests
        assert len(client.get_taskruns(project.id)) == 4
    finally:
        pbclient._opts.pop("api_key", None)


def _is_nest(task: dict) -> bool:
    return task["info"]["question"] == "Nest?"
