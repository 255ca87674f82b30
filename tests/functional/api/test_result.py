"""/api/result: everyone reads, owners update `info`, nobody creates or deletes."""

import pytest

from core.models import Result
from tests.factories import ResultFactory, TaskFactory, TaskRunFactory
from tests.functional.api.roles import ROLES, WRITERS, auth, cast, denied, fresh


@pytest.fixture
def world(db):
    world = cast()
    world.task = TaskFactory(project=world.project, n_answers=1)
    world.run = TaskRunFactory(task=world.task)
    world.result = ResultFactory(task=world.task, task_run_ids=[world.run.id])
    return world


@pytest.mark.parametrize("role", ROLES)
def test_everyone_reads(app, world, role):
    body = app.get(f"/api/result/{world.result.id}", headers=auth(world.users[role])).json

    assert body["task_run_ids"] == [world.run.id]
    assert body["last_version"] is True
    assert body["link"] == (
        f"<link rel='self' title='result' href='http://localhost/api/result/{world.result.id}'/>"
    )
    assert body["links"][1] == (
        f"<link rel='parent' title='task' href='http://localhost/api/task/{world.task.id}'/>"
    )


@pytest.mark.parametrize("role", ROLES)
def test_nobody_creates(app, world, role):
    payload = {"info": {"x": 1}}

    body = app.post_json(
        "/api/result", payload, headers=auth(world.users[role]), status=denied(role)
    ).json

    assert body["target"] == "result"


@pytest.mark.parametrize("role", ROLES)
def test_nobody_deletes(app, db, world, role):
    app.delete(
        f"/api/result/{world.result.id}",
        headers=auth(world.users[role]),
        status=denied(role),
    )

    assert fresh(db, Result, world.result.id) is not None


@pytest.mark.parametrize("role", ROLES)
def test_owners_and_admin_update_info(app, db, world, role):
    status = 200 if role in WRITERS else denied(role)

    app.put_json(
        f"/api/result/{world.result.id}",
        {"info": {"label": "cat"}},
        headers=auth(world.users[role]),
        status=status,
    )

    stored = fresh(db, Result, world.result.id).info
    assert stored == ({"label": "cat"} if role in WRITERS else None)


@pytest.mark.parametrize(
    "key", ["id", "created", "project_id", "task_id", "task_run_ids", "last_version"]
)
def test_only_info_is_writable(app, world, key):
    body = app.put_json(
        f"/api/result/{world.result.id}",
        {key: 1},
        headers=auth(world.users["owner"]),
        status=400,
    ).json

    assert body["exception_cls"] == "BadRequest"


def test_listing_defaults_to_latest_versions(app, world):
    old = ResultFactory(task=TaskFactory(project=world.project), last_version=False)

    latest = app.get("/api/result").json
    superseded = app.get("/api/result?last_version=false").json

    assert [r["id"] for r in latest] == [world.result.id]
    assert [r["id"] for r in superseded] == [old.id]


def test_related_adds_task_and_task_runs(app, world):
    one = app.get(f"/api/result/{world.result.id}?related=1").json
    listed = app.get("/api/result?related=1").json

    assert one["task"]["id"] == world.task.id
    assert [r["id"] for r in one["task_runs"]] == [world.run.id]
    assert listed[0]["task_runs"][0]["id"] == world.run.id


def test_errors(app, world):
    headers = auth(world.users["owner"])
    url = f"/api/result/{world.result.id}"

    assert app.get("/api/result/77", status=404).json["exception_cls"] == "NotFound"
    assert (
        app.put_json(url, {"nope": 1}, headers=headers, status=415).json["exception_cls"]
        == "TypeError"
    )
    assert (
        app.put(
            url,
            "[1",
            headers={**headers, "Content-Type": "application/json"},
            status=415,
        ).json["exception_cls"]
        == "ValueError"
    )
