"""Stored exports: who is served a zip kept under export.dir, and how long (updated_exports)."""

import io
import json
import os
import shutil
import time
import zipfile

import pytest
from webob import Request

from core.services.export import ExportTarget
from core.services.export_store import stored_path
from tests.factories import ProjectFactory, TaskFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user, sign_in

RESERVED = {"pro_features": "updated_exports"}
DAY = 86400


@pytest.fixture
def export_dir(app_settings):
    """The apps' export.dir, emptied around the test: project ids come back in later tests."""
    folder = app_settings["export.dir"]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)


def download(app, project, kind="task", fmt="json"):
    return app.get(f"/project/{project.short_name}/tasks/export?type={kind}&format={fmt}")


def questions(response) -> list[str]:
    archive = zipfile.ZipFile(io.BytesIO(response.body))
    (name,) = archive.namelist()
    return [task["info"]["q"] for task in json.loads(archive.read(name))]


def stored_file(export_dir, project, kind="task", fmt="json") -> str:
    return stored_path(export_dir, ExportTarget(project.id, project.short_name, kind, fmt))


def age(path: str, seconds: float) -> None:
    """Make the stored zip look `seconds` old."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def project_of(owner, **fields):
    project = ProjectFactory(owner=owner, **fields)
    TaskFactory(project=project, info={"q": "first"})
    return project


def test_a_plain_owners_project_gets_the_stored_zip_until_max_age(make_app, db, export_dir):
    app = make_app(**RESERVED)
    project = project_of(make_user())

    first = download(app, project)
    TaskFactory(project=project, info={"q": "second"})
    kept = download(app, project)
    age(stored_file(export_dir, project), DAY + 1)
    rebuilt = download(app, project)

    assert questions(first) == ["first"]
    assert "Last-Modified" not in first.headers
    # The stored zip, whole: its length is known and it says when it was built.
    assert kept.body == first.body
    assert kept.headers["Content-Length"] == str(len(first.body))
    assert "Last-Modified" in kept.headers
    assert kept.headers["Content-Disposition"] == (
        f'attachment; filename="{project.short_name}_task_json.zip"'
    )
    assert questions(rebuilt) == ["first", "second"]
    assert time.time() - os.stat(stored_file(export_dir, project)).st_mtime < 60


def test_export_max_age_is_the_setting(make_app, db, export_dir):
    app = make_app(**RESERVED, export__max_age="600")
    project = project_of(make_user())
    download(app, project)
    TaskFactory(project=project, info={"q": "second"})

    age(stored_file(export_dir, project), 599)
    younger = download(app, project)
    age(stored_file(export_dir, project), 601)
    older = download(app, project)

    assert questions(younger) == ["first"]
    assert questions(older) == ["first", "second"]


def test_a_pro_owners_project_is_exported_fresh_and_never_stored(make_app, db, export_dir):
    app = make_app(**RESERVED)
    project = project_of(make_user(pro=True))

    download(app, project)
    TaskFactory(project=project, info={"q": "second"})
    again = download(app, project)

    assert questions(again) == ["first", "second"]
    assert os.listdir(export_dir) == []


def test_an_admin_gets_fresh_zips_of_any_project(make_app, db, export_dir):
    project = project_of(make_user())
    download(make_app(**RESERVED), project)
    TaskFactory(project=project, info={"q": "second"})
    app = make_app(**RESERVED)
    sign_in(app, make_user(admin=True))

    body = download(app, project)

    assert questions(body) == ["first", "second"]


def test_everyone_gets_fresh_zips_when_the_feature_is_not_reserved(app, db, export_dir):
    project = project_of(make_user())

    download(app, project)
    TaskFactory(project=project, info={"q": "second"})
    again = download(app, project)

    assert questions(again) == ["first", "second"]
    assert os.listdir(export_dir) == []


def test_pro_max_age_stores_the_pro_owners_zips_too(make_app, db, export_dir):
    app = make_app(**RESERVED, export__pro_max_age="3600")
    project = project_of(make_user(pro=True))

    download(app, project)
    TaskFactory(project=project, info={"q": "second"})
    kept = download(app, project)
    age(stored_file(export_dir, project), 3601)
    rebuilt = download(app, project)

    assert questions(kept) == ["first"]
    assert questions(rebuilt) == ["first", "second"]


def test_a_draft_is_always_exported_fresh(make_app, db, export_dir):
    owner = make_user()
    project = project_of(owner, published=False)
    app = make_app(**RESERVED)
    sign_in(app, owner)

    download(app, project)
    TaskFactory(project=project, info={"q": "second"})
    again = download(app, project)

    assert questions(again) == ["first", "second"]
    assert os.listdir(export_dir) == []


def test_each_type_and_format_is_stored_apart(make_app, db, export_dir):
    app = make_app(**RESERVED)
    project = project_of(make_user())

    download(app, project, "task", "csv")
    download(app, project, "task_run", "json")

    assert sorted(os.listdir(os.path.join(export_dir, str(project.id)))) == [
        f"{project.short_name}_task_csv.zip",
        f"{project.short_name}_task_run_json.zip",
    ]


def test_the_page_says_when_the_served_zip_was_built(make_app, db, export_dir):
    app = make_app(**RESERVED)
    project = project_of(make_user())
    download(app, project, "task", "csv")
    age(stored_file(export_dir, project, "task", "csv"), 7200)

    body = app.get(f"/project/{project.short_name}/tasks/export", headers=JSON).json
    page = app.get(f"/project/{project.short_name}/tasks/export")

    by_kind = {(item["type"], item["format"]): item for item in body["exports"]}
    assert by_kind["task", "csv"]["stored_at"] is not None
    assert by_kind["task", "csv"]["stored_ago"] == "2 hours ago"
    assert by_kind["task", "json"]["stored_at"] is None
    assert by_kind["task", "json"]["stored_ago"] is None
    assert "CSV file prepared 2 hours ago" in page.text


def test_the_page_gives_no_time_for_a_zip_too_old_to_be_served(make_app, db, export_dir):
    app = make_app(**RESERVED)
    project = project_of(make_user())
    download(app, project)
    age(stored_file(export_dir, project), DAY + 1)

    body = app.get(f"/project/{project.short_name}/tasks/export", headers=JSON).json

    assert all(item["stored_at"] is None for item in body["exports"])


def test_a_download_stopped_midway_stores_nothing(make_app, db, export_dir):
    app = make_app(**RESERVED, export__batch_size="1")
    project = project_of(make_user())
    for number in range(5):
        TaskFactory(project=project, info={"q": f"more {number}", "pad": "x" * 5000})
    request = Request.blank(f"/project/{project.short_name}/tasks/export?type=task&format=csv")

    status, _, app_iter = request.call_application(app.app)
    next(iter(app_iter))
    app_iter.close()

    assert status.startswith("200")
    assert os.listdir(os.path.join(export_dir, str(project.id))) == []


def test_a_stored_zip_that_cannot_be_written_still_streams(make_app, db, export_dir):
    app = make_app(**RESERVED)
    project = project_of(make_user())
    # A file where the project's folder should be: nothing can be stored.
    open(os.path.join(export_dir, str(project.id)), "w").close()

    response = download(app, project)

    assert questions(response) == ["first"]


def test_deleting_the_project_on_the_web_removes_its_stored_zips(make_app, db, export_dir):
    owner = make_user()
    project, other = project_of(owner), project_of(make_user())
    app = make_app(**RESERVED)
    download(app, project)
    download(app, other)
    sign_in(app, owner)
    delete_url = f"/project/{project.short_name}/delete"

    app.post_json(delete_url, {}, headers={"X-CSRFToken": csrf_token(app, delete_url)})

    assert os.listdir(export_dir) == [str(other.id)]


def test_deleting_the_project_through_the_api_removes_its_stored_zips(make_app, db, export_dir):
    owner = make_user()
    project = project_of(owner)
    app = make_app(**RESERVED)
    download(app, project)

    app.delete(f"/api/project/{project.id}", headers={"Authorization": owner.api_key})

    assert os.listdir(export_dir) == []
