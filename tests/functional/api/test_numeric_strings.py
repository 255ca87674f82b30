"""Numeric strings where a number is expected, as PYBOSSA on PostgreSQL takes them (issue 18).

`pbs update-task-redundancy --redundancy 2` sends `"n_answers": "2"`. The rule lives in the
body schemas (core/schemas), so it holds for every integer and float column at once.
"""

import pytest

from core.models import HelpingMaterial, Task
from tests.factories import TaskFactory
from tests.functional.api.roles import auth, fresh


@pytest.mark.parametrize(("sent", "stored"), [("2", 2), (" 7 ", 7), ("+3", 3), (4, 4), (5.0, 5)])
def test_put_takes_an_integer_as_text(app, db, world, sent, stored):
    task = TaskFactory(project=world.project)

    body = app.put_json(
        f"/api/task/{task.id}", {"n_answers": sent}, headers=auth(world.users["owner"])
    ).json

    assert body["n_answers"] == stored
    assert fresh(db, Task, task.id).n_answers == stored


def test_post_takes_integers_and_floats_as_text(app, db, world):
    body = app.post_json(
        "/api/task",
        {"project_id": str(world.project.id), "n_answers": "3", "priority_0": "0.25"},
        headers=auth(world.users["owner"]),
    ).json
    material = app.post_json(
        "/api/helpingmaterial",
        {"project_id": world.project.id, "priority": "1e-1"},
        headers=auth(world.users["owner"]),
    ).json

    task = fresh(db, Task, body["id"])
    assert (task.project_id, task.n_answers, task.priority_0) == (world.project.id, 3, 0.25)
    assert body["n_answers"] == 3
    assert fresh(db, HelpingMaterial, material["id"]).priority == 0.1


@pytest.mark.parametrize(
    ("field", "sent", "message"),
    [
        ("n_answers", "two", "n_answers: 'two' is not an integer"),
        ("n_answers", "2.5", "n_answers: '2.5' is not an integer"),
        ("n_answers", "", "n_answers: '' is not an integer"),
        ("n_answers", "0x10", "n_answers: '0x10' is not an integer"),
        ("n_answers", "1_000", "n_answers: '1_000' is not an integer"),
        ("n_answers", "99999999999", "n_answers: 99999999999 is out of range"),
        ("priority_0", "high", "priority_0: 'high' is not a number"),
        ("priority_0", "nan", "priority_0: 'nan' is not a number"),
        ("priority_0", "Infinity", "priority_0: 'Infinity' is not a number"),
    ],
)
def test_other_strings_still_get_the_documented_error(app, world, field, sent, message):
    task = TaskFactory(project=world.project)

    body = app.put_json(
        f"/api/task/{task.id}", {field: sent}, headers=auth(world.users["owner"]), status=415
    ).json

    assert body["exception_cls"] == "DataError"
    assert body["exception_msg"] == message
    assert (body["action"], body["target"], body["status"]) == ("PUT", "task", "failed")
