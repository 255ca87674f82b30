"""/api/taskrun: read, update and delete (creation is tested with the contribution flow)."""

import pytest

from core.models import Task, TaskRun
from tests.factories import ResultFactory, TaskFactory, TaskRunFactory, UserFactory
from tests.functional.api.roles import ROLES, auth, cast, fresh

ROLES = (*ROLES, "author")


@pytest.fixture
def world(db):
    world = cast()
    author = world.users["author"] = UserFactory()
    world.task = TaskFactory(project=world.project, n_answers=5)
    world.run = TaskRunFactory(task=world.task, user=author, info={"answer": "cat"})
    return world


@pytest.mark.parametrize("role", ROLES)
def test_everyone_reads_a_task_run(app, world, role):
    body = app.get(f"/api/taskrun/{world.run.id}", headers=auth(world.users[role])).json

    assert body["info"] == {"answer": "cat"}
    assert body["user_id"] == world.users["author"].id
    assert body["link"] == (
        f"<link rel='self' title='taskrun' href='http://localhost/api/taskrun/{world.run.id}'/>"
    )
    assert body["links"] == [
        f"<link rel='parent' title='project' href='http://localhost/api/project/{world.project.id}'/>",
        f"<link rel='parent' title='task' href='http://localhost/api/task/{world.task.id}'/>",
    ]


@pytest.mark.parametrize("role", ROLES)
def test_only_author_and_admin_update(app, db, world, role):
    allowed = role in ("author", "admin")
    status = 200 if allowed else (401 if role == "anonymous" else 403)

    app.put_json(
        f"/api/taskrun/{world.run.id}",
        {"info": {"answer": "dog"}},
        headers=auth(world.users[role]),
        status=status,
    )

    expected = {"answer": "dog"} if allowed else {"answer": "cat"}
    assert fresh(db, TaskRun, world.run.id).info == expected


@pytest.mark.parametrize("role", ROLES)
def test_only_author_and_admin_delete(app, db, world, role):
    allowed = role in ("author", "admin")
    status = 204 if allowed else (401 if role == "anonymous" else 403)

    app.delete(f"/api/taskrun/{world.run.id}", headers=auth(world.users[role]), status=status)

    assert (fresh(db, TaskRun, world.run.id) is None) == allowed


def test_anonymous_runs_are_admin_only(app, db, world):
    run = TaskRunFactory(task=world.task, user=None, user_ip="1.2.3.4")

    app.put_json(
        f"/api/taskrun/{run.id}",
        {"info": 1},
        headers=auth(world.users["owner"]),
        status=403,
    )
    app.delete(f"/api/taskrun/{run.id}", headers=auth(world.users["admin"]), status=204)

    assert fresh(db, TaskRun, run.id) is None


def test_run_in_latest_result_cannot_change(app, world):
    ResultFactory(task=world.task, task_run_ids=[world.run.id])

    for user in (world.users["author"], world.users["admin"]):
        app.put_json(f"/api/taskrun/{world.run.id}", {"info": 2}, headers=auth(user), status=403)
        app.delete(f"/api/taskrun/{world.run.id}", headers=auth(user), status=403)


def test_attribution_and_placement_cannot_change_by_put(app, db, world):
    other_task = TaskFactory()
    stranger = UserFactory()

    app.put_json(
        f"/api/taskrun/{world.run.id}",
        {
            "user_id": stranger.id,
            "user_ip": "9.9.9.9",
            "task_id": other_task.id,
            "project_id": other_task.project_id,
            "external_uid": "x",
            "timeout": 7,
        },
        headers=auth(world.users["author"]),
    )

    run = fresh(db, TaskRun, world.run.id)
    assert (
        run.user_id,
        run.user_ip,
        run.task_id,
        run.project_id,
        run.external_uid,
    ) == (world.users["author"].id, None, world.task.id, world.project.id, None)
    assert run.timeout == 7


def test_deleting_a_run_reopens_its_completed_task(app, db, world):
    task = TaskFactory(project=world.project, n_answers=1)
    run = TaskRunFactory(task=task, user=world.users["author"])
    assert fresh(db, Task, task.id).state == "completed"

    app.delete(f"/api/taskrun/{run.id}", headers=auth(world.users["author"]), status=204)

    assert fresh(db, Task, task.id).state == "ongoing"


@pytest.mark.parametrize("key", ["id", "created", "finish_time"])
def test_reserved_keys(app, world, key):
    body = app.put_json(
        f"/api/taskrun/{world.run.id}",
        {key: "x"},
        headers=auth(world.users["author"]),
        status=400,
    ).json

    assert body["exception_msg"] == "Reserved keys in payload"
    assert body["target"] == "taskrun"


def test_body_errors(app, world):
    headers = auth(world.users["author"])
    url = f"/api/taskrun/{world.run.id}"

    unknown = app.put_json(url, {"mood": "happy"}, headers=headers, status=415).json
    wrong = app.put_json(url, {"timeout": "soon"}, headers=headers, status=415).json
    broken = app.put(
        url, "{", headers={**headers, "Content-Type": "application/json"}, status=415
    ).json

    assert unknown["exception_cls"] == "TypeError"
    assert unknown["exception_msg"] == "'mood' is an invalid keyword argument for TaskRun"
    assert wrong["exception_cls"] == "DataError"
    assert broken["exception_cls"] == "ValueError"


def test_unknown_id(app, world):
    headers = auth(world.users["admin"])

    assert app.get("/api/taskrun/999", status=404).json["exception_cls"] == "NotFound"
    app.put_json("/api/taskrun/999", {"info": 1}, headers=headers, status=404)
    app.delete("/api/taskrun/999", headers=headers, status=404)


def test_related_adds_task_and_result(app, world):
    result = ResultFactory(task=world.task, task_run_ids=[world.run.id])
    lonely = TaskRunFactory()

    body = app.get(f"/api/taskrun/{world.run.id}?related=1").json
    listed = {run["id"]: run for run in app.get("/api/taskrun?related=1").json}

    assert body["task"]["id"] == world.task.id
    assert body["result"]["id"] == result.id
    assert listed[lonely.id]["task"]["id"] == lonely.task_id
    assert listed[lonely.id]["result"] is None
    assert "task" not in app.get(f"/api/taskrun/{world.run.id}").json


def test_volunteer_lists_own_runs_with_all_and_user_id(app, world):
    volunteer = world.users["volunteer"]
    mine = TaskRunFactory(user=volunteer)

    context = app.get("/api/taskrun", headers=auth(volunteer)).json
    everything = app.get(
        f"/api/taskrun?all=1&user_id={volunteer.id}", headers=auth(volunteer)
    ).json

    assert context == []
    assert [run["id"] for run in everything] == [mine.id]


def test_deleting_a_volunteers_only_answer_counts_them_out(app, db, world):
    """n_volunteers stays its recount: a volunteer whose only answer in the project is deleted
    is a volunteer of it no more; one with another answer still is."""
    from sqlalchemy import select

    from core.models import ProjectStats
    from core.services import stats

    project = world.project
    first, second = (TaskFactory(project=project, n_answers=5) for _ in range(2))
    both, once = UserFactory(), UserFactory()
    db.commit()
    runs = {}
    for user, task in ((both, first), (both, second), (once, first)):
        app.get(f"/api/project/{project.id}/newtask?limit=100", headers=auth(user))
        body = {"project_id": project.id, "task_id": task.id, "info": {"answer": "cat"}}
        app.post_json("/api/taskrun", body, headers=auth(user))
        db.rollback()
        mine = select(TaskRun.id).where(TaskRun.user_id == user.id, TaskRun.task_id == task.id)
        runs[user.id, task.id] = db.scalar(mine)

    figure = select(ProjectStats.n_volunteers).where(ProjectStats.project_id == project.id)

    def live_and_recounted():
        db.rollback()
        live = db.scalar(figure)
        stats.recompute(db, project.id)
        recounted = db.scalar(figure)
        db.rollback()
        return live, recounted

    before = live_and_recounted()
    app.delete(f"/api/taskrun/{runs[both.id, first.id]}", headers=auth(both), status=204)
    kept = live_and_recounted()
    app.delete(f"/api/taskrun/{runs[once.id, first.id]}", headers=auth(once), status=204)
    gone = live_and_recounted()

    assert (before[0] - kept[0], kept[0] - gone[0]) == (0, 1)
    # The world's factory-made run is in the recount only: the difference stays what it was.
    assert before[1] - before[0] == kept[1] - kept[0] == gone[1] - gone[0]
