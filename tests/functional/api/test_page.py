"""/api/page: a project's owners write; items of draft projects are private."""

import pytest

from core.models import Page
from tests.factories import PageFactory, ProjectFactory
from tests.functional.api.roles import ROLES, WRITERS, auth, cast, denied, fresh


@pytest.fixture
def world(db):
    return cast(draft=True)


@pytest.mark.parametrize("role", ROLES)
def test_reading(app, world, role):
    public = PageFactory(project=world.project)
    in_draft = PageFactory(project=world.draft)
    headers = auth(world.users[role])

    listed = {item["id"] for item in app.get("/api/page?all=1", headers=headers).json}
    one = app.get(f"/api/page/{public.id}", headers=headers).json

    assert one["link"] == (
        f"<link rel='self' title='page' href='http://localhost/api/page/{public.id}'/>"
    )
    assert one["links"] == [
        f"<link rel='parent' title='project' href='http://localhost/api/project/{world.project.id}'/>"
    ]
    if role in WRITERS:
        assert listed == {public.id, in_draft.id}
        app.get(f"/api/page/{in_draft.id}", headers=headers)
    else:
        assert listed == {public.id}
        app.get(f"/api/page/{in_draft.id}", headers=headers, status=denied(role))


@pytest.mark.parametrize("role", ROLES)
def test_create(app, world, role):
    payload = {"project_id": world.project.id, "slug": "about"}
    user = world.users[role]

    if role in WRITERS:
        body = app.post_json("/api/page", payload, headers=auth(user)).json
        assert body["project_id"] == world.project.id
        assert "link" not in body
    else:
        body = app.post_json("/api/page", payload, headers=auth(user), status=denied(role)).json
        assert body["target"] == "page"


@pytest.mark.parametrize("role", ROLES)
def test_update_and_delete(app, db, world, role):
    item = PageFactory(project=world.project, slug="old")
    user = world.users[role]
    ok = role in WRITERS

    app.put_json(
        f"/api/page/{item.id}",
        {"slug": "new"},
        headers=auth(user),
        status=200 if ok else denied(role),
    )
    assert fresh(db, Page, item.id).slug == ("new" if ok else "old")
    app.delete(f"/api/page/{item.id}", headers=auth(user), status=204 if ok else denied(role))
    assert (fresh(db, Page, item.id) is None) == ok


def test_cannot_be_moved_to_another_project(app, db, world):
    item = PageFactory(project=world.project)
    elsewhere = ProjectFactory(owner=world.users["owner"])

    app.put_json(
        f"/api/page/{item.id}",
        {"project_id": elsewhere.id},
        headers=auth(world.users["owner"]),
    )

    assert fresh(db, Page, item.id).project_id == world.project.id


def test_cannot_create_in_someone_elses_project(app, world):
    stranger_project = ProjectFactory()

    app.post_json(
        "/api/page",
        {"project_id": stranger_project.id, "slug": "about"},
        headers=auth(world.users["owner"]),
        status=403,
    )


def test_errors(app, world):
    headers = auth(world.users["admin"])
    base = {"project_id": world.project.id, "slug": "about"}

    assert (
        app.post_json("/api/page", {**base, "created": "x"}, headers=headers, status=400).json[
            "exception_msg"
        ]
        == "Reserved keys in payload"
    )
    assert (
        app.post_json("/api/page", {**base, "colour": 1}, headers=headers, status=415).json[
            "exception_cls"
        ]
        == "TypeError"
    )
    assert (
        app.post_json("/api/page", {**base, "slug": 5}, headers=headers, status=415).json[
            "exception_cls"
        ]
        == "DataError"
    )
    assert (
        app.post_json("/api/page", {}, headers=headers, status=415).json["exception_cls"]
        == "DBIntegrityError"
    )
    assert app.get("/api/page/55", status=404).json["target"] == "page"


def test_created_filter_works(app, world):
    item = PageFactory(project=world.project)

    this_year = app.get(f"/api/page?created={item.created[:4]}").json
    other_day = app.get("/api/page?created=1999-01-01").json

    assert [found["id"] for found in this_year] == [item.id]
    assert other_day == []
