"""/project/<short_name>/update: the owners' settings form."""

import pytest
from sqlalchemy import select

from core.models import Auditlog, Project
from tests.factories import CategoryFactory, ProjectFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user

ALLOWED = ["owner", "coowner", "admin"]


def update_url(project) -> str:
    return f"/project/{project.short_name}/update"


def changes(project, **fields) -> dict:
    data = {
        "name": project.name,
        "short_name": project.short_name,
        "description": project.description,
        "long_description": "",
        "allow_anonymous_contributors": True,
        "zip_download": True,
        "category_id": project.category_id,
        "webhook": "",
    }
    return {**data, **fields}


@pytest.mark.parametrize("role", ALLOWED)
def test_owners_and_admins_get_the_form(signed_in, project_roles, role):
    project, roles = project_roles
    app = signed_in(roles[role])

    body = app.get(update_url(project), headers=JSON).json

    assert set(body["form"]) == {
        "id",
        "name",
        "short_name",
        "description",
        "long_description",
        "allow_anonymous_contributors",
        "zip_download",
        "category_id",
        "webhook",
        "csrf",
        "errors",
    }
    assert body["form"]["name"] == project.name
    assert body["project"]["id"] == project.id
    assert body["template"] == "projects/update.html"
    assert body["title"] == f"Update the project: {project.name}"


def test_anonymous_gets_401_in_json_and_signin_in_html(app, project_roles):
    project, _ = project_roles

    json_body = app.get(update_url(project), headers=JSON, status=401).json
    html = app.get(update_url(project), status=302)

    assert json_body["code"] == 401
    assert json_body["template"] == "401.html"
    assert html.location.endswith(f"/account/signin?next=/project/{project.short_name}/update")


def test_volunteer_gets_403(signed_in, project_roles):
    project, roles = project_roles
    app = signed_in(roles["volunteer"])

    json_body = app.get(update_url(project), headers=JSON, status=403).json
    html = app.get(update_url(project), status=403)

    assert json_body["code"] == 403
    assert "<h1>403" in html.text


def test_volunteer_cannot_post_an_update(signed_in, project_roles, db):
    project, roles = project_roles
    app = signed_in(roles["volunteer"])
    token = csrf_token(app, "/account/register")

    app.post_json(
        update_url(project),
        changes(project, name="Hijacked"),
        headers={"X-CSRFToken": token},
        status=403,
    )

    db.expire_all()
    assert db.get(Project, project.id).name != "Hijacked"


def test_unknown_project_is_404(signed_in, db):
    app = signed_in(make_user(admin=True))

    body = app.get("/project/nothing-here/update", headers=JSON, status=404).json

    assert body["code"] == 404


@pytest.mark.parametrize("role", ALLOWED)
def test_update_changes_fields_and_writes_the_audit_log(signed_in, project_roles, db, role):
    project, roles = project_roles
    other = CategoryFactory()
    app = signed_in(roles[role])
    token = csrf_token(app, update_url(project))

    body = app.post_json(
        update_url(project),
        changes(
            project,
            name="Renamed",
            short_name="renamed",
            category_id=other.id,
            zip_download=False,
            webhook="https://hooks.example.org/x",
        ),
        headers={"X-CSRFToken": token},
    ).json

    assert body["next"] == "/project/renamed/update"
    assert body["status"] == "success"
    db.expire_all()
    saved = db.get(Project, project.id)
    assert (saved.name, saved.short_name, saved.category_id) == ("Renamed", "renamed", other.id)
    assert saved.zip_download is False
    assert saved.webhook == "https://hooks.example.org/x"
    logged = set(db.scalars(select(Auditlog.attribute).where(Auditlog.project_id == project.id)))
    assert {"name", "short_name", "category_id", "zip_download", "webhook"} <= logged


def test_update_in_html_unchecked_boxes_are_false(signed_in, project_roles, db):
    project, roles = project_roles
    app = signed_in(roles["owner"])
    form = app.get(update_url(project)).forms["update-form"]

    form["description"] = "Counted from <b>HTML</b>"
    form["allow_anonymous_contributors"] = False
    response = form.submit(status=302)

    assert response.location.endswith(update_url(project))
    db.expire_all()
    saved = db.get(Project, project.id)
    assert saved.description == "Counted from <b>HTML</b>"
    assert saved.allow_anonymous_contributors is False
    assert "Counted from &lt;b&gt;HTML&lt;/b&gt;" in response.follow().text


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"short_name": "a b"}, "short_name"),
        ({"short_name": "api"}, "short_name"),
        ({"description": "x" * 256}, "description"),
        ({"category_id": 999999}, "category_id"),
        ({"category_id": "abc"}, "category_id"),
        ({"webhook": "ftp://example.org"}, "webhook"),
        ({"allow_anonymous_contributors": "maybe"}, "allow_anonymous_contributors"),
    ],
)
def test_update_refuses_bad_input(signed_in, project_roles, db, fields, field):
    project, roles = project_roles
    app = signed_in(roles["owner"])
    token = csrf_token(app, update_url(project))

    body = app.post_json(
        update_url(project), changes(project, **fields), headers={"X-CSRFToken": token}
    ).json

    assert field in body["form"]["errors"]
    assert (body["flash"], body["status"]) == ("Please correct the errors", "error")
    assert db.scalars(select(Auditlog)).all() == []


def test_update_refuses_a_name_taken_by_another_project(signed_in, project_roles):
    project, roles = project_roles
    other = ProjectFactory(owner=make_user())
    app = signed_in(roles["owner"])
    token = csrf_token(app, update_url(project))

    body = app.post_json(
        update_url(project),
        changes(project, name=other.name, short_name=other.short_name.upper()),
        headers={"X-CSRFToken": token},
    ).json

    assert body["form"]["errors"]["name"] == ["This name is already taken"]
    assert body["form"]["errors"]["short_name"] == ["This short name is already taken"]


def test_update_without_csrf_is_refused(signed_in, project_roles, db):
    project, roles = project_roles
    app = signed_in(roles["owner"])

    body = app.post_json(update_url(project), changes(project, name="Nope"), status=400).json

    assert body["description"] == "CSRF validation failed."
    db.expire_all()
    assert db.get(Project, project.id).name != "Nope"
