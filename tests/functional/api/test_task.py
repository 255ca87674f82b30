"""/api/task: CRUD as each kind of caller, related data and the state rule of decision 7."""

import pytest

from core.models import Project, ProjectStats, Task
from core.models.task import digest_of
from core.services.importer import import_tasks
from tests.factories import ProjectFactory, ResultFactory, TaskFactory, TaskRunFactory
from tests.functional.api.roles import ROLES, WRITERS, auth, denied, fresh


def stats_of(db, project):
    db.rollback()
    db.expire_all()
    stats = db.query(ProjectStats).filter_by(project_id=project.id).one()
    db.commit()
    return stats


@pytest.mark.parametrize("role", ROLES)
def test_everyone_reads_a_task(app, world, role):
    task = TaskFactory(project=world.project, info={"q": "Is it a bird?"})

    body = app.get(f"/api/task/{task.id}", headers=auth(world.users[role])).json

    assert body["id"] == task.id
    assert body["info"] == {"q": "Is it a bird?"}
    assert body["state"] == "ongoing"
    assert "n_task_runs" not in body
    assert (
        body["link"]
        == f"<link rel='self' title='task' href='http://localhost/api/task/{task.id}'/>"
    )
    assert body["links"] == [
        f"<link rel='parent' title='project' href='http://localhost/api/project/{world.project.id}'/>"
    ]


@pytest.mark.parametrize("role", ROLES)
def test_create_task_only_owners_and_admin(app, db, world, role):
    payload = {"project_id": world.project.id, "info": {"url": "x.png"}, "n_answers": 3}

    if role in WRITERS:
        body = app.post_json("/api/task", payload, headers=auth(world.users[role])).json
        assert body["project_id"] == world.project.id
        assert body["n_answers"] == 3
        assert body["state"] == "ongoing"
        assert "link" not in body
        assert stats_of(db, world.project).n_tasks == 1
    else:
        status = denied(role)
        body = app.post_json(
            "/api/task", payload, headers=auth(world.users[role]), status=status
        ).json
        assert body["status_code"] == status
        assert body["target"] == "task"
        assert body["action"] == "POST"
        assert db.query(Task).count() == 0


@pytest.mark.parametrize("role", ROLES)
def test_update_task_only_owners_and_admin(app, db, world, role):
    task = TaskFactory(project=world.project, priority_0=0.1)

    if role in WRITERS:
        body = app.put_json(
            f"/api/task/{task.id}", {"priority_0": 0.9}, headers=auth(world.users[role])
        ).json
        assert body["priority_0"] == 0.9
    else:
        app.put_json(
            f"/api/task/{task.id}",
            {"priority_0": 0.9},
            headers=auth(world.users[role]),
            status=denied(role),
        )
    assert fresh(db, Task, task.id).priority_0 == (0.9 if role in WRITERS else 0.1)


@pytest.mark.parametrize("role", ROLES)
def test_delete_task_only_owners_and_admin(app, db, world, role):
    task_id = TaskFactory(project=world.project).id

    expected = 204 if role in WRITERS else denied(role)
    app.delete(f"/api/task/{task_id}", headers=auth(world.users[role]), status=expected)

    assert (fresh(db, Task, task_id) is None) == (role in WRITERS)


def test_owner_cannot_delete_task_with_result_but_admin_can(app, db, world):
    task_id = ResultFactory(task=TaskFactory(project=world.project)).task_id

    app.delete(f"/api/task/{task_id}", headers=auth(world.users["owner"]), status=403)
    app.delete(f"/api/task/{task_id}", headers=auth(world.users["admin"]), status=204)

    assert fresh(db, Task, task_id) is None


def test_task_cannot_be_moved_to_another_project(app, db, world):
    task = TaskFactory(project=world.project)
    elsewhere = ProjectFactory()

    app.put_json(
        f"/api/task/{task.id}",
        {"project_id": elsewhere.id, "quorum": 1},
        headers=auth(world.users["owner"]),
    )

    stored = fresh(db, Task, task.id)
    assert stored.project_id == world.project.id
    assert stored.quorum == 1


def test_post_to_unknown_project_is_refused(app, world):
    body = app.post_json(
        "/api/task",
        {"project_id": 9999},
        headers=auth(world.users["admin"]),
        status=400,
    ).json

    assert body["exception_msg"] == "project_id does not exist"


@pytest.mark.parametrize("key", ["id", "created", "state", "fav_user_ids"])
def test_reserved_keys_are_refused(app, world, key):
    task = TaskFactory(project=world.project)
    headers = auth(world.users["owner"])

    post = app.post_json(
        "/api/task",
        {"project_id": world.project.id, key: 1},
        headers=headers,
        status=400,
    ).json
    put = app.put_json(f"/api/task/{task.id}", {key: 1}, headers=headers, status=400).json

    assert post["exception_cls"] == put["exception_cls"] == "BadRequest"
    assert post["exception_msg"] == "Reserved keys in payload"


def test_server_counter_is_not_writable(app, db, world):
    task = TaskFactory(project=world.project, n_answers=5)

    body = app.put_json(
        f"/api/task/{task.id}",
        {"n_task_runs": 99},
        headers=auth(world.users["owner"]),
        status=415,
    ).json

    assert body["exception_cls"] == "TypeError"
    assert fresh(db, Task, task.id).n_task_runs == 0


def test_info_digest_is_internal(app, db, world):
    task = TaskFactory(project=world.project, info={"q": 1})
    headers = auth(world.users["owner"])

    body = app.get(f"/api/task/{task.id}", headers=headers).json
    listed = app.get(f"/api/task?project_id={world.project.id}", headers=headers).json
    written = app.put_json(
        f"/api/task/{task.id}", {"info_digest": "00"}, headers=headers, status=415
    ).json

    assert "info_digest" not in body
    assert "info_digest" not in listed[0]
    assert written["exception_cls"] == "TypeError"


def test_info_digest_follows_info_on_post_and_put(app, db, world):
    headers = auth(world.users["owner"])
    payload = {"project_id": world.project.id, "info": {"url": "a.png", "n": 1}}
    task_id = app.post_json("/api/task", payload, headers=headers).json["id"]
    created = fresh(db, Task, task_id).info_digest

    app.put_json(f"/api/task/{task_id}", {"info": {"url": "b.png"}}, headers=headers)
    updated = fresh(db, Task, task_id).info_digest
    app.put_json(f"/api/task/{task_id}", {"priority_0": 0.5}, headers=headers)
    untouched = fresh(db, Task, task_id).info_digest

    assert created == digest_of({"n": 1, "url": "a.png"})
    assert updated == untouched == digest_of({"url": "b.png"})


def test_an_import_after_a_put_of_info_sees_the_new_info(app, db, world):
    task = TaskFactory(project=world.project, info={"url": "a.png"})
    app.put_json(
        f"/api/task/{task.id}", {"info": {"url": "b.png"}}, headers=auth(world.users["owner"])
    )
    db.expire_all()
    project = db.get(Project, world.project.id)

    report = import_tasks(db, project, [{"url": "a.png"}, {"url": "b.png"}])
    db.commit()

    assert (report.created, report.skipped) == (1, 1)


def test_body_errors(app, world):
    headers = auth(world.users["owner"])
    pid = world.project.id

    unknown = app.post_json(
        "/api/task", {"project_id": pid, "colour": "red"}, headers=headers, status=415
    ).json
    wrong_type = app.post_json(
        "/api/task",
        {"project_id": pid, "n_answers": "many"},
        headers=headers,
        status=415,
    ).json
    malformed = app.post(
        "/api/task",
        "{not json",
        headers={**headers, "Content-Type": "application/json"},
        status=415,
    ).json
    missing = app.post_json(
        "/api/task", {"info": {}}, headers=auth(world.users["admin"]), status=415
    ).json

    assert unknown["exception_cls"] == "TypeError"
    assert unknown["exception_msg"] == "'colour' is an invalid keyword argument for Task"
    assert wrong_type["exception_cls"] == "DataError"
    assert malformed["exception_cls"] == "ValueError"
    assert missing["exception_cls"] == "DBIntegrityError"


def test_unknown_id_is_404(app, world):
    headers = auth(world.users["admin"])

    get = app.get("/api/task/4242", status=404).json
    app.put_json("/api/task/4242", {"quorum": 1}, headers=headers, status=404)
    app.delete("/api/task/4242", headers=headers, status=404)

    assert get["exception_cls"] == "NotFound"
    assert get["target"] == "task"


def test_lowering_n_answers_completes_and_raising_reopens(app, db, world):
    task = TaskFactory(project=world.project, n_answers=3)
    TaskRunFactory(task=task)
    TaskRunFactory(task=task)
    headers = auth(world.users["owner"])

    lowered = app.put_json(f"/api/task/{task.id}", {"n_answers": 2}, headers=headers).json
    completed_stats = stats_of(db, world.project).n_completed_tasks
    raised = app.put_json(f"/api/task/{task.id}", {"n_answers": 5}, headers=headers).json

    assert lowered["state"] == "completed"
    assert completed_stats == 1
    assert raised["state"] == "ongoing"
    assert stats_of(db, world.project).n_completed_tasks == 0


def test_unchanged_n_answers_keeps_a_completed_task_completed(app, world):
    task = TaskFactory(project=world.project, n_answers=1)
    TaskRunFactory(task=task)

    body = app.put_json(
        f"/api/task/{task.id}",
        {"n_answers": 1, "priority_0": 0.5},
        headers=auth(world.users["owner"]),
    ).json

    assert body["state"] == "completed"


def test_related_adds_task_runs_and_result(app, world):
    task = TaskFactory(project=world.project, n_answers=1)
    run = TaskRunFactory(task=task)
    result = ResultFactory(task=task, task_run_ids=[run.id])
    bare = TaskFactory(project=world.project)

    one = app.get(f"/api/task/{task.id}?related=1").json
    listed = app.get(f"/api/task?related=true&project_id={world.project.id}").json

    assert [r["id"] for r in one["task_runs"]] == [run.id]
    assert one["result"]["id"] == result.id
    assert one["task_runs"][0]["link"].startswith("<link rel='self' title='taskrun'")
    by_id = {item["id"]: item for item in listed}
    assert by_id[bare.id]["task_runs"] == [] and by_id[bare.id]["result"] is None
    assert "task_runs" not in app.get(f"/api/task/{task.id}").json


def test_participated_hides_answered_tasks(app, world):
    volunteer = world.users["volunteer"]
    answered, fresh = (
        TaskFactory(project=world.project),
        TaskFactory(project=world.project),
    )
    TaskRunFactory(task=answered, user=volunteer)

    body = app.get("/api/task?participated=1", headers=auth(volunteer)).json

    assert [task["id"] for task in body] == [fresh.id]


def test_participated_uses_external_uid_for_anonymous_callers(app, world):
    answered, fresh = (
        TaskFactory(project=world.project),
        TaskFactory(project=world.project),
    )
    TaskRunFactory(task=answered, user=None, external_uid="partner-42")

    mine = app.get("/api/task?participated=1&external_uid=partner-42").json
    theirs = app.get("/api/task?participated=1&external_uid=partner-7").json

    assert [task["id"] for task in mine] == [fresh.id]
    assert {task["id"] for task in theirs} == {answered.id, fresh.id}


def test_external_uid_without_participated_is_not_an_error(app, world):
    TaskFactory(project=world.project)

    body = app.get("/api/task?external_uid=abc").json

    assert len(body) == 1
