"""Admin pages: permissions, admin users, featured projects and the dashboard."""

import pytest

from core.cache import bump_all
from core.models import Project, User
from tests.factories import ProjectFactory, TaskFactory, TaskRunFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user, sign_in

ADMIN_PAGES = [
    "/admin/",
    "/admin/users",
    "/admin/categories",
    "/admin/announcement",
    "/admin/announcement/new",
    "/admin/featured",
    "/admin/dashboard/",
]


@pytest.fixture(autouse=True)
def fresh_cache(app):
    bump_all(app.app.registry["cache"])


@pytest.fixture
def admin_app(app, db):
    admin = make_user(admin=True, name="theadmin")
    sign_in(app, admin)
    app.admin = admin
    return app


def token(app) -> dict:
    return {"X-CSRFToken": csrf_token(app, "/admin/users")}


def session_token(app) -> str:
    """The CSRF token of a signed-in session."""
    return csrf_token(app, "/account/profile")


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_anonymous_callers_must_sign_in(app, db, url):
    page = app.get(url, status=302)

    app.get(url, headers=JSON, status=302)
    assert "/account/signin?next=" in page.location


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_volunteers_and_owners_are_forbidden(app, db, url):
    owner = make_user()
    ProjectFactory(owner=owner)
    sign_in(app, owner)

    app.get(url, headers=JSON, status=403)
    app.get(url, status=403)


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admins_get_every_page_in_html_and_json(admin_app, url):
    body = admin_app.get(url, headers=JSON).json
    page = admin_app.get(url)

    assert body["template"] and body["title"]
    assert page.content_type == "text/html"
    assert 'aria-label="Administration"' in page.text


# --- Users --------------------------------------------------------------------------------


def test_users_page_lists_other_admins_without_secrets(admin_app, db):
    other = make_user(admin=True)
    make_user()

    body = admin_app.get("/admin/users", headers=JSON).json

    assert [user["id"] for user in body["users"]] == [other.id]
    # The API key as PYBOSSA shows it to admins (behavior.md 9.8); never the hash (decision 3).
    assert "passwd_hash" not in body["users"][0] and body["users"][0]["api_key"] == other.api_key
    assert body["found"] == []
    assert set(body["form"]) == {"user", "errors", "csrf"}


def test_search_finds_users_by_name_or_fullname(admin_app, db):
    by_name = make_user(name="janedoe", fullname="Someone")
    by_fullname = make_user(name="other", fullname="Jane Smith")
    make_user(name="nobody", fullname="Nobody")

    body = admin_app.post_json("/admin/users", {"user": "JANE"}, headers=token(admin_app)).json

    assert sorted(user["id"] for user in body["found"]) == sorted([by_name.id, by_fullname.id])
    assert all("passwd_hash" not in user for user in body["found"])


def test_search_treats_wildcards_literally_and_needs_text(admin_app, db):
    make_user(name="plainname")

    wildcard = admin_app.post_json("/admin/users", {"user": "%"}, headers=token(admin_app)).json
    empty = admin_app.post_json("/admin/users", {"user": ""}, headers=token(admin_app)).json
    page = admin_app.post("/admin/users", {"user": "", "csrf_token": session_token(admin_app)})

    assert wildcard["found"] == []
    assert empty["form"]["errors"]["user"]
    assert 'aria-invalid="true"' in page.text


def test_search_without_csrf_is_refused(admin_app):
    body = admin_app.post_json("/admin/users", {"user": "x"}, status=400).json

    assert body["description"] == "CSRF validation failed."


def test_grant_and_withdraw_admin_rights_with_the_token(admin_app, db):
    user = make_user()
    csrf = session_token(admin_app)

    added = admin_app.get(f"/admin/users/add/{user.id}?csrf={csrf}", headers=JSON).json
    db.rollback()
    db.expire_all()
    granted = db.get(User, user.id).admin
    admin_app.get(f"/admin/users/del/{user.id}", headers={**JSON, "X-CSRFToken": csrf})
    db.rollback()
    db.expire_all()

    assert added == {"next": "/admin/users"}
    assert granted is True
    assert db.get(User, user.id).admin is False


def test_grant_without_the_token_is_refused(admin_app, db):
    user = make_user()

    admin_app.get(f"/admin/users/add/{user.id}", headers=JSON, status=400)

    db.rollback()
    db.expire_all()
    assert db.get(User, user.id).admin is False


def test_grant_to_an_unknown_user_is_a_404(admin_app):
    csrf = session_token(admin_app)

    body = admin_app.get(f"/admin/users/add/9999?csrf={csrf}", headers=JSON, status=404).json

    assert body == {"error": "User not found", "status_code": 404}


def test_admins_cannot_withdraw_their_own_rights(admin_app, db):
    csrf = session_token(admin_app)

    body = admin_app.get(f"/admin/users/del/{admin_app.admin.id}?csrf={csrf}", headers=JSON).json

    db.rollback()
    db.expire_all()
    assert body["status"] == "error"
    assert db.get(User, admin_app.admin.id).admin is True


def test_volunteers_cannot_grant_rights(app, db):
    volunteer = make_user()
    sign_in(app, volunteer)
    csrf = session_token(app)

    app.get(f"/admin/users/add/{volunteer.id}?csrf={csrf}", headers=JSON, status=403)

    db.rollback()
    db.expire_all()
    assert db.get(User, volunteer.id).admin is False


# --- Featured -----------------------------------------------------------------------------


def test_featured_page_groups_published_projects_by_category(admin_app, db):
    published = ProjectFactory()
    ProjectFactory(published=False)

    body = admin_app.get("/admin/featured", headers=JSON).json

    short_name = next(
        c["short_name"] for c in body["categories"] if c["id"] == published.category_id
    )
    assert [p["id"] for p in body["projects"][short_name]] == [published.id]
    assert body["form"]["csrf"]
    assert sum(len(projects) for projects in body["projects"].values()) == 1


def test_feature_and_unfeature_a_project(admin_app, db):
    project = ProjectFactory()
    headers = token(admin_app)

    featured = admin_app.post_json(f"/admin/featured/{project.id}", {}, headers=headers).json
    again = admin_app.post_json(
        f"/admin/featured/{project.id}", {}, headers=headers, status=415
    ).json
    unfeatured = admin_app.delete(f"/admin/featured/{project.id}", headers={**headers, **JSON})
    not_featured = admin_app.delete(
        f"/admin/featured/{project.id}", headers={**headers, **JSON}, status=415
    ).json
    missing = admin_app.post_json("/admin/featured/9999", {}, headers=headers, status=404).json

    assert (featured["id"], featured["featured"]) == (project.id, True)
    assert "passwd_hash" not in featured["info"]
    assert again == {"error": f"Project.id {project.id} already featured", "status_code": 415}
    assert unfeatured.json["featured"] is False
    assert not_featured["error"] == f"Project.id {project.id} is not featured"
    assert missing == {"error": "Project.id 9999 not found", "status_code": 404}


def test_feature_from_the_html_form(admin_app, db):
    project = ProjectFactory()

    page = admin_app.post(
        f"/admin/featured/{project.id}", {"csrf_token": session_token(admin_app)}, status=302
    )
    db.rollback()
    db.expire_all()
    featured = db.get(Project, project.id).featured
    admin_app.post(
        f"/admin/featured/{project.id}",
        {"csrf_token": session_token(admin_app), "action": "delete"},
        status=302,
    )
    db.rollback()
    db.expire_all()

    assert page.location.endswith("/admin/featured")
    assert featured is True
    assert db.get(Project, project.id).featured is False


def test_feature_without_csrf_is_refused(admin_app, db):
    project = ProjectFactory()

    body = admin_app.post_json(f"/admin/featured/{project.id}", {}, status=400).json
    admin_app.delete(f"/admin/featured/{project.id}", headers=JSON, status=400)

    db.rollback()
    db.expire_all()
    assert body["description"] == "CSRF validation failed."
    assert db.get(Project, project.id).featured is False


def test_volunteers_cannot_feature(app, db):
    project = ProjectFactory()
    sign_in(app, make_user())
    headers = {"X-CSRFToken": session_token(app)}

    app.post_json(f"/admin/featured/{project.id}", {}, headers=headers, status=403)

    db.rollback()
    db.expire_all()
    assert db.get(Project, project.id).featured is False


# --- Dashboard ----------------------------------------------------------------------------


def test_dashboard_counts_last_week(admin_app, db):
    volunteer = make_user()
    project = ProjectFactory(published=False)
    TaskRunFactory(task=TaskFactory(project=project), user=volunteer)
    TaskRunFactory(task=TaskFactory(project=project), user=None, user_ip="10.2.2.2")

    body = admin_app.get("/admin/dashboard/", headers=JSON).json

    assert body["wait"] is False
    assert sum(body["new_task_runs_week"]["series"][0]) == 2
    assert sum(body["new_tasks_week"]["series"][0]) == 2
    assert sum(body["active_users_last_week"]["series"][0]) == 1
    assert sum(body["active_anon_last_week"]["series"][0]) == 1
    assert body["returning_users_week"]["labels"][0] == "1 day"
    assert body["returning_users_week"]["series"][0][0] == 1
    assert [p["id"] for p in body["draft_projects_last_week"]] == [project.id]
    assert set(body["draft_projects_last_week"][0]) == {
        "day",
        "id",
        "short_name",
        "p_name",
        "owner_id",
        "u_name",
        "email_addr",
    }


def test_dashboard_is_cached_until_refresh(admin_app, db):
    first = admin_app.get("/admin/dashboard/", headers=JSON).json
    make_user()

    cached_body = admin_app.get("/admin/dashboard/", headers=JSON).json
    refreshed = admin_app.get("/admin/dashboard/?refresh=1", headers=JSON).json

    assert cached_body["new_users_week"] == first["new_users_week"]
    assert sum(refreshed["new_users_week"]["series"][0]) == (
        sum(first["new_users_week"]["series"][0]) + 1
    )
