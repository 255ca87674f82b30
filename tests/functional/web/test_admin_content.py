"""Admin pages for categories and announcements."""

import pytest
from sqlalchemy import func, select

from core.models import Announcement, Category
from tests.factories import AnnouncementFactory, CategoryFactory, ProjectFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user, sign_in


@pytest.fixture
def admin_app(app, db):
    admin = make_user(admin=True)
    sign_in(app, admin)
    app.admin = admin
    app.token = {"X-CSRFToken": csrf_token(app, "/account/profile")}
    return app


def fresh(db):
    db.rollback()
    db.expire_all()
    return db


# --- Categories ---------------------------------------------------------------------------


def test_categories_page_counts_projects(admin_app, db):
    used = CategoryFactory(short_name="used")
    CategoryFactory(short_name="empty")
    ProjectFactory(category=used)
    ProjectFactory(category=used, published=False)

    body = admin_app.get("/admin/categories", headers=JSON).json

    assert body["n_projects_per_category"] == {"used": 2, "empty": 0}
    assert set(body["form"]) == {"id", "name", "description", "errors", "csrf"}
    assert set(body["categories"][0]) == {"created", "description", "id", "name", "short_name"}


def test_create_a_category(admin_app, db):
    body = admin_app.post_json(
        "/admin/categories",
        {"name": "Social Science", "description": "People"},
        headers=admin_app.token,
    ).json

    created = fresh(db).scalars(select(Category)).one()
    assert (created.name, created.short_name) == ("Social Science", "socialscience")
    assert (body["flash"], body["status"]) == ("Category added", "success")
    assert body["n_projects_per_category"] == {"socialscience": 0}


def test_bad_category_shows_errors_and_saves_nothing(admin_app, db):
    CategoryFactory(name="Taken", short_name="taken")

    body = admin_app.post_json(
        "/admin/categories", {"name": "taken", "description": ""}, headers=admin_app.token
    ).json
    page = admin_app.post(
        "/admin/categories",
        {"name": "", "description": "x", "csrf_token": admin_app.token["X-CSRFToken"]},
    )

    assert body["form"]["errors"]["name"] == ["Name is already taken"]
    assert body["form"]["errors"]["description"]
    assert 'aria-invalid="true"' in page.text and '<label for="name">' in page.text
    assert fresh(db).scalar(select(func.count()).select_from(Category)) == 1


def test_category_writes_need_csrf_and_an_admin(app, db):
    category = CategoryFactory()
    sign_in(app, make_user())
    token = {"X-CSRFToken": csrf_token(app, "/account/profile")}

    app.post_json(
        "/admin/categories", {"name": "New one", "description": "x"}, headers=token, status=403
    )
    app.post_json(f"/admin/categories/del/{category.id}", {}, headers=token, status=403)

    assert fresh(db).scalar(select(func.count()).select_from(Category)) == 1


def test_category_create_without_csrf_is_refused(admin_app, db):
    admin_app.post_json("/admin/categories", {"name": "New one", "description": "x"}, status=400)

    assert fresh(db).scalar(select(func.count()).select_from(Category)) == 0


def test_update_a_category(admin_app, db):
    category = CategoryFactory(name="Old name", short_name="oldname")

    form = admin_app.get(f"/admin/categories/update/{category.id}", headers=JSON).json
    body = admin_app.post_json(
        f"/admin/categories/update/{category.id}",
        {"name": "New Name", "description": "Changed"},
        headers=admin_app.token,
    ).json

    assert form["form"]["name"] == "Old name" and form["category"]["id"] == category.id
    assert body == {"next": "/admin/categories", "flash": "Category updated", "status": "success"}
    saved = fresh(db).get(Category, category.id)
    assert (saved.name, saved.short_name, saved.description) == ("New Name", "newname", "Changed")


def test_update_keeps_names_unique(admin_app, db):
    CategoryFactory(name="First", short_name="first")
    second = CategoryFactory(name="Second", short_name="second")

    body = admin_app.post_json(
        f"/admin/categories/update/{second.id}",
        {"name": "First", "description": "x"},
        headers=admin_app.token,
    ).json

    assert body["form"]["errors"]["name"] == ["Name is already taken"]
    assert fresh(db).get(Category, second.id).name == "Second"


def test_delete_an_empty_category(admin_app, db):
    CategoryFactory()
    empty_id = CategoryFactory().id

    shown = admin_app.get(f"/admin/categories/del/{empty_id}", headers=JSON).json
    body = admin_app.post_json(
        f"/admin/categories/del/{empty_id}", {}, headers={"X-CSRFToken": shown["form"]["csrf"]}
    ).json

    assert shown["category"]["id"] == empty_id
    assert body == {"next": "/admin/categories", "flash": "Category deleted", "status": "success"}
    assert fresh(db).get(Category, empty_id) is None


def test_a_category_in_use_stays(admin_app, db):
    used = ProjectFactory().category_id
    CategoryFactory()

    in_use = admin_app.post_json(f"/admin/categories/del/{used}", {}, headers=admin_app.token).json

    assert in_use["status"] == "error"
    assert fresh(db).get(Category, used) is not None


def test_the_last_category_cannot_be_deleted(admin_app, db):
    only = CategoryFactory()

    body = admin_app.post_json(
        f"/admin/categories/del/{only.id}", {}, headers=admin_app.token
    ).json

    assert body["status"] == "warning"
    assert "only available category" in body["flash"]
    assert fresh(db).get(Category, only.id) is not None


def test_unknown_category_is_a_404(admin_app):
    admin_app.get("/admin/categories/update/999", headers=JSON, status=404)
    admin_app.get("/admin/categories/del/999", headers=JSON, status=404)


# --- Announcements ------------------------------------------------------------------------


def test_admin_announcements_lists_drafts_too(admin_app, db):
    AnnouncementFactory(published=False)
    AnnouncementFactory()

    body = admin_app.get("/admin/announcement", headers=JSON).json

    assert len(body["announcements"]) == 2
    assert body["csrf"]
    assert body["title"] == "Manage global Announcements"


def test_create_update_and_delete_an_announcement(admin_app, db):
    form = admin_app.get("/admin/announcement/new", headers=JSON).json["form"]
    created = admin_app.post_json(
        "/admin/announcement/new",
        {"title": "Hello", "body": "World", "published": True},
        headers={"X-CSRFToken": form["csrf"]},
    ).json
    announcement_id = fresh(db).scalars(select(Announcement.id)).one()
    edit = admin_app.get(f"/admin/announcement/{announcement_id}/update", headers=JSON).json
    updated = admin_app.post_json(
        f"/admin/announcement/{announcement_id}/update",
        {"title": "Hello again", "body": "World", "media_url": "https://example.org/x"},
        headers=admin_app.token,
    ).json
    saved = fresh(db).get(Announcement, announcement_id)
    saved_values = (saved.title, saved.media_url, saved.published, saved.user_id)
    deleted = admin_app.post_json(
        f"/admin/announcement/{announcement_id}/delete", {}, headers=admin_app.token
    ).json

    assert form["published"] is True and set(form) >= {"title", "body", "media_url", "errors"}
    assert created == {
        "next": "/admin/announcement",
        "flash": "Announcement created!",
        "status": "success",
    }
    assert edit["form"]["id"] == announcement_id and edit["title"] == "Edit a post"
    assert updated["flash"] == "Announcement updated!"
    assert saved_values == ("Hello again", "https://example.org/x", False, admin_app.admin.id)
    assert deleted["flash"] == "Announcement deleted!"
    assert fresh(db).get(Announcement, announcement_id) is None


def test_bad_announcement_shows_errors(admin_app, db):
    body = admin_app.post_json(
        "/admin/announcement/new",
        {"title": "", "body": "x", "media_url": "javascript:alert(1)"},
        headers=admin_app.token,
    ).json
    page = admin_app.post(
        "/admin/announcement/new",
        {"title": "", "body": "", "csrf_token": admin_app.token["X-CSRFToken"]},
    )

    assert set(body["form"]["errors"]) == {"title", "media_url"}
    assert 'aria-invalid="true"' in page.text
    assert fresh(db).scalar(select(func.count()).select_from(Announcement)) == 0


def test_announcement_writes_need_csrf_and_an_admin(app, db):
    announcement = AnnouncementFactory()
    sign_in(app, make_user())
    token = {"X-CSRFToken": csrf_token(app, "/account/profile")}

    app.post_json(f"/admin/announcement/{announcement.id}/delete", {}, headers=token, status=403)
    app.post_json(
        "/admin/announcement/new", {"title": "x", "body": "y"}, headers=token, status=403
    )

    assert fresh(db).get(Announcement, announcement.id) is not None


def test_announcement_delete_without_csrf_is_refused(admin_app, db):
    announcement = AnnouncementFactory()

    admin_app.post_json(f"/admin/announcement/{announcement.id}/delete", {}, status=400)

    assert fresh(db).get(Announcement, announcement.id) is not None
