"""/project/<short_name>/tasks/export: the page, the zipped JSON and CSV, who may download."""

import csv
import io
import json
import random
import zipfile

import pytest
from webob import Request

from core.models import Favorite, User
from core.passwords import hash_password
from tests.factories import ProjectFactory, ResultFactory, TaskFactory, TaskRunFactory
from tests.functional.web.conftest import JSON, make_user, sign_in

API_HIDDEN = {"link", "links"}


def export_url(project, kind=None, fmt=None) -> str:
    url = f"/project/{project.short_name}/tasks/export"
    if kind is not None:
        url += f"?type={kind}&format={fmt}"
    return url


def unzip(response) -> tuple[list[str], str]:
    """The names in the downloaded zip and the text of its one file."""
    body = response if isinstance(response, bytes) else response.body
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    names = archive.namelist()
    return names, archive.read(names[0]).decode("utf-8")


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def filled(db):
    """A published project: two tasks (unicode, nested info), runs, a result, a favourite."""
    owner = make_user()
    project = ProjectFactory(owner=owner, short_name="birds")
    first = TaskFactory(
        project=project,
        info={"question": "Où est l'oiseau ? 🐦", "image": {"url": "http://x/1.jpg", "w": 640}},
    )
    second = TaskFactory(project=project, info={"question": "Quel oiseau ?", "extra": [1, 2]})
    volunteer = make_user()
    runs = [
        TaskRunFactory(task=first, user=volunteer, info={"answer": "là-bas", "confidence": 0.5}),
        TaskRunFactory(task=first, user=owner, info={"answer": "ici"}),
        TaskRunFactory(task=second, user=volunteer, info="a plain string answer"),
    ]
    old = ResultFactory(task=first, task_run_ids=[runs[0].id], last_version=False)
    result = ResultFactory(
        task=first, task_run_ids=[runs[0].id, runs[1].id], info={"answer": "là-bas"}
    )
    db.add(Favorite(user_id=volunteer.id, task_id=first.id))
    db.commit()
    return {
        "project": project,
        "owner": owner,
        "tasks": [first, second],
        "runs": runs,
        "result": result,
        "old_result": old,
    }


# --- the page --------------------------------------------------------------------------------


def test_the_page_lists_every_export_in_json(app, filled):
    project = filled["project"]

    body = app.get(export_url(project), headers=JSON).json

    assert body["template"] == "export/index.html"
    assert body["project"]["short_name"] == "birds"
    assert {"owner", "n_tasks", "n_completed_tasks", "overall_progress", "pro_features"} <= set(
        body
    )
    assert body["types"] == ["task", "task_run", "result"]
    assert body["formats"] == ["json", "csv"]
    assert body["ckan_name"] is None
    assert {(item["type"], item["format"]) for item in body["exports"]} == {
        (kind, fmt) for kind in body["types"] for fmt in body["formats"]
    }
    task_run_csv = next(
        item for item in body["exports"] if (item["type"], item["format"]) == ("task_run", "csv")
    )
    assert task_run_csv["url"] == "/project/birds/tasks/export?type=task_run&format=csv"
    assert task_run_csv["file_name"] == "birds_task_run_csv.zip"


def test_the_page_in_html_links_every_download(app, filled):
    project = filled["project"]

    page = app.get(export_url(project) + "/")

    assert page.content_type == "text/html"
    for kind in ("task", "task_run", "result"):
        for fmt in ("json", "csv"):
            assert f"/project/birds/tasks/export?type={kind}&amp;format={fmt}" in page.text
    assert "Task runs" in page.text


# --- the zip and its JSON --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["task", "task_run", "result"])
def test_json_export_is_a_zip_named_like_pybossa(app, filled, kind):
    response = app.get(export_url(filled["project"], kind, "json"))

    names, _ = unzip(response)
    assert response.content_type == "application/zip"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="birds_{kind}_json.zip"'
    )
    assert names == [f"birds_{kind}.json"]


@pytest.mark.parametrize(
    ("kind", "api"), [("task", "task"), ("task_run", "taskrun"), ("result", "result")]
)
def test_json_export_has_the_api_fields_of_every_row(app, filled, kind, api):
    project = filled["project"]
    listed = app.get(f"/api/{api}?project_id={project.id}&limit=100").json

    _, text = unzip(app.get(export_url(project, kind, "json")))
    exported = json.loads(text)

    expected = [{k: v for k, v in item.items() if k not in API_HIDDEN} for item in listed]
    assert exported == sorted(expected, key=lambda item: item["id"])


def test_json_export_of_tasks_keeps_unicode_and_nested_info(app, filled):
    first = filled["tasks"][0]

    _, text = unzip(app.get(export_url(filled["project"], "task", "json")))
    tasks = json.loads(text)

    assert tasks[0]["id"] == first.id
    assert tasks[0]["info"]["question"] == "Où est l'oiseau ? 🐦"
    assert tasks[0]["info"]["image"] == {"url": "http://x/1.jpg", "w": 640}
    assert tasks[0]["fav_user_ids"] == [filled["runs"][0].user_id]
    assert tasks[1]["fav_user_ids"] is None


def test_results_export_only_the_latest_versions(app, filled):
    _, text = unzip(app.get(export_url(filled["project"], "result", "json")))

    assert [result["id"] for result in json.loads(text)] == [filled["result"].id]


def test_an_empty_project_exports_empty_files(app, db):
    project = ProjectFactory(short_name="empty")

    _, text_json = unzip(app.get(export_url(project, "task_run", "json")))
    _, text_csv = unzip(app.get(export_url(project, "task_run", "csv")))

    assert json.loads(text_json) == []
    assert text_csv.splitlines()[0].startswith("id,created,project_id,task_id")
    assert len(text_csv.splitlines()) == 1


def test_other_projects_rows_stay_out(app, filled):
    TaskFactory(info={"question": "someone else's"})

    _, text = unzip(app.get(export_url(filled["project"], "task", "json")))

    assert {task["project_id"] for task in json.loads(text)} == {filled["project"].id}


# --- CSV -------------------------------------------------------------------------------------


def test_csv_export_of_tasks_flattens_info(app, filled):
    first, second = filled["tasks"]

    names, text = unzip(app.get(export_url(filled["project"], "task", "csv")))
    rows = csv_rows(text)
    header = text.splitlines()[0].split(",")

    assert names == ["birds_task.csv"]
    assert header[:3] == ["id", "created", "project_id"]
    assert {"info_question", "info_image_url", "info_image_w", "info_extra"} <= set(header)
    assert "info" not in header
    assert rows[0]["id"] == str(first.id)
    assert rows[0]["info_question"] == "Où est l'oiseau ? 🐦"
    assert rows[0]["info_image_url"] == "http://x/1.jpg"
    assert rows[0]["info_image_w"] == "640"
    assert rows[0]["info_extra"] == ""
    assert rows[1]["id"] == str(second.id)
    assert rows[1]["info_extra"] == "[1,2]"
    assert rows[0]["fav_user_ids"] == f"[{filled['runs'][0].user_id}]"


def test_csv_export_of_task_runs_keeps_a_column_for_plain_info(app, filled):
    runs = filled["runs"]

    _, text = unzip(app.get(export_url(filled["project"], "task_run", "csv")))
    rows = csv_rows(text)

    assert [row["id"] for row in rows] == [str(run.id) for run in runs]
    assert rows[0]["info_answer"] == "là-bas"
    assert rows[0]["info_confidence"] == "0.5"
    assert rows[0]["info"] == ""
    assert rows[1]["info_confidence"] == ""
    assert rows[2]["info"] == "a plain string answer"
    assert rows[2]["info_answer"] == ""
    assert rows[0]["user_id"] == str(runs[0].user_id)
    assert rows[0]["user_ip"] == ""


def test_csv_export_of_results(app, filled):
    result, runs = filled["result"], filled["runs"]

    names, text = unzip(app.get(export_url(filled["project"], "result", "csv")))
    rows = csv_rows(text)

    assert names == ["birds_result.csv"]
    assert len(rows) == 1
    assert rows[0]["id"] == str(result.id)
    assert rows[0]["task_run_ids"] == f"[{runs[0].id},{runs[1].id}]"
    assert rows[0]["last_version"] == "True"
    assert rows[0]["info_answer"] == "là-bas"


# --- bad requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("type=task&format=xml", 415),
        ("type=task&format=ckan", 415),
        ("type=task", 415),
        ("type=user&format=xml", 415),
        ("type=user&format=csv", 404),
        ("format=csv", 404),
    ],
)
def test_unknown_type_or_format(app, filled, query, status):
    url = f"{export_url(filled['project'])}?{query}"

    body = app.get(url, headers=JSON, status=status).json

    assert body["code"] == status


def test_unknown_project_is_a_404(app, db):
    app.get("/project/nope/tasks/export?type=task&format=csv", status=404)


# --- who may export --------------------------------------------------------------------------


def _caller(app, db, project, role):
    """The shared app, signed in as `role` for `project` (anonymous: not signed in)."""
    users = {
        "anonymous": lambda: None,
        "volunteer": make_user,
        "owner": lambda: db.get(User, project.owner_id),
        "admin": lambda: make_user(admin=True),
    }
    user = users[role]()
    if user is not None:
        sign_in(app, user)
    return app


@pytest.mark.parametrize("role", ["anonymous", "volunteer", "owner", "admin"])
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_everyone_exports_a_published_project(app, db, filled, role, fmt):
    caller = _caller(app, db, filled["project"], role)

    response = caller.get(export_url(filled["project"], "task", fmt))

    assert unzip(response)[0] == [f"birds_task.{fmt}"]


@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 401), ("volunteer", 403), ("owner", 200), ("admin", 200)]
)
def test_zip_download_off_keeps_exports_to_owners_and_admins(app, db, filled, role, status):
    project = filled["project"]
    project.zip_download = False
    db.commit()
    caller = _caller(app, db, project, role)

    page = caller.get(export_url(project), headers=JSON, status=status)
    download = caller.get(export_url(project, "task_run", "csv"), headers=JSON, status=status)

    if status == 200:
        assert page.json["template"] == "export/index.html"
        assert unzip(download)[0] == ["birds_task_run.csv"]
    else:
        assert page.json["code"] == download.json["code"] == status


def test_zip_download_off_sends_anonymous_browsers_to_sign_in(app, db, filled):
    project = filled["project"]
    project.zip_download = False
    db.commit()

    response = app.get(export_url(project, "task", "json"), status=302)

    assert "/account/signin?next=" in response.location


def test_a_coowner_exports_when_zip_download_is_off(app, db, filled):
    coowner = make_user()
    project = ProjectFactory(owner=filled["owner"], coowners=[coowner], zip_download=False)
    TaskFactory(project=project)
    sign_in(app, coowner)

    response = app.get(export_url(project, "task", "json"))

    assert len(json.loads(unzip(response)[1])) == 1


@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 401), ("volunteer", 403), ("owner", 200), ("admin", 200)]
)
def test_a_draft_exports_only_to_owners_and_admins(app, db, filled, role, status):
    project = filled["project"]
    project.published = False
    db.commit()
    caller = _caller(app, db, project, role)

    response = caller.get(export_url(project, "task", "json"), headers=JSON, status=status)

    if status == 200:
        assert len(json.loads(unzip(response)[1])) == 2


def test_a_password_protected_project_asks_for_its_password(app, db, filled):
    project = filled["project"]
    project.info = {**project.info, "passwd_hash": hash_password("open sesame")}
    db.commit()
    url = export_url(project, "task", "csv")

    response = app.get(url, status=302)

    assert response.location.endswith(
        "/project/birds/password?next=/project/birds/tasks/export%3Ftype%3Dtask%26format%3Dcsv"
    )


def test_the_owner_of_a_password_protected_project_exports_without_it(app, db, filled):
    project = filled["project"]
    project.info = {**project.info, "passwd_hash": hash_password("open sesame")}
    db.commit()
    sign_in(app, filled["owner"])

    response = app.get(export_url(project, "task", "csv"))

    assert len(csv_rows(unzip(response)[1])) == 2


# --- streaming -------------------------------------------------------------------------------


def test_the_download_is_streamed_chunk_by_chunk(make_app, db):
    project = ProjectFactory(short_name="many")
    noise = random.Random(5)
    for number in range(12):
        task = TaskFactory(project=project, n_answers=10)
        for answer in range(10):
            # Answers deflate cannot shrink much, so the compressor has output to hand over.
            info = {"n": answer, "text": noise.randbytes(1500).hex()}
            TaskRunFactory(task=task, user=None, user_ip=f"10.1.{number}.{answer}", info=info)
    testapp = make_app(export__batch_size="10")
    request = Request.blank(export_url(project, "task_run", "csv"))

    status, headers, app_iter = request.call_application(testapp.app)
    chunks = []
    try:
        for chunk in app_iter:
            chunks.append(chunk)
    finally:
        app_iter.close()

    body = b"".join(chunks)
    assert status.startswith("200")
    assert "Content-Length" not in dict(headers)
    assert not isinstance(app_iter, (list, tuple, bytes))
    # 120 rows in batches of 10: the zip leaves in pieces, none of them the whole file.
    assert len([chunk for chunk in chunks if chunk]) >= 5
    assert max(len(chunk) for chunk in chunks) < len(body)
    names, text = unzip(body)
    assert names == ["many_task_run.csv"]
    assert len(csv_rows(text)) == 120


def test_nothing_is_read_until_the_body_is_iterated(make_app, db):
    project = ProjectFactory(short_name="lazy")
    TaskFactory(project=project)
    testapp = make_app()
    request = Request.blank(export_url(project, "task", "json"))

    status, _, app_iter = request.call_application(testapp.app)
    # The project goes before the body is read: the export runs on its own connection.
    db.delete(db.merge(project))
    db.commit()
    text = zipfile.ZipFile(io.BytesIO(b"".join(app_iter))).read("lazy_task.json")
    app_iter.close()

    assert status.startswith("200")
    assert json.loads(text) == []
