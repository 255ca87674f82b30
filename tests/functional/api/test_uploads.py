"""Multipart POSTs with a file (behavior.md 7.2): stored, typed, refused when not allowed."""

import os

from webtest import Upload

from tests.factories import ProjectFactory, TaskFactory, UserFactory


def _stored(app_settings, media_url):
    container, name = media_url.split("/uploads/")[1].split("/")
    return os.path.join(app_settings["upload.dir"], container, name)


def test_task_run_with_file_is_stored_and_served(app, db, app_settings):
    project = ProjectFactory()
    TaskFactory(project=project)
    volunteer = UserFactory()
    task = app.get(f"/api/project/{project.id}/newtask?api_key={volunteer.api_key}").json

    run = app.post(
        f"/api/taskrun?api_key={volunteer.api_key}",
        {"project_id": str(project.id), "task_id": str(task["id"]), "info": '{"seen": true}'},
        upload_files=[("file", "my drawing.png", b"\x89PNG fake")],
    ).json

    assert run["info"] == {
        "seen": True,
        "container": f"user_{volunteer.id}",
        "file_name": "my_drawing.png",
    }
    assert run["media_url"].endswith(f"/uploads/user_{volunteer.id}/my_drawing.png")
    assert app.get(run["media_url"].replace("http://localhost", "")).body == b"\x89PNG fake"


def test_disallowed_extension_is_refused_and_nothing_is_kept(app, db, app_settings):
    project = ProjectFactory()
    owner_key = UserFactory(admin=True).api_key

    response = app.post(
        f"/api/helpingmaterial?api_key={owner_key}",
        {"project_id": str(project.id)},
        upload_files=[("file", "run.exe", b"MZ")],
        status=400,
    )

    assert "not allowed" in response.json["exception_msg"]
    assert app.get(f"/api/helpingmaterial?all=1&api_key={owner_key}").json == []


def test_missing_file_part_is_415(app, db):
    project = ProjectFactory()
    admin = UserFactory(admin=True)

    response = app.post(
        f"/api/page?api_key={admin.api_key}",
        {"project_id": str(project.id), "slug": "about"},
        content_type="multipart/form-data",
        status=415,
    )

    assert response.json["exception_cls"] == "AttributeError"


def test_failed_task_run_leaves_no_file(app, db, app_settings):
    task = TaskFactory()
    volunteer = UserFactory()

    app.post(
        f"/api/taskrun?api_key={volunteer.api_key}",
        {"project_id": str(task.project_id), "task_id": str(task.id)},
        upload_files=[("file", "refused-answer.png", b"data")],
        status=403,
    )

    folder = os.path.join(app_settings["upload.dir"], f"user_{volunteer.id}")
    assert not os.path.exists(os.path.join(folder, "refused-answer.png"))


def test_admin_upload_goes_to_owner_container_and_delete_removes_file(app, db, app_settings):
    owner = UserFactory()
    project = ProjectFactory(owner=owner)
    admin = UserFactory(admin=True)

    material = app.post(
        f"/api/helpingmaterial?api_key={admin.api_key}",
        {"project_id": str(project.id), "priority": "0.5"},
        upload_files=[("file", "help.jpg", Upload("help.jpg", b"jpeg").content)],
    ).json
    path = _stored(app_settings, material["media_url"])
    existed = os.path.exists(path)
    app.delete(f"/api/helpingmaterial/{material['id']}?api_key={admin.api_key}", status=204)

    assert material["info"]["container"] == f"user_{owner.id}"
    assert material["priority"] == 0.5
    assert existed and not os.path.exists(path)
