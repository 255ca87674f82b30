"""/project/<short_name>/update: the owners' settings form."""

import io
import os

import pytest
from PIL import Image
from sqlalchemy import select
from webtest import Upload

from core.models import Auditlog, Project
from core.passwords import verify_password
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
        "protect",
        "password",
        "webhook",
        "csrf",
        "errors",
    }
    assert body["form"]["name"] == project.name
    assert body["form"]["protect"] is False
    assert set(body["upload_form"]) == {"id", "avatar", "x1", "y1", "x2", "y2", "csrf", "errors"}
    assert body["project"]["id"] == project.id
    assert body["project"]["secret_key"] == project.secret_key
    assert {"owner", "n_tasks", "overall_progress", "pro_features"} <= set(body)
    assert body["template"] == "projects/update.html"
    assert body["title"] == f"Project: {project.name} · Update"


def test_anonymous_is_sent_to_sign_in_in_json_and_html(app, project_roles):
    project, _ = project_roles

    json_page = app.get(update_url(project), headers=JSON, status=302)
    html = app.get(update_url(project), status=302)

    assert json_page.location == html.location
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

    db.rollback()

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
    db.rollback()
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
    db.rollback()
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
    db.rollback()
    db.expire_all()
    assert db.get(Project, project.id).name != "Nope"


def png_bytes(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def test_owner_protects_the_project_with_a_hashed_password(signed_in, project_roles, db):
    project, roles = project_roles
    app = signed_in(roles["owner"])
    token = csrf_token(app, update_url(project))

    app.post_json(
        update_url(project),
        changes(project, protect=True, password="open sesame"),
        headers={"X-CSRFToken": token},
    )

    db.rollback()

    db.expire_all()
    stored = db.get(Project, project.id).info["passwd_hash"]
    assert stored.startswith("$argon2")
    assert verify_password(stored, "open sesame")
    form = app.get(update_url(project), headers=JSON).json["form"]
    assert (form["protect"], form["password"]) == (True, None)
    assert "passwd_hash" not in str(app.get(update_url(project), headers=JSON).json)


def test_protect_without_a_password_is_an_error_until_one_is_set(signed_in, project_roles, db):
    project, roles = project_roles
    app = signed_in(roles["owner"])
    token = csrf_token(app, update_url(project))

    body = app.post_json(
        update_url(project), changes(project, protect=True), headers={"X-CSRFToken": token}
    ).json

    assert "password" in body["form"]["errors"]
    db.rollback()
    db.expire_all()
    assert "passwd_hash" not in db.get(Project, project.id).info


def test_saving_keeps_then_unchecking_clears_the_password(signed_in, project_roles, db):
    project, roles = project_roles
    app = signed_in(roles["owner"])
    token = csrf_token(app, update_url(project))
    headers = {"X-CSRFToken": token}
    app.post_json(
        update_url(project), changes(project, protect=True, password="pw"), headers=headers
    )

    app.post_json(
        update_url(project), changes(project, protect=True, name="Kept"), headers=headers
    )
    db.rollback()
    db.expire_all()
    kept = "passwd_hash" in db.get(Project, project.id).info
    app.post_json(update_url(project), changes(project, protect=False), headers=headers)
    db.rollback()
    db.expire_all()

    assert kept
    assert "passwd_hash" not in db.get(Project, project.id).info


def test_avatar_upload_crops_stores_and_replaces(signed_in, project_roles, db, app_settings):
    project, roles = project_roles
    app = signed_in(roles["owner"])
    form = app.get(update_url(project)).forms["upload-form"]
    form["avatar"] = Upload("me.png", png_bytes(), "image/png")
    form["x1"], form["y1"], form["x2"], form["y2"] = "0", "0", "20", "20"

    form.submit(status=302)
    db.rollback()
    db.expire_all()
    first = dict(db.get(Project, project.id).info)
    second = app.post(
        update_url(project) + "?response_format=json",
        {"btn": "Upload", "csrf_token": csrf_token(app, update_url(project))},
        upload_files=[("avatar", "again.png", png_bytes())],
    ).json
    db.rollback()
    db.expire_all()
    info = db.get(Project, project.id).info

    assert first["container"] == f"user_{project.owner_id}"
    assert first["thumbnail"] == first["avatar"]
    assert first["thumbnail_url"].endswith(f"/{first['container']}/{first['avatar']}")
    stored = os.path.join(app_settings["upload.dir"], first["container"], first["avatar"])
    assert (second["next"], second["status"]) == (update_url(project), "success")
    assert info["avatar"] != first["avatar"]
    assert not os.path.exists(stored)
    with Image.open(
        os.path.join(app_settings["upload.dir"], info["container"], info["avatar"])
    ) as image:
        assert image.size == (40, 30)
    assert first["avatar"] and "task_presenter" in info


def test_avatar_upload_crop_is_corner_width_and_height(signed_in, project_roles, db, app_settings):
    project, roles = project_roles
    app = signed_in(roles["owner"])

    app.post(
        update_url(project),
        {
            "btn": "upload",
            "x1": "5",
            "y1": "5",
            "x2": "20.6",
            "y2": "10",
            "csrf_token": csrf_token(app, update_url(project)),
        },
        upload_files=[("avatar", "me.png", png_bytes())],
        status=302,
    )

    db.rollback()

    db.expire_all()
    info = db.get(Project, project.id).info
    with Image.open(
        os.path.join(app_settings["upload.dir"], info["container"], info["avatar"])
    ) as image:
        assert image.size == (20, 10)


@pytest.mark.parametrize("upload", [None, ("avatar", "evil.png", b"not an image")])
def test_avatar_upload_refuses_a_missing_or_bad_file(signed_in, project_roles, db, upload):
    project, roles = project_roles
    app = signed_in(roles["owner"])

    body = app.post(
        update_url(project) + "?response_format=json",
        {"btn": "Upload", "csrf_token": csrf_token(app, update_url(project))},
        upload_files=[upload] if upload else [],
    ).json

    assert "avatar" in body["upload_form"]["errors"]
    assert body["upload_form"]["avatar"] is None
    db.rollback()
    db.expire_all()
    assert "avatar" not in db.get(Project, project.id).info


def test_volunteer_cannot_upload_an_avatar(signed_in, project_roles, db):
    project, roles = project_roles
    app = signed_in(roles["volunteer"])

    app.post(
        update_url(project),
        {"btn": "Upload", "csrf_token": csrf_token(app, "/project/new")},
        upload_files=[("avatar", "me.png", png_bytes())],
        status=403,
    )

    db.rollback()

    db.expire_all()
    assert "avatar" not in db.get(Project, project.id).info


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 302), ("volunteer", 403), ("owner", 200), ("coowner", 200), ("admin", 200)],
)
def test_reset_secret_key_permissions(signed_in, project_roles, db, role, status):
    project, roles = project_roles
    old = project.secret_key
    app = signed_in(roles[role])
    token = csrf_token(app, "/account/signin" if role == "anonymous" else "/project/new")

    response = app.post_json(
        f"/project/{project.short_name}/resetsecretkey",
        {},
        headers={**JSON, "X-CSRFToken": token},
        status=status,
    )

    db.rollback()

    db.expire_all()
    if status == 200:
        assert response.json == {
            "next": update_url(project),
            "flash": "New secret key generated",
            "status": "success",
        }
        assert db.get(Project, project.id).secret_key != old
    else:
        assert db.get(Project, project.id).secret_key == old


def test_reset_secret_key_needs_csrf_and_works_from_the_html_form(signed_in, project_roles, db):
    project, roles = project_roles
    old = project.secret_key
    app = signed_in(roles["owner"])
    url = f"/project/{project.short_name}/resetsecretkey"

    refused = app.post(url, status=400)
    db.rollback()
    db.expire_all()
    unchanged = db.get(Project, project.id).secret_key
    response = app.get(update_url(project)).forms["reset-secret-form"].submit(status=302)

    assert "CSRF" in refused.text
    assert unchanged == old
    db.rollback()
    db.expire_all()
    assert db.get(Project, project.id).secret_key != old
    assert "New secret key generated" in response.follow().text
