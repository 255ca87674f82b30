"""Drafts are private all the way down (issue 17 point 17, decision 24).

The tasks, task runs, results, figures and newtask of an unpublished project are its owners' and
admins': 401 to anonymous callers, 403 to others on item reads, left out of lists; the same
through the lean delivery path and the anonymous read cache in front of the application.
"""

import pytest
from sqlalchemy import select

from core.generations import key as generation_key
from core.models import Project, ProjectStats
from tests.factories import ResultFactory, TaskFactory, TaskRunFactory
from tests.functional.api.roles import ROLES, auth, cast, denied

READERS = {"owner", "coowner", "admin"}
ITEMS = ("task", "taskrun", "result", "projectstats")


@pytest.fixture
def world(db):
    world = cast(draft=True)
    task = TaskFactory(project=world.draft, info={"question": "draft words"})
    run = TaskRunFactory(task=task)
    result = ResultFactory(task=task, task_run_ids=[run.id], info={"answer": "draft result"})
    stats = db.scalars(select(ProjectStats).where(ProjectStats.project_id == world.draft.id))
    stats = stats.one()
    world.items = {
        "task": task.id,
        "taskrun": run.id,
        "result": result.id,
        "projectstats": stats.id,
    }
    return world


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", ITEMS)
def test_item_reads_of_a_draft_are_for_its_owners(app, world, role, kind):
    user = world.users[role]
    status = 200 if role in READERS else denied(role)

    app.get(f"/api/{kind}/{world.items[kind]}", headers=auth(user), status=status)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", ITEMS)
def test_lists_leave_a_drafts_objects_out(app, world, role, kind):
    user = world.users[role]
    query = f"project_id={world.draft.id}&all=1"

    found = app.get(f"/api/{kind}?{query}", headers=auth(user)).json
    related = app.get(f"/api/{kind}?all=1&related=1", headers=auth(user)).json

    assert bool(found) == (role in READERS)
    assert ("draft words" in str(related)) == (role in READERS and kind != "projectstats")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "path", ["project/{id}/newtask", "{id}/newtask", "project/{id}/userprogress"]
)
def test_newtask_and_userprogress_of_a_draft_answer_as_its_project(app, world, role, path):
    user = world.users[role]
    status = 200 if role in READERS else denied(role)

    answer = app.get("/api/" + path.format(id=world.draft.id), headers=auth(user), status=status)
    project = app.get(f"/api/project/{world.draft.id}", headers=auth(user), status="*")

    assert project.status_int == answer.status_int
    if status != 200:
        assert "draft words" not in answer.text


def test_favouring_a_drafts_task_is_refused(app, world):
    volunteer = world.users["volunteer"]
    task_id = world.items["task"]

    answer = app.post_json(
        "/api/favorites", {"task_id": task_id}, headers=auth(volunteer), status=403
    )

    assert "draft words" not in answer.text


@pytest.mark.parametrize("role", ["anonymous", "volunteer"])
@pytest.mark.parametrize(
    "page",
    [
        "tasks",
        "tasks/browse",
        "results",
        "stats",
        "tasks/export?type=task&format=json",
        "tasks/export?type=task_run&format=csv",
        "tasks/export?type=result&format=json",
    ],
)
def test_a_drafts_data_pages_are_for_its_owners(make_app, world, db, role, page):
    app = make_app()
    user = world.users[role]
    url = f"/project/{world.draft.short_name}/{page}"
    headers = {**auth(user), "Accept": "application/json"}

    answer = app.get(url, headers=headers, status="*")
    owner = app.get(url, headers={**headers, **auth(world.users["owner"])}, status="*")

    assert answer.status_int == denied(role)
    assert owner.status_int == 200
    assert "draft words" not in answer.text and "draft result" not in answer.text


# -- the fast paths in front of the application ---------------------------------------------


def test_the_lean_newtask_path_hands_drafts_to_the_application(make_app, redis_url, world):
    app = make_app(redis__url=redis_url)
    volunteer = world.users["volunteer"]

    for _ in range(2):  # the second request would use the lean path's hint
        app.get(f"/api/project/{world.draft.id}/newtask", status=401)
        app.get(f"/api/project/{world.draft.id}/newtask", headers=auth(volunteer), status=403)
    owner = app.get(f"/api/project/{world.draft.id}/newtask", headers=auth(world.users["owner"]))

    assert owner.json["id"] == world.items["task"]


def test_the_anonymous_read_cache_forgets_a_draft_once_published(
    make_app, redis_client, redis_url, world, db
):
    app = make_app(redis__url=redis_url)
    query = f"/api/task?project_id={world.draft.id}"

    before = app.get(query).json
    app.get(query)  # answered from the cache now
    project = db.get(Project, world.draft.id)
    project.published = True
    db.commit()
    # What the commit of a publication through the application does (core.generations).
    redis_client.incr(generation_key("project"))
    after = app.get(query).json

    assert before == []
    assert [task["id"] for task in after] == [world.items["task"]]
