"""/api/category: admins write, everyone reads; a new category is usable at once."""

import pytest

from core.models import Category
from tests.factories import CategoryFactory, UserFactory
from tests.functional.api.roles import auth, caller, fresh

ROLES = ("anonymous", "volunteer", "owner", "admin")
PAYLOAD = {"name": "Birds", "short_name": "birds", "description": "Winged things"}


@pytest.mark.parametrize("role", ROLES)
def test_everyone_reads(app, db, role):
    category = CategoryFactory()
    user = caller(role)

    one = app.get(f"/api/category/{category.id}", headers=auth(user)).json
    listed = app.get("/api/category", headers=auth(user)).json

    assert one["name"] == category.name
    assert one["link"] == (
        f"<link rel='self' title='category' href='http://localhost/api/category/{category.id}'/>"
    )
    assert "links" not in one
    assert category.id in [c["id"] for c in listed]


@pytest.mark.parametrize("role", ROLES)
def test_only_admin_creates(app, db, role):
    user = caller(role)
    status = 200 if role == "admin" else (401 if role == "anonymous" else 403)

    body = app.post_json("/api/category", PAYLOAD, headers=auth(user), status=status).json

    assert body["name"] == "Birds" if status == 200 else body["target"] == "category"


@pytest.mark.parametrize("role", ROLES)
def test_only_admin_updates_and_deletes(app, db, role):
    category = CategoryFactory(description="old")
    CategoryFactory()  # the last category stays (test_the_last_category_stays)
    user = caller(role)
    ok = role == "admin"
    denied = 401 if role == "anonymous" else 403

    app.put_json(
        f"/api/category/{category.id}",
        {"description": "new"},
        headers=auth(user),
        status=200 if ok else denied,
    )
    assert fresh(db, Category, category.id).description == ("new" if ok else "old")
    app.delete(f"/api/category/{category.id}", headers=auth(user), status=204 if ok else denied)
    assert (fresh(db, Category, category.id) is None) == ok


def test_new_category_is_usable_by_a_project_at_once(app, db):
    admin, owner = UserFactory(admin=True), UserFactory()

    category = app.post_json("/api/category", PAYLOAD, headers=auth(admin)).json
    project = app.post_json(
        "/api/project",
        {
            "name": "P",
            "short_name": "p",
            "description": "d",
            "category_id": category["id"],
        },
        headers=auth(owner),
    ).json

    assert project["category_id"] == category["id"]


@pytest.mark.parametrize("key", ["id", "created"])
def test_reserved_keys_name_the_key(app, db, key):
    admin = UserFactory(admin=True)

    body = app.post_json(
        "/api/category", {**PAYLOAD, key: "1"}, headers=auth(admin), status=400
    ).json

    assert body["exception_msg"] == f"Reserved keys in payload: {key}"


def test_errors(app, db):
    admin = UserFactory(admin=True)
    existing = CategoryFactory()
    headers = auth(admin)

    unknown = app.post_json(
        "/api/category", {**PAYLOAD, "colour": 1}, headers=headers, status=415
    ).json
    wrong = app.post_json(
        "/api/category", {**PAYLOAD, "name": 5}, headers=headers, status=415
    ).json
    missing = app.post_json("/api/category", {"name": "x"}, headers=headers, status=415).json
    duplicate = app.post_json(
        "/api/category", {**PAYLOAD, "name": existing.name}, headers=headers, status=415
    ).json

    assert unknown["exception_cls"] == "TypeError"
    assert wrong["exception_cls"] == "DataError"
    assert missing["exception_cls"] == duplicate["exception_cls"] == "DBIntegrityError"
    assert app.get("/api/category/999", status=404).json["target"] == "category"
    app.delete("/api/category/999", headers=headers, status=404)


def test_the_last_category_stays(app, db):
    only = CategoryFactory()
    admin = UserFactory(admin=True)

    body = app.delete(f"/api/category/{only.id}", headers=auth(admin), status=400).json

    assert body == {
        "action": "DELETE",
        "status": "failed",
        "status_code": 400,
        "target": "category",
        "exception_cls": "BadRequest",
        "exception_msg": "The last category cannot be deleted",
    }
    assert fresh(db, Category, only.id) is not None
