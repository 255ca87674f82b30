"""/api/project: create, read, list, update, delete, as each kind of caller."""

import pytest

from core.models import Category, Project
from tests.factories import CategoryFactory, ProjectFactory, UserFactory
from tests.functional.api.roles import ROLES, WRITERS, auth, cast, fresh


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


# -- every kind of caller, decision 3 and decision 5 ------------------------------------------


@pytest.fixture
def world(db):
    made = cast(info={"task_presenter": "<p>", "passwd_hash": "secret-hash", "custom": 1})
    return made.users, made.project


@pytest.mark.parametrize("role", ROLES)
def test_read_shaping_per_caller(app, world, role):
    users, project = world

    body = app.get(f"/api/project/{project.id}", headers=auth(users[role])).json

    assert body["owners_ids"] == [users["owner"].id, users["coowner"].id]
    assert "passwd_hash" not in body["info"]
    if role in WRITERS:
        assert body["info"] == {"task_presenter": "<p>", "custom": 1}
        assert body["secret_key"] == project.secret_key
    else:
        assert body["info"] == {"task_presenter": "<p>"}
        assert "secret_key" not in body and "published" not in body


@pytest.mark.parametrize("role", ROLES)
def test_update_and_delete_per_caller(app, db, world, role):
    users, project = world
    ok = role in WRITERS
    denied = 401 if role == "anonymous" else 403

    app.put_json(
        f"/api/project/{project.id}",
        {"description": "changed"},
        headers=auth(users[role]),
        status=200 if ok else denied,
    )
    assert (fresh(db, Project, project.id).description == "changed") == ok
    app.delete(
        f"/api/project/{project.id}",
        headers=auth(users[role]),
        status=204 if ok else denied,
    )
    assert (fresh(db, Project, project.id) is None) == ok


@pytest.mark.parametrize("role", ["owner", "coowner", "admin"])
def test_draft_visible_to_every_owner(app, db, role):
    owner, coowner = UserFactory(), UserFactory()
    users = {"owner": owner, "coowner": coowner, "admin": UserFactory(admin=True)}
    draft = ProjectFactory(owner=owner, coowners=[coowner], published=False)

    one = app.get(f"/api/project/{draft.id}", headers=auth(users[role])).json
    listed = app.get("/api/project?all=1", headers=auth(users[role])).json

    assert one["id"] == draft.id
    assert [p["id"] for p in listed] == [draft.id]


def test_info_put_keeps_server_keys(app, db, world):
    users, project = world

    body = app.put_json(
        f"/api/project/{project.id}",
        {"info": {"task_presenter": "<b>"}},
        headers=auth(users["owner"]),
    ).json

    assert body["info"] == {"task_presenter": "<b>"}
    assert fresh(db, Project, project.id).info == {
        "task_presenter": "<b>",
        "passwd_hash": "secret-hash",
    }


def test_owner_id_cannot_change(app, db, world):
    users, project = world

    app.put_json(
        f"/api/project/{project.id}",
        {"owner_id": users["volunteer"].id},
        headers=auth(users["admin"]),
    )

    assert fresh(db, Project, project.id).owner_id == users["owner"].id


def test_only_admins_feature(app, db, world):
    users, project = world

    refused = app.put_json(
        f"/api/project/{project.id}",
        {"featured": True},
        headers=auth(users["owner"]),
        status=403,
    ).json
    app.put_json(f"/api/project/{project.id}", {"featured": True}, headers=auth(users["admin"]))

    assert refused["exception_cls"] == "Forbidden"
    assert fresh(db, Project, project.id).featured is True


def test_creating_with_featured_false_is_fine_but_true_is_refused(app, db):
    CategoryFactory()
    owner = UserFactory()
    base = {"name": "N", "short_name": "n", "description": "d"}

    body = app.post_json("/api/project", {**base, "featured": False}, headers=auth(owner)).json
    app.post_json(
        "/api/project",
        {**base, "short_name": "m", "name": "M", "featured": True},
        headers=auth(owner),
        status=403,
    )

    assert body["featured"] is False


def test_only_primary_owner_or_admin_changes_coowners(app, db, world):
    users, project = world

    app.put_json(
        f"/api/project/{project.id}",
        {"owners_ids": [users["volunteer"].id]},
        headers=auth(users["coowner"]),
        status=403,
    )
    body = app.put_json(
        f"/api/project/{project.id}",
        {"owners_ids": [users["volunteer"].id]},
        headers=auth(users["owner"]),
    ).json

    assert body["owners_ids"] == [users["owner"].id, users["volunteer"].id]


@pytest.mark.parametrize(
    "key", ["id", "created", "updated", "completed", "contacted", "secret_key"]
)
def test_reserved_keys(app, world, key):
    users, project = world

    body = app.put_json(
        f"/api/project/{project.id}",
        {key: "x"},
        headers=auth(users["owner"]),
        status=400,
    ).json

    assert body["exception_msg"] == "Reserved keys in payload"


def test_body_errors(app, db, world):
    users, _ = world
    CategoryFactory()
    headers = auth(users["owner"])

    assert (
        app.post_json(
            "/api/project",
            {"name": "x", "short_name": "x", "colour": 1},
            headers=headers,
            status=415,
        ).json["exception_cls"]
        == "TypeError"
    )
    assert (
        app.post_json("/api/project", {"name": 1}, headers=headers, status=415).json[
            "exception_cls"
        ]
        == "DataError"
    )
    assert (
        app.post_json(
            "/api/project",
            {"name": "x", "short_name": "x"},
            headers=headers,
            status=415,
        ).json["exception_cls"]
        == "DBIntegrityError"
    )
    assert (
        app.post_json(
            "/api/project",
            {"name": "y", "short_name": "new", "description": "d"},
            headers=headers,
            status=415,
        ).json["exception_cls"]
        == "ValueError"
    )
    assert app.post_json(
        "/api/project",
        {"name": "y", "short_name": "y", "description": "d", "category_id": 999},
        headers=headers,
        status=400,
    ).json["exception_msg"] == ("category_id does not exist")
    assert app.get("/api/project/999", status=404).json["exception_cls"] == "NotFound"


def test_stats_flag_adds_project_stats(app, world):
    _, project = world

    one = app.get(f"/api/project/{project.id}?stats=1").json
    listed = app.get("/api/project?stats=1").json
    plain = app.get(f"/api/project/{project.id}").json

    assert one["stats"]["project_id"] == project.id
    assert listed[0]["stats"]["n_tasks"] == 0
    assert "stats" not in plain


def test_without_category_id_a_project_goes_into_the_first_category(app, db):
    first, _ = CategoryFactory(), CategoryFactory()
    user = UserFactory()

    body = app.post_json(
        "/api/project", {"name": "a", "short_name": "a", "description": "d"}, headers=auth(user)
    ).json

    assert body["category_id"] == first.id


def test_on_a_site_without_categories_the_default_one_is_made(app, db):
    user = UserFactory()

    body = app.post_json(
        "/api/project", {"name": "a", "short_name": "a", "description": "d"}, headers=auth(user)
    ).json

    category = db.get(Category, body["category_id"])
    assert (category.name, category.short_name) == ("General", "general")
