"""/api/helpingmaterial: a project's owners write; items of draft projects are private."""

import pytest

from core.models import HelpingMaterial
from tests.factories import HelpingMaterialFactory, ProjectFactory
from tests.functional.api.roles import ROLES, WRITERS, auth, cast, denied, fresh


@pytest.fixture
def world(db):
    return cast(draft=True)


@pytest.mark.parametrize("role", ROLES)
def test_reading(app, world, role):
    public = HelpingMaterialFactory(project=world.project)
    in_draft = HelpingMaterialFactory(project=world.draft)
    headers = auth(world.users[role])

    listed = {item["id"] for item in app.get("/api/helpingmaterial?all=1", headers=headers).json}
    one = app.get(f"/api/helpingmaterial/{public.id}", headers=headers).json

    assert one["link"] == (
        f"<link rel='self' title='helpingmaterial' href='http://localhost/api/helpingmaterial/{public.id}'/>"
    )
    assert one["links"] == [
        f"<link rel='parent' title='project' href='http://localhost/api/project/{world.project.id}'/>"
    ]
    if role in WRITERS:
        assert listed == {public.id, in_draft.id}
        app.get(f"/api/helpingmaterial/{in_draft.id}", headers=headers)
    else:
        assert listed == {public.id}
        app.get(f"/api/helpingmaterial/{in_draft.id}", headers=headers, status=denied(role))


@pytest.mark.parametrize("role", ROLES)
def test_create(app, world, role):
    payload = {"project_id": world.project.id, "priority": 0.5}
    user = world.users[role]

    if role in WRITERS:
        body = app.post_json("/api/helpingmaterial", payload, headers=auth(user)).json
        assert body["project_id"] == world.project.id
        assert "link" not in body
    else:
        body = app.post_json(
            "/api/helpingmaterial", payload, headers=auth(user), status=denied(role)
        ).json
        assert body["target"] == "helpingmaterial"


@pytest.mark.parametrize("role", ROLES)
def test_update_and_delete(app, db, world, role):
    item = HelpingMaterialFactory(project=world.project, priority=0.1)
    user = world.users[role]
    ok = role in WRITERS

    app.put_json(
        f"/api/helpingmaterial/{item.id}",
        {"priority": 0.9},
        headers=auth(user),
        status=200 if ok else denied(role),
    )
    assert fresh(db, HelpingMaterial, item.id).priority == (0.9 if ok else 0.1)
    app.delete(
        f"/api/helpingmaterial/{item.id}",
        headers=auth(user),
        status=204 if ok else denied(role),
    )
    assert (fresh(db, HelpingMaterial, item.id) is None) == ok


def test_cannot_be_moved_to_another_project(app, db, world):
    item = HelpingMaterialFactory(project=world.project)
    elsewhere = ProjectFactory(owner=world.users["owner"])

    app.put_json(
        f"/api/helpingmaterial/{item.id}",
        {"project_id": elsewhere.id},
        headers=auth(world.users["owner"]),
    )

    assert fresh(db, HelpingMaterial, item.id).project_id == world.project.id


def test_cannot_create_in_someone_elses_project(app, world):
    stranger_project = ProjectFactory()

    app.post_json(
        "/api/helpingmaterial",
        {"project_id": stranger_project.id, "priority": 0.5},
        headers=auth(world.users["owner"]),
        status=403,
    )


def test_errors(app, world):
    headers = auth(world.users["admin"])
    base = {"project_id": world.project.id, "priority": 0.5}

    assert (
        app.post_json(
            "/api/helpingmaterial",
            {**base, "created": "x"},
            headers=headers,
            status=400,
        ).json["exception_msg"]
        == "Reserved keys in payload"
    )
    assert (
        app.post_json(
            "/api/helpingmaterial", {**base, "colour": 1}, headers=headers, status=415
        ).json["exception_cls"]
        == "TypeError"
    )
    assert (
        app.post_json(
            "/api/helpingmaterial",
            {**base, "priority": "high"},
            headers=headers,
            status=415,
        ).json["exception_cls"]
        == "DataError"
    )
    assert (
        app.post_json("/api/helpingmaterial", {}, headers=headers, status=415).json[
            "exception_cls"
        ]
        == "DBIntegrityError"
    )
    assert app.get("/api/helpingmaterial/55", status=404).json["target"] == "helpingmaterial"


def test_created_filter_works(app, world):
    item = HelpingMaterialFactory(project=world.project)

    this_year = app.get(f"/api/helpingmaterial?created={item.created[:4]}").json
    other_day = app.get("/api/helpingmaterial?created=1999-01-01").json

    assert [found["id"] for found in this_year] == [item.id]
    assert other_day == []
