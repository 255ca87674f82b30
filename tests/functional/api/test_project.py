"""/api/project: create, read, list, update, delete, as each kind of caller."""

from tests.factories import CategoryFactory, ProjectFactory, UserFactory


def test_owner_creates_project_and_is_recorded_as_owner(app, db):
    CategoryFactory()
    owner = UserFactory()

    response = app.post_json(
        f"/api/project?api_key={owner.api_key}",
        {"name": "Birds", "short_name": "birds", "description": "Count birds"},
    )

    body = response.json
    assert response.status_int == 200
    assert body["owner_id"] == owner.id
    assert body["owners_ids"] == [owner.id]
    assert body["published"] is False
    assert "link" not in body


def test_anonymous_cannot_create_project(app, db):
    CategoryFactory()

    response = app.post_json(
        "/api/project", {"name": "x", "short_name": "x", "description": "x"}, status=401
    )

    assert response.json["exception_cls"] == "Unauthorized"
    assert response.json["target"] == "project"


def test_published_in_body_is_forbidden(app, db):
    owner = UserFactory()
    CategoryFactory()

    response = app.post_json(
        f"/api/project?api_key={owner.api_key}",
        {"name": "x", "short_name": "x", "description": "x", "published": True},
        status=403,
    )

    assert response.json["exception_msg"] == "You cannot publish a project via the API"


def test_draft_hidden_from_others_visible_to_owner(app, db):
    owner = UserFactory()
    draft = ProjectFactory(published=False, owner=owner)
    stranger = UserFactory()

    app.get(f"/api/project/{draft.id}", status=401)
    app.get(f"/api/project/{draft.id}?api_key={stranger.api_key}", status=403)
    own = app.get(f"/api/project/{draft.id}?api_key={owner.api_key}").json

    assert own["secret_key"] == draft.secret_key


def test_non_owner_does_not_see_secrets(app, db):
    project = ProjectFactory(info={"task_presenter": "<p>", "passwd_hash": "x", "custom": 1})

    body = app.get(f"/api/project/{project.id}").json

    assert "secret_key" not in body
    assert body["info"] == {"task_presenter": "<p>"}
    assert body["link"].startswith("<link rel='self' title='project'")
    assert body["links"][0].startswith("<link rel='category' title='category'")
