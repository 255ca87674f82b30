"""/api/blogpost: a project's owners write; unpublished posts and draft projects stay private."""

import pytest

from core.models import Blogpost, ProjectStats
from tests.factories import BlogpostFactory, ProjectFactory
from tests.functional.api.roles import ROLES, WRITERS, auth, cast, denied, fresh


@pytest.fixture
def world(db):
    return cast(draft=True)


@pytest.mark.parametrize("role", ROLES)
def test_reading(app, world, role):
    public = BlogpostFactory(project=world.project)
    unpublished = BlogpostFactory(project=world.project, published=False)
    in_draft = BlogpostFactory(project=world.draft)
    headers = auth(world.users[role])

    listed = {post["id"] for post in app.get("/api/blogpost?all=1", headers=headers).json}
    one = app.get(f"/api/blogpost/{public.id}", headers=headers).json

    assert one["link"] == (
        f"<link rel='self' title='blogpost' href='http://localhost/api/blogpost/{public.id}'/>"
    )
    assert one["links"] == [
        f"<link rel='parent' title='project' href='http://localhost/api/project/{world.project.id}'/>"
    ]
    if role in WRITERS:
        assert listed == {public.id, unpublished.id, in_draft.id}
        app.get(f"/api/blogpost/{unpublished.id}", headers=headers)
    else:
        assert listed == {public.id}
        app.get(f"/api/blogpost/{unpublished.id}", headers=headers, status=denied(role))
        app.get(f"/api/blogpost/{in_draft.id}", headers=headers, status=denied(role))


@pytest.mark.parametrize("role", ROLES)
def test_create(app, db, world, role):
    payload = {"project_id": world.project.id, "title": "News", "body": "We grew"}
    user = world.users[role]

    if role in WRITERS:
        body = app.post_json("/api/blogpost", payload, headers=auth(user)).json
        assert body["user_id"] == user.id
        assert body["published"] is False
        db.rollback()
        stats = db.query(ProjectStats).filter_by(project_id=world.project.id).one()
        assert stats.n_blogposts == 1
        db.commit()
    else:
        body = app.post_json(
            "/api/blogpost", payload, headers=auth(user), status=denied(role)
        ).json
        assert body["target"] == "blogpost"


@pytest.mark.parametrize("role", ROLES)
def test_update_and_delete(app, db, world, role):
    post = BlogpostFactory(project=world.project, title="Old")
    user = world.users[role]
    ok = role in WRITERS

    app.put_json(
        f"/api/blogpost/{post.id}",
        {"title": "New"},
        headers=auth(user),
        status=200 if ok else denied(role),
    )
    assert fresh(db, Blogpost, post.id).title == ("New" if ok else "Old")
    app.delete(
        f"/api/blogpost/{post.id}",
        headers=auth(user),
        status=204 if ok else denied(role),
    )
    assert (fresh(db, Blogpost, post.id) is None) == ok


def test_post_cannot_be_moved_or_reattributed(app, db, world):
    post = BlogpostFactory(project=world.project)
    elsewhere = ProjectFactory(owner=world.users["owner"])

    app.put_json(
        f"/api/blogpost/{post.id}",
        {"project_id": elsewhere.id},
        headers=auth(world.users["owner"]),
    )
    reattributed = app.put_json(
        f"/api/blogpost/{post.id}",
        {"user_id": 1},
        headers=auth(world.users["owner"]),
        status=400,
    ).json

    assert fresh(db, Blogpost, post.id).project_id == world.project.id
    assert reattributed["exception_msg"] == "Reserved keys in payload: user_id"


def test_cannot_post_to_someone_elses_project(app, world):
    stranger_project = ProjectFactory()

    app.post_json(
        "/api/blogpost",
        {"project_id": stranger_project.id, "title": "t", "body": "b"},
        headers=auth(world.users["owner"]),
        status=403,
    )


def test_errors(app, world):
    headers = auth(world.users["admin"])
    base = {"project_id": world.project.id, "title": "t", "body": "b"}

    assert (
        app.post_json("/api/blogpost", {**base, "id": 3}, headers=headers, status=400).json[
            "exception_msg"
        ]
        == "Reserved keys in payload: id"
    )
    assert (
        app.post_json("/api/blogpost", {**base, "tags": []}, headers=headers, status=415).json[
            "exception_cls"
        ]
        == "TypeError"
    )
    assert (
        app.post_json("/api/blogpost", {**base, "title": ["t"]}, headers=headers, status=415).json[
            "exception_cls"
        ]
        == "DataError"
    )
    assert (
        app.post_json(
            "/api/blogpost",
            {"project_id": world.project.id, "title": "t"},
            headers=headers,
            status=415,
        ).json["exception_cls"]
        == "DBIntegrityError"
    )
    assert app.get("/api/blogpost/55", status=404).json["exception_cls"] == "NotFound"
