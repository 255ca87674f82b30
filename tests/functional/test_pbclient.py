"""pybossa-client (pbclient), unchanged, against a live Crowdnest server."""

import threading

import pytest
from sqlalchemy import update

from core.models import Project
from tests.factories import CategoryFactory, UserFactory

pbclient = pytest.importorskip("pbclient", reason="pip install pybossa-client")


@pytest.fixture
def live_server(make_app):
    from waitress.server import create_server

    server = create_server(make_app().app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


@pytest.fixture
def client(live_server, db):
    admin = UserFactory(admin=True)
    CategoryFactory()
    pbclient.set("endpoint", live_server)
    pbclient.set("api_key", admin.api_key)
    yield pbclient
    pbclient._opts.pop("api_key", None)


def test_project_life_cycle(client):
    project = client.create_project("Bird count", "birds", "Count the birds")
    assert project.short_name == "birds"
    project_id = project.id  # update_project strips the reserved keys from the object

    project.description = "Count every bird"
    project.info = {"task_presenter": "<div>hi</div>"}
    updated = client.update_project(project)
    found = client.find_project(short_name="birds")
    paged = client.get_projects(limit=10, last_id=0)

    assert updated.description == "Count every bird"
    assert [p.id for p in found] == [project_id]
    assert [p.id for p in paged] == [project_id]
    assert client.delete_project(project_id) is True
    assert client.find_project(short_name="birds") == []


def test_tasks_pages_filters_updates_and_deletes(client):
    project = client.create_project("Pages", "pages", "Transcribe pages")
    created = [
        client.create_task(
            project.id, {"page": n, "kind": "even" if n % 2 else "odd"}, n_answers=2
        )
        for n in range(7)
    ]

    first = client.get_tasks(project.id, limit=3)
    rest = client.get_tasks(project.id, limit=10, last_id=first[-1].id)
    odd = client.find_tasks(project.id, info="kind::odd")
    task = client.get_tasks(project.id, limit=1)[0]
    task.n_answers = 5
    updated = client.update_task(task)

    assert [t.id for t in first + rest] == [t.id for t in created]
    assert len(first) == 3
    assert sorted(t.info["page"] for t in odd) == [0, 2, 4, 6]
    assert updated.n_answers == 5
    assert client.delete_task(created[1].id) is True
    assert len(client.get_tasks(project.id, limit=100)) == 6


def test_categories_and_helping_materials(client):
    category = client.create_category("Astronomy", "Stars and planets")
    category_id = category.id
    category.description = "Stars"
    updated = client.update_category(category)
    project = client.create_project("Stars", "stars", "Find stars")
    material = client.create_helpingmaterial(project.id, {"hint": "look up"})
    material_id = material.id
    material.info = {"hint": "look up at night"}
    changed = client.update_helping_material(material)

    # pbclient sends the whole category back, id included: PYBOSSA refuses that, and so do we.
    assert updated["status_code"] == 400
    assert updated["exception_msg"].startswith("Reserved keys in payload: ")
    assert [c.short_name for c in client.find_category(short_name="astronomy")] == ["astronomy"]
    assert changed.info == {"hint": "look up at night"}
    assert [m.id for m in client.get_helping_materials(project.id)] == [material_id]
    assert client.delete_category(category_id) is True


def test_errors_reach_the_client_in_pybossa_shape(client):
    missing = client.get_project(999999)

    assert missing["status"] == "failed"
    assert missing["exception_cls"] == "NotFound"


def test_task_runs_and_results(client, live_server, db):
    import requests

    project = client.create_project("Votes", "votes", "Vote")
    task = client.create_task(project.id, {"q": "yes or no?"}, n_answers=1)
    # Volunteers answer published projects only (decision 24); the owner publishes on the web.
    db.execute(update(Project).where(Project.id == project.id).values(published=True))
    db.commit()
    handed = requests.get(f"{live_server}/api/project/{project.id}/newtask").json()
    answer = requests.post(
        f"{live_server}/api/taskrun",
        json={"project_id": project.id, "task_id": handed["id"], "info": {"vote": "yes"}},
    ).json()

    runs = client.find_taskruns(project.id, task_id=task.id)
    results = client.find_results(project.id, task_id=task.id)
    result = results[0]
    run_ids = result.task_run_ids  # update_result strips the reserved keys from the object
    result.info = {"consensus": "yes"}
    updated = client.update_result(result)

    assert [run.id for run in runs] == [answer["id"]]
    assert run_ids == [answer["id"]]
    assert updated.info == {"consensus": "yes"}
    assert client.find_tasks(project.id, id=task.id)[0].state == "completed"
