"""The import page with the web-source importers, and large imports run as background jobs
(inline after the commit here: no Redis), with /project/<sn>/tasks/import/status."""

import pytest
from sqlalchemy import select

from core.models import Task
from tests.functional.web.conftest import JSON, sign_in
from tests.unit.plugins.importers.test_remote import fake_api, photoset_page  # noqa: F401

ALL = "csv json gdocs iiif s3 dropbox flickr epicollect youtube twitter"
BACKGROUND = {
    "plugins__importers": "csv json flickr",
    "importer__allow_private_urls": "true",
    "importer__background": "true",
    "importer__background_threshold": "2",
}


def import_url(project, query: str = "") -> str:
    return f"/project/{project.short_name}/tasks/import{query}"


def tasks_of(db, project) -> list[Task]:
    db.expire_all()
    return list(db.scalars(select(Task).where(Task.project_id == project.id).order_by(Task.id)))


def token_of(app, project) -> str:
    return app.get(import_url(project, "?type=csv"), headers=JSON).json["form"]["csrf"]


def test_every_enabled_importer_is_offered(make_app, project_roles):
    project, roles = project_roles
    app = make_app(plugins__importers=ALL)
    sign_in(app, roles["owner"])

    body = app.get(import_url(project), headers=JSON).json
    form = app.get(import_url(project, "?type=iiif"), headers=JSON).json

    assert body["available_importers"] == [f"projects/tasks/{name}.html" for name in ALL.split()]
    assert [field["name"] for field in form["importer"]["fields"]] == ["manifest_uri"]


def test_owner_imports_a_flickr_album(make_app, project_roles, db, fake_api):  # noqa: F811
    project, roles = project_roles
    fake_api.json("/flickr/rest/", photoset_page(1, 1, ["7", "8"]))
    app = make_app(
        plugins__importers="csv flickr",
        importer__allow_private_urls="true",
        importer__flickr__api_url=f"{fake_api.url}/flickr/rest/",
        importer__flickr__api_key="k",
    )
    sign_in(app, roles["owner"])

    body = app.post_json(
        import_url(project),
        {"form_name": "flickr", "album_id": "72157"},
        headers={"X-CSRFToken": token_of(app, project)},
    ).json

    assert body["flash"] == "2 new tasks were imported successfully"
    assert [task.info["title"] for task in tasks_of(db, project)] == ["Photo 7", "Photo 8"]


def test_a_flickr_error_shows_on_the_form(make_app, project_roles, db, fake_api):  # noqa: F811
    project, roles = project_roles
    fake_api.json("/flickr/rest/", {"stat": "fail", "code": 1, "message": "Photoset not found"})
    app = make_app(
        plugins__importers="csv flickr",
        importer__allow_private_urls="true",
        importer__flickr__api_url=f"{fake_api.url}/flickr/rest/",
        importer__flickr__api_key="k",
    )
    sign_in(app, roles["owner"])

    body = app.post_json(
        import_url(project),
        {"form_name": "flickr", "album_id": "1"},
        headers={"X-CSRFToken": token_of(app, project)},
    ).json

    assert body["form"]["errors"] == {"album_id": ["Flickr: Photoset not found"]}
    assert tasks_of(db, project) == []


# --- background imports ------------------------------------------------------------------------


@pytest.fixture
def background_app(make_app, project_roles, tmp_path):
    _, roles = project_roles
    app = make_app(**BACKGROUND, importer__spool_dir=str(tmp_path / "spool"))
    sign_in(app, roles["owner"])
    return app


def post_upload(app, project, data: bytes):
    form = {"csrf_token": token_of(app, project), "form_name": "csv"}
    return app.post(import_url(project), form, upload_files=[("csv_file", "t.csv", data)])


def test_a_small_import_runs_in_the_request(background_app, project_roles, db, tmp_path):
    project, _ = project_roles

    response = post_upload(background_app, project, b"q\n1\n2\n")

    assert "2 new tasks were imported successfully" in response.follow().text
    assert len(tasks_of(db, project)) == 2
    status = background_app.get(import_url(project, "/status"), headers=JSON).json
    assert status == {"import_status": None}
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_large_import_runs_as_a_job_and_reports_its_status(
    background_app, project_roles, db, tmp_path
):
    project, _ = project_roles

    response = post_upload(background_app, project, b"q\n1\n2\n3\n4\n5\n")

    assert "runs in the background" in response.follow().text
    assert [task.info["q"] for task in tasks_of(db, project)] == [1, 2, 3, 4, 5]
    status = background_app.get(import_url(project, "/status")).json["import_status"]
    assert (status["state"], status["importer"], status["created"]) == ("done", "csv", 5)
    assert status["message"] == "5 new tasks were imported successfully"
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_source_that_breaks_in_the_job_imports_nothing(
    background_app,
    project_roles,
    db,
    fake_api,  # noqa: F811
):
    project, _ = project_roles
    answers = [b"q\n1\n2\n3\n", b"q\n1\n2\n3,4\n"]
    fake_api.routes["/t.csv"] = lambda query, headers: (200, "text/csv", answers.pop(0))

    body = background_app.post_json(
        import_url(project),
        {"form_name": "csv", "csv_url": f"{fake_api.url}/t.csv"},
        headers={"X-CSRFToken": token_of(background_app, project)},
    ).json

    assert body["status"] == "info" and "runs in the background" in body["flash"]
    assert tasks_of(db, project) == []
    status = background_app.get(import_url(project, "/status"), headers=JSON).json
    assert status["import_status"]["state"] == "failed"
    assert "malformed CSV" in status["import_status"]["message"]


def test_errors_in_the_first_records_show_on_the_form(background_app, project_roles, db):
    project, _ = project_roles
    form = {"csrf_token": token_of(background_app, project), "form_name": "csv"}

    page = background_app.post(
        import_url(project), form, upload_files=[("csv_file", "t.csv", b"a,a\n1,2\n")]
    )

    assert "two headers with the same name" in page.text
    assert tasks_of(db, project) == []


@pytest.mark.parametrize("role", ["volunteer", None])
def test_only_owners_see_the_import_status(make_app, project_roles, role):
    project, roles = project_roles
    app = make_app(**BACKGROUND)
    if role is not None:
        sign_in(app, roles[role])

    app.get(import_url(project, "/status"), headers=JSON, status=403 if role else 302)
