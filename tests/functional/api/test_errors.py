"""The one error shape of the API and the status each failure answers with (section 4)."""

import pytest

from tests.factories import CategoryFactory, ProjectFactory, TaskFactory, UserFactory
from tests.functional.api.roles import auth

SHAPE = {"action", "status", "status_code", "target", "exception_cls", "exception_msg"}


def test_not_found_shape(app, db):
    response = app.get("/api/project/12345", status=404)

    assert response.content_type == "application/json"
    assert response.json == {
        "action": "GET",
        "status": "failed",
        "status_code": 404,
        "target": "project",
        "exception_cls": "NotFound",
        "exception_msg": "404 Not Found: The requested URL was not found on the server. If you "
        "entered the URL manually please check your spelling and try again.",
    }


@pytest.mark.parametrize("path", ["/api/nothing", "/api/project/", "/api/task/abc"])
def test_routing_errors_under_api_are_json(app, db, path):
    body = app.get(path, status=404).json

    assert set(body) == SHAPE
    assert body["exception_cls"] == "NotFound"


@pytest.mark.parametrize(
    "body, exception_cls",
    [
        (b"{broken", "ValueError"),
        (b"\xff\xfe", "ValueError"),
        (b"", "ValueError"),
        (b"[1, 2]", "AttributeError"),
        (b'"text"', "AttributeError"),
    ],
)
def test_bad_bodies(app, db, body, exception_cls):
    owner = UserFactory()
    CategoryFactory()

    response = app.post(
        "/api/project",
        body,
        headers={**auth(owner), "Content-Type": "application/json"},
        status=415,
    )

    assert response.json["exception_cls"] == exception_cls
    assert response.json["status_code"] == 415
    assert response.json["action"] == "POST"


def test_reserved_keys_win_over_unknown_keys(app, db):
    owner = UserFactory()
    task = TaskFactory(project=ProjectFactory(owner=owner))

    body = app.put_json(
        f"/api/task/{task.id}", {"id": 1, "bogus": 2}, headers=auth(owner), status=400
    ).json

    assert body["exception_cls"] == "BadRequest"


def test_authorization_is_checked_before_the_body_on_put(app, db):
    task = TaskFactory()

    body = app.put(
        f"/api/task/{task.id}",
        "{broken",
        headers={"Content-Type": "application/json"},
        status=401,
    ).json

    assert body["exception_cls"] == "Unauthorized"
    assert body["action"] == "PUT"


def test_not_found_is_checked_before_authorization(app, db):
    app.delete("/api/task/999", status=404)


def test_link_and_links_in_a_body_are_ignored(app, db):
    owner = UserFactory()
    project = ProjectFactory(owner=owner)

    body = app.post_json(
        "/api/task",
        {"project_id": project.id, "link": "x", "links": ["y"]},
        headers=auth(owner),
    ).json

    assert body["project_id"] == project.id


def test_delete_answers_204_with_empty_body(app, db):
    owner = UserFactory()
    task = TaskFactory(project=ProjectFactory(owner=owner))

    response = app.delete(f"/api/task/{task.id}", headers=auth(owner), status=204)

    assert response.body == b""


def test_overlong_and_out_of_range_values_are_415_not_500(app, db):
    owner = UserFactory()
    project = ProjectFactory(owner=owner)
    headers = auth(owner)

    huge = app.post_json(
        "/api/task",
        {"project_id": project.id, "n_answers": 2**70},
        headers=headers,
        status=415,
    ).json
    long_name = app.put_json(
        f"/api/project/{project.id}", {"name": "x" * 300}, headers=headers, status=415
    ).json
    null_name = app.put_json(
        f"/api/project/{project.id}", {"name": None}, headers=headers, status=415
    ).json

    assert huge["exception_cls"] == long_name["exception_cls"] == "DataError"
    assert null_name["exception_cls"] in ("DataError", "DBIntegrityError")
