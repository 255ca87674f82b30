"""Uploaded files (issue 17 points 1 and 14, decision 22): server-managed info keys, paths that
never leave upload.dir, files deleted only by the object that uploaded them, safe serving, and
image sizes checked before decoding."""

import io
import os
import struct
import uuid
import zlib

import pytest
from PIL import Image, ImageFile

from core.errors import DomainError
from core.models import Project, TaskRun, User
from core.services import images, uploads
from tests.factories import (
    CategoryFactory,
    ProjectFactory,
    TaskFactory,
    TaskRunFactory,
    UserFactory,
)
from tests.functional.web.conftest import JSON, csrf_token, make_user, sign_in


def auth(user):
    return {"Authorization": user.api_key}


def fresh(db, model, oid):
    db.rollback()
    db.expire_all()
    obj = db.get(model, oid)
    db.commit()
    return obj


def png(width=40, height=30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def huge_png(width=8900, height=8900) -> bytes:
    """A PNG whose header says width x height but whose pixel data is a few rows (~100 bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width * 3 + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


@pytest.fixture
def victim(app_settings):
    """A file just outside upload.dir (where the development layout keeps the database)."""
    name = f"victim-{uuid.uuid4().hex}"
    path = os.path.join(os.path.dirname(app_settings["upload.dir"]), name)
    with open(path, "wb") as target:
        target.write(b"precious")
    yield name, path
    if os.path.exists(path):
        os.remove(path)


@pytest.fixture
def decoded(monkeypatch):
    """Records every image whose pixels Pillow decodes."""
    calls = []
    load = ImageFile.ImageFile.load

    def spy(image):
        calls.append(image.size)
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


def stored_path(app_settings, run) -> str:
    return os.path.join(
        app_settings["upload.dir"], run["info"]["container"], run["info"]["file_name"]
    )


def done(response) -> bool:
    """The upload form answered with its success redirect (as JSON)."""
    return response.status_int == 200 and response.json.get("status") == "success"


def upload_avatar(app, user, data=None):
    url = f"/account/{user.name}/update"
    return app.post(
        url,
        {"btn": "Upload", "csrf_token": csrf_token(app, url)},
        upload_files=[("avatar", "me.png", data or png())],
        headers={"Accept": "application/json"},
        expect_errors=True,
    )


def upload_thumbnail(app, project, data=None):
    url = f"/project/{project.short_name}/update"
    return app.post(
        url,
        {"btn": "Upload", "csrf_token": csrf_token(app, url)},
        upload_files=[("avatar", "me.png", data or png())],
        headers={"Accept": "application/json"},
        expect_errors=True,
    )


def post_file(app, user, task, name="answer.png", body=b"data", info='{"a": 1}'):
    app.get(f"/api/project/{task.project_id}/newtask", headers=auth(user))
    return app.post(
        "/api/taskrun",
        {"project_id": str(task.project_id), "task_id": str(task.id), "info": info},
        upload_files=[("file", name, body)],
        headers=auth(user),
    ).json


# -- 1. server-managed info keys are never taken from a client ---------------------------------


def test_user_put_cannot_point_the_avatar_outside_uploads(app, db, victim):
    name, path = victim
    user = make_user()

    body = app.put_json(
        f"/api/user/{user.id}",
        {"info": {"container": "..", "avatar": name, "extra": "kept"}},
        headers=auth(user),
    ).json
    sign_in(app, user)
    upload_avatar(app, user)
    upload_avatar(app, user)

    assert body["info"] == {"extra": "kept"}
    assert os.path.exists(path)
    assert fresh(db, User, user.id).info["container"] == f"user_{user.id}"


def test_user_put_keeps_the_stored_avatar_and_pending_confirmation(app, db):
    user = UserFactory(
        info={"container": "user_1", "avatar": "a.png", "pending_confirmation": True}
    )

    app.put_json(
        f"/api/user/{user.id}",
        {"info": {"container": "user_2", "avatar": "b.png", "extra": 1}},
        headers=auth(user),
    )

    assert fresh(db, User, user.id).info == {
        "container": "user_1",
        "avatar": "a.png",
        "pending_confirmation": True,
        "extra": 1,
    }


def test_project_post_and_put_drop_server_keys(app, db, victim):
    name, path = victim
    owner = make_user()
    CategoryFactory()
    server = {"container": "..", "avatar": name, "thumbnail": name, "passwd_hash": "x"}

    made = app.post_json(
        "/api/project",
        {"name": "Files", "short_name": "files", "description": "d", "info": server},
        headers=auth(owner),
    ).json
    app.put_json(f"/api/project/{made['id']}", {"info": server}, headers=auth(owner))

    assert fresh(db, Project, made["id"]).info == {}
    sign_in(app, owner)
    assert done(upload_thumbnail(app, fresh(db, Project, made["id"])))
    assert os.path.exists(path)


def test_task_run_info_cannot_name_another_users_file(app, db, app_settings):
    task = TaskFactory(n_answers=5)
    owner_of_file, attacker = UserFactory(), UserFactory()
    theirs = post_file(app, owner_of_file, task)
    named = {"container": f"user_{owner_of_file.id}", "file_name": theirs["info"]["file_name"]}

    app.get(f"/api/project/{task.project_id}/newtask", headers=auth(attacker))
    mine = app.post_json(
        "/api/taskrun",
        {"project_id": task.project_id, "task_id": task.id, "info": {**named, "a": 2}},
        headers=auth(attacker),
    ).json
    app.delete(f"/api/taskrun/{mine['id']}", headers=auth(attacker), status=204)

    assert mine["info"] == {"a": 2}
    assert theirs["info"] == {"a": 1, **named}
    assert os.path.exists(stored_path(app_settings, theirs))


def test_task_run_put_keeps_the_file_it_uploaded(app, db, app_settings):
    task = TaskFactory(n_answers=5)
    other, volunteer = UserFactory(), UserFactory()
    theirs = post_file(app, other, task)
    run = post_file(app, volunteer, task)

    app.put_json(
        f"/api/taskrun/{run['id']}",
        {"info": {**theirs["info"], "b": 1}},
        headers=auth(volunteer),
    )
    info = fresh(db, TaskRun, run["id"]).info
    app.delete(f"/api/taskrun/{run['id']}", headers=auth(volunteer), status=204)

    assert info == {
        "container": f"user_{volunteer.id}",
        "file_name": run["info"]["file_name"],
        "a": 1,
        "b": 1,
    }
    assert not os.path.exists(stored_path(app_settings, run))
    assert os.path.exists(stored_path(app_settings, theirs))


# -- 2. no file operation leaves upload.dir or touches someone else's file ----------------------


def test_stored_info_pointing_outside_is_never_deleted(app, make_app, db, victim):
    # Written before the fix (or by hand): the avatar upload must still not follow it.
    name, path = victim
    user = make_user(info={"container": "..", "avatar": name})
    owner = make_user()
    project = ProjectFactory(owner=owner, info={"container": "..", "avatar": name})

    sign_in(app, user)
    upload_avatar(app, user)
    as_owner = make_app()
    sign_in(as_owner, owner)
    thumbnail = upload_thumbnail(as_owner, project)

    assert done(thumbnail)
    assert os.path.exists(path)


def test_stored_task_run_naming_another_users_file_deletes_nothing(app, db, app_settings):
    task = TaskFactory(n_answers=5)
    other, attacker = UserFactory(), UserFactory()
    theirs = post_file(app, other, task)
    named = {key: theirs["info"][key] for key in ("container", "file_name")}
    run = TaskRunFactory(task=task, user=attacker, info=named)
    owner = make_user()
    project = ProjectFactory(owner=owner)
    TaskRunFactory(task=TaskFactory(project=project), user=attacker, info=named)

    app.delete(f"/api/taskrun/{run.id}", headers=auth(attacker), status=204)
    sign_in(app, owner)
    url = f"/project/{project.short_name}/delete"
    app.post_json(url, {}, headers={**JSON, "X-CSRFToken": csrf_token(app, url)})

    assert fresh(db, Project, project.id) is None
    assert os.path.exists(stored_path(app_settings, theirs))


def test_deleting_a_task_run_removes_its_own_file(app, db, app_settings):
    task = TaskFactory(n_answers=5)
    volunteer = UserFactory()
    run = post_file(app, volunteer, task)
    stored = stored_path(app_settings, run)
    existed = os.path.exists(stored)

    app.delete(f"/api/taskrun/{run['id']}", headers=auth(volunteer), status=204)

    assert existed and not os.path.exists(stored)


@pytest.mark.parametrize(
    "container, name",
    [("..", "x"), ("user_1", ".."), ("a/../..", "x"), ("user_1", "a/b"), ("", "x"), ("u\0", "x")],
)
def test_resolve_refuses_paths_that_leave_the_folder(tmp_path, container, name):
    with pytest.raises(DomainError):
        uploads.resolve(str(tmp_path), container, name)


def test_resolve_refuses_a_symlink_out_of_the_folder(tmp_path):
    root, outside = tmp_path / "uploads", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "user_1").symlink_to(outside)

    with pytest.raises(DomainError):
        uploads.resolve(str(root), "user_1", "x")
    assert uploads.resolve(str(root), "user_2", "x") == str(root / "user_2" / "x")


# -- 3. uploads are never served as script or HTML ---------------------------------------------


@pytest.mark.parametrize("name", ["answer.js", "page.html", "drawing.svg", "notes.css"])
def test_non_image_uploads_are_opaque_attachments(make_app, db, name):
    app = make_app(upload__allowed_extensions="js html svg css png")
    task = TaskFactory(n_answers=5)
    run = post_file(app, UserFactory(), task, name=name, body=b"<script>alert(1)</script>")

    served = app.get(run["media_url"].replace("http://localhost", ""))

    assert served.headers["Content-Type"] == "application/octet-stream"
    assert served.headers["Content-Disposition"] == f'attachment; filename="{name}"'
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served.headers["Content-Security-Policy"]


def test_allowed_images_are_shown_inline(app, db):
    task = TaskFactory(n_answers=5)
    run = post_file(app, UserFactory(), task, name="photo.jpg", body=b"\xff\xd8 jpeg")

    served = app.get(run["media_url"].replace("http://localhost", ""))

    assert served.headers["Content-Type"] == "image/jpeg"
    assert "Content-Disposition" not in served.headers
    assert served.headers["X-Content-Type-Options"] == "nosniff"


# -- 4. image pixels are counted before decoding -----------------------------------------------


def test_huge_png_avatar_is_refused_without_decoding(app, db, decoded, app_settings):
    user = make_user()
    data = huge_png()
    sign_in(app, user)

    body = upload_avatar(app, user, data).json

    assert len(data) < 2000
    assert body["upload_form"]["errors"]["avatar"] == [
        "The image is too large: 8900 x 8900 pixels (at most 40000000)"
    ]
    assert decoded == []
    assert "avatar" not in (fresh(db, User, user.id).info or {})


def test_huge_png_thumbnail_is_refused_without_decoding(app, db, decoded):
    owner = make_user()
    project = ProjectFactory(owner=owner)
    sign_in(app, owner)

    body = upload_thumbnail(app, project, huge_png()).json

    assert "too large" in body["upload_form"]["errors"]["avatar"][0]
    assert decoded == []


def test_max_pixels_is_a_setting(make_app, db):
    app = make_app(upload__max_pixels="1000")
    user = make_user()
    sign_in(app, user)

    refused = upload_avatar(app, user, png(40, 30)).json
    accepted = upload_avatar(app, user, png(20, 20))

    assert refused["upload_form"]["errors"]["avatar"] == [
        "The image is too large: 40 x 30 pixels (at most 1000)"
    ]
    assert done(accepted)


def test_other_image_formats_are_refused(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, format="BMP")

    with pytest.raises(DomainError, match="not an image"):
        images.save_image(str(tmp_path), "user_1", buffer.getvalue())
