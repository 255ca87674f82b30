"""newtask, task-run creation, completion and results, favorites, userprogress, project JWT."""

from sqlalchemy import select

from core.models import Result, Task
from core.services import guard
from tests.factories import ProjectFactory, TaskFactory, UserFactory


def _answer(app, task, api_key=None, **extra):
    key = f"?api_key={api_key}" if api_key else ""
    body = {"project_id": task["project_id"], "task_id": task["id"], "info": {"a": 1}, **extra}
    return app.post_json(f"/api/taskrun{key}", body, expect_errors=True)


def test_volunteers_complete_a_task_and_a_result_is_created(app, db):
    project = ProjectFactory()
    TaskFactory(project=project, n_answers=2)
    alice, bob = UserFactory(), UserFactory()

    for volunteer in (alice, bob):
        task = app.get(f"/api/project/{project.id}/newtask?api_key={volunteer.api_key}").json
        assert _answer(app, task, volunteer.api_key).status_int == 200

    db.expire_all()
    stored = db.scalars(select(Task)).one()
    result = db.scalars(select(Result).where(Result.last_version)).one()
    assert stored.state == "completed"
    assert sorted(result.task_run_ids) == sorted(
        run["id"] for run in app.get(f"/api/taskrun?task_id={stored.id}&all=1").json
    )
    assert app.get(f"/api/project/{project.id}/newtask?api_key={alice.api_key}").json == {}


def test_answer_without_request_is_refused(app, db):
    task = TaskFactory()
    volunteer = UserFactory()

    response = _answer(app, {"id": task.id, "project_id": task.project_id}, volunteer.api_key)

    assert response.status_int == 403
    assert response.json["exception_msg"] == "You must request a task first!"


def test_second_answer_by_same_volunteer_is_refused(app, db):
    project = ProjectFactory()
    TaskFactory(project=project, n_answers=5)
    volunteer = UserFactory()
    task = app.get(f"/api/project/{project.id}/newtask?api_key={volunteer.api_key}").json
    assert _answer(app, task, volunteer.api_key).status_int == 200

    guard.stamp(db, None, f"user:{volunteer.id}", project.id, [task["id"]], 60)
    db.commit()
    again = _answer(app, task, volunteer.api_key)

    assert again.status_int == 403
    assert again.json["exception_msg"] == "You have already answered this task"


def test_wrong_project_and_task_are_refused(app, db):
    task = TaskFactory()
    other = ProjectFactory()

    assert _answer(app, {"id": 999, "project_id": task.project_id}).json["exception_msg"] == (
        "Invalid task_id"
    )
    assert _answer(app, {"id": task.id, "project_id": other.id}).json["exception_msg"] == (
        "Invalid project_id"
    )


def test_anonymous_attribution_is_set_by_server(app, db):
    project = ProjectFactory()
    TaskFactory(project=project)
    intruder = UserFactory()
    task = app.get(f"/api/{project.id}/newtask").json

    stored = _answer(app, task, user_id=intruder.id).json

    assert stored["user_id"] is None and stored["user_ip"]


def test_newtask_pseudo_task_for_anonymous_when_not_allowed(app, db):
    project = ProjectFactory(allow_anonymous_contributors=False)
    TaskFactory(project=project)

    body = app.get(f"/api/project/{project.id}/newtask").json

    assert body["id"] is None
    assert body["info"] == {"error": "This project does not allow anonymous contributors"}


def test_newtask_limit_shapes(app, db):
    project = ProjectFactory()
    for _ in range(3):
        TaskFactory(project=project)

    many = app.get(f"/api/project/{project.id}/newtask?limit=2").json
    one = app.get(f"/api/project/{project.short_name}/newtask").json

    assert isinstance(many, list) and len(many) == 2
    assert isinstance(one, dict) and one["id"] == many[0]["id"]
    assert app.get("/api/project/9999/newtask", status=404).json["target"] == "project"


def test_favorites_add_list_remove(app, db):
    task = TaskFactory()
    user = UserFactory()
    key = f"?api_key={user.api_key}"

    app.post_json("/api/favorites", {"task_id": task.id}, status=401)
    added = app.post_json(f"/api/favorites{key}", {"task_id": task.id}).json
    listed = app.get(f"/api/favorites{key}").json
    removed = app.delete(f"/api/favorites/{task.id}{key}").json
    missing = app.delete(f"/api/favorites/{task.id}{key}", status=404).json

    assert added["fav_user_ids"] == [user.id]
    assert [t["id"] for t in listed] == [task.id]
    assert removed["fav_user_ids"] is None
    assert missing["action"] == "DEL" and missing["target"] == "task"
    assert (
        app.post_json(f"/api/favorites{key}", {"task": 1}, status=415).json["exception_cls"]
        == "AttributeError"
    )


def test_userprogress_counts_callers_answers(app, db):
    project = ProjectFactory()
    TaskFactory(project=project)
    TaskFactory(project=project)
    db.execute(
        __import__("sqlalchemy").text(
            "UPDATE project_stats SET n_tasks = 2 WHERE project_id = :p"
        ),
        {"p": project.id},
    )
    db.commit()
    user = UserFactory()
    task = app.get(f"/api/project/{project.id}/newtask?api_key={user.api_key}").json
    _answer(app, task, user.api_key)

    progress = app.get(f"/api/project/{project.short_name}/userprogress?api_key={user.api_key}")
    missing = app.get("/api/project/nope/userprogress", status=404).json

    assert progress.json == {"done": 1, "total": 2}
    assert missing["action"] == "USER_PROGRESS"


def test_external_user_with_project_token(app, db):
    project = ProjectFactory()
    TaskFactory(project=project)

    app.get(f"/api/auth/project/{project.short_name}/token", status=403)
    app.get(
        f"/api/auth/project/{project.short_name}/token",
        headers={"Authorization": "wrong"},
        status=404,
    )
    token = app.get(
        f"/api/auth/project/{project.short_name}/token",
        headers={"Authorization": project.secret_key},
    ).text
    bearer = {"Authorization": f"Bearer {token}"}

    refused = app.get(f"/api/project/{project.id}/newtask?external_uid=u1", status=401).json
    task = app.get(f"/api/project/{project.id}/newtask?external_uid=u1", headers=bearer).json
    run = app.post_json(
        "/api/taskrun?external_uid=u1",
        {"project_id": project.id, "task_id": task["id"], "external_uid": "u1", "info": {}},
        headers=bearer,
    ).json

    assert refused == {"code": "invalid_header", "description": "Missing Authorization header"}
    assert run["external_uid"] == "u1" and run["user_id"] is None and run["user_ip"] is None


def test_globalstats(app, db):
    project = ProjectFactory()
    TaskFactory(project=project, n_answers=3)

    stats = app.get("/api/globalstats").json

    assert stats["n_projects"] == 1 and stats["n_tasks"] == 1
    assert stats["n_pending_tasks"] == 3
    assert {"featured": 0} in stats["categories"]


def test_task_completed_hook_fires_after_commit_with_payload(app, db):
    from core.hookspecs import hookimpl

    calls = []

    class Recorder:
        @hookimpl
        def crowdnest_task_completed(self, project, task, result, payload, settings):
            calls.append((payload, result.id))

    app.app.registry["plugins"].register(Recorder(), name="test-recorder")
    try:
        project = ProjectFactory()
        TaskFactory(project=project, n_answers=1)
        task = app.get(f"/api/project/{project.id}/newtask").json
        _answer(app, task)
    finally:
        app.app.registry["plugins"].unregister(name="test-recorder")

    result = db.scalars(select(Result)).one()
    assert len(calls) == 1
    payload, result_id = calls[0]
    assert result_id == result.id
    assert payload["event"] == "task_completed"
    assert payload["project_short_name"] == project.short_name
    assert (payload["project_id"], payload["task_id"], payload["result_id"]) == (
        project.id,
        task["id"],
        result.id,
    )


def test_answers_keep_volunteers_and_last_activity_of_the_project_stats(app, db):
    project = ProjectFactory(published=True)
    for _ in range(3):
        TaskFactory(project=project, n_answers=5)
    alice = UserFactory()

    for _ in range(2):  # one signed-in volunteer, two answers
        task = app.get(f"/api/project/{project.id}/newtask?api_key={alice.api_key}").json
        _answer(app, task, api_key=alice.api_key)
    for _ in range(2):  # one anonymous volunteer (one address), two answers
        _answer(app, app.get(f"/api/project/{project.id}/newtask").json)
    other_ip = {"REMOTE_ADDR": "10.0.0.2"}
    task = app.get(f"/api/project/{project.id}/newtask", extra_environ=other_ip).json
    app.post_json(
        "/api/taskrun",
        {"project_id": project.id, "task_id": task["id"], "info": "x"},
        extra_environ=other_ip,
    )

    figures = app.get(f"/api/projectstats?project_id={project.id}").json[0]
    last = app.get(f"/api/taskrun?project_id={project.id}&orderby=id&desc=true&limit=1").json[0]
    assert figures["n_task_runs"] == 5
    assert figures["n_volunteers"] == 3
    assert figures["last_activity"] == last["finish_time"]
