"""Password-protected projects: visitors give the password once, owners never need it."""

import pytest

from core.passwords import hash_password
from tests.factories import ProjectFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user

PASSWORD = "open sesame"


@pytest.fixture
def locked(db):
    owner = make_user()
    project = ProjectFactory(owner=owner)
    project.info = {**project.info, "passwd_hash": hash_password(PASSWORD)}
    db.commit()
    return project, owner


def test_visitors_are_asked_for_the_password(app, locked):
    project, _ = locked
    page = f"/project/{project.short_name}/"

    response = app.get(page, status=302)

    assert response.location.endswith(
        f"/project/{project.short_name}/password?next=/project/{project.short_name}/"
    )


def test_the_password_page_json_form(app, locked):
    project, _ = locked

    body = app.get(f"/project/{project.short_name}/password", headers=JSON).json

    assert set(body["form"]) == {"password", "csrf", "errors"}
    assert body["next"] == f"/project/{project.short_name}/"
    assert body["template"] == "projects/password.html"
    assert "passwd_hash" not in str(body)


def test_right_password_opens_the_project_for_the_session(app, locked):
    project, _ = locked
    url = f"/project/{project.short_name}/password?next=/project/{project.short_name}/blog"
    token = csrf_token(app, url)

    body = app.post_json(url, {"password": PASSWORD}, headers={"X-CSRFToken": token}).json

    assert body["next"] == f"/project/{project.short_name}/blog"
    assert (
        app.get(f"/project/{project.short_name}/", headers=JSON).json["project"]["id"]
        == project.id
    )


def test_wrong_password_is_refused_in_html(app, locked):
    project, _ = locked
    form = app.get(f"/project/{project.short_name}/password").forms["password-form"]
    form["password"] = "wrong"

    page = form.submit(status=200)

    assert "Sorry, incorrect password" in page.text
    app.get(f"/project/{project.short_name}/", status=302)


def test_the_next_address_stays_on_the_site(app, locked):
    project, _ = locked
    url = f"/project/{project.short_name}/password?next=https://evil.example.org/"
    token = csrf_token(app, url)

    body = app.post_json(url, {"password": PASSWORD}, headers={"X-CSRFToken": token}).json

    assert body["next"] == f"/project/{project.short_name}/"


def test_password_post_needs_csrf(app, locked):
    project, _ = locked

    app.post_json(f"/project/{project.short_name}/password", {"password": PASSWORD}, status=400)

    app.get(f"/project/{project.short_name}/", status=302)


@pytest.mark.parametrize("who", ["owner", "admin"])
def test_owners_and_admins_skip_the_password(signed_in, locked, who):
    project, owner = locked
    app = signed_in(owner if who == "owner" else make_user(admin=True))

    body = app.get(f"/project/{project.short_name}/", headers=JSON).json

    assert body["project"]["id"] == project.id


def test_a_project_without_password_sends_the_caller_on(app, db):
    project = ProjectFactory()

    body = app.get(f"/project/{project.short_name}/password", headers=JSON).json

    assert body["next"] == f"/project/{project.short_name}/"
