"""/project/<short_name>/tasks/import: owners import tasks from the enabled importer plugins."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from core.models import ProjectStats, Task
from tests.factories import TaskFactory
from tests.functional.web.conftest import JSON, csrf_token, sign_in

IMPORTERS = {"plugins__importers": "csv json", "importer__allow_private_urls": "true"}


@pytest.fixture
def import_app(make_app):
    """An app with the csv and json importers on, as development.ini has them."""

    def make(user=None, **settings):
        app = make_app(**{**IMPORTERS, **settings})
        if user is not None:
            sign_in(app, user)
        return app

    return make


def import_url(project, query: str = "") -> str:
    return f"/project/{project.short_name}/tasks/import{query}"


def token_of(app, project) -> str:
    return app.get(import_url(project, "?type=csv"), headers=JSON).json["form"]["csrf"]


def tasks_of(db, project) -> list[Task]:
    db.expire_all()
    return list(db.scalars(select(Task).where(Task.project_id == project.id).order_by(Task.id)))


def post_csv_upload(app, project, data: bytes, status=302, **fields):
    form = {"csrf_token": token_of(app, project), "form_name": "csv", **fields}
    return app.post(
        import_url(project), form, upload_files=[("csv_file", "tasks.csv", data)], status=status
    )


@pytest.fixture
def http_server():
    """A local server answering {path: (status, content type, body)}."""
    routes = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, content_type, body = routes.get(self.path, (404, "text/plain", b"missing"))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", routes
    server.shutdown()
    server.server_close()


# --- GET ---------------------------------------------------------------------------------------


def test_owner_sees_the_enabled_importers_in_json(import_app, project_roles):
    project, roles = project_roles
    app = import_app(roles["owner"])

    body = app.get(import_url(project), headers=JSON).json

    assert body["available_importers"] == ["projects/tasks/csv.html", "projects/tasks/json.html"]
    assert body["form"] is None
    assert body["loading_text"] == "Importing tasks, this may take a while, wait..."
    assert body["template"] == "project_data/task_import.html"
    assert body["title"] == f"Project: {project.name} · Import Tasks"
    for key in ("project", "owner", "n_tasks", "n_completed_tasks", "n_volunteers"):
        assert key in body
    assert body["owner"]["api_key"]  # the primary owner sees its private summary
    assert set(body["pro_features"]) == {
        "auditlog_enabled",
        "autoimporter_enabled",
        "webhooks_enabled",
    }


def test_importer_form_in_json_and_html(import_app, project_roles):
    project, roles = project_roles
    app = import_app(roles["owner"])

    body = app.get(import_url(project, "?type=csv"), headers=JSON).json
    html = app.get(import_url(project, "?type=csv")).text

    assert body["form"]["csrf"]
    assert body["form"]["csv_url"] is None
    assert body["form"]["errors"] == {}
    assert [field["name"] for field in body["importer"]["fields"]] == ["csv_url", "csv_file"]
    assert '<label class="form-label" for="csv_url">CSV URL</label>' in html
    assert 'type="file"' in html and 'enctype="multipart/form-data"' in html
    assert 'name="csrf_token"' in html


def test_import_page_html_lists_importers(import_app, project_roles):
    project, roles = project_roles
    app = import_app(roles["owner"])

    html = app.get(import_url(project)).text

    assert "?type=csv" in html and "?type=json" in html
    assert "CSV file" in html


def test_unknown_importer_is_404(import_app, project_roles):
    project, roles = project_roles
    app = import_app(roles["owner"])

    body = app.get(import_url(project, "?type=flickr"), headers=JSON, status=404).json

    assert body["code"] == 404


def test_turning_an_importer_off_removes_it(import_app, project_roles):
    project, roles = project_roles
    app = import_app(roles["owner"], plugins__importers="json")

    body = app.get(import_url(project), headers=JSON).json
    app.get(import_url(project, "?type=csv"), headers=JSON, status=404)

    assert body["available_importers"] == ["projects/tasks/json.html"]


def test_no_importer_enabled_says_so(app, project_roles):
    project, roles = project_roles
    sign_in(app, roles["owner"])

    body = app.get(import_url(project), headers=JSON).json
    html = app.get(import_url(project)).text

    assert body["available_importers"] == []
    assert "No importer is enabled" in html


# --- Permissions -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "coowner", "admin"])
def test_owners_and_admins_import(import_app, project_roles, db, role):
    project, roles = project_roles
    app = import_app(roles[role])

    response = post_csv_upload(app, project, b"question\nA?\nB?\n")

    assert response.location.endswith(f"/project/{project.short_name}/tasks/")
    assert [task.info for task in tasks_of(db, project)] == [
        {"question": "A?"},
        {"question": "B?"},
    ]
    page = response.follow()
    assert "2 new tasks were imported successfully" in page.text


def test_volunteer_is_forbidden(import_app, project_roles, db):
    project, roles = project_roles
    app = import_app(roles["volunteer"])
    token = csrf_token(app, "/account/register")

    app.get(import_url(project), headers=JSON, status=403)
    app.get(import_url(project), status=403)
    app.post_json(
        import_url(project),
        {"form_name": "json", "json_url": "http://example.org/x.json"},
        headers={"X-CSRFToken": token},
        status=403,
    )

    assert tasks_of(db, project) == []


def test_anonymous_is_sent_to_sign_in(import_app, project_roles, db):
    project, _ = project_roles
    app = import_app()
    token = csrf_token(app, "/account/register")

    html = app.get(import_url(project), status=302)
    json_page = app.get(import_url(project), headers=JSON, status=302)
    app.post_json(
        import_url(project),
        {"form_name": "csv", "csv_url": "http://example.org/a.csv"},
        headers={"X-CSRFToken": token},
        status=302,
    )

    assert "/account/signin" in html.location
    assert json_page.location == html.location
    assert tasks_of(db, project) == []


def test_unknown_project_is_404(import_app, project_roles):
    _, roles = project_roles
    app = import_app(roles["owner"])

    app.get("/project/no-such-project/tasks/import", headers=JSON, status=404)


# --- POST --------------------------------------------------------------------------------------


def test_post_without_csrf_is_refused(import_app, project_roles, db):
    project, roles = project_roles
    app = import_app(roles["owner"])

    body = app.post_json(
        import_url(project), {"form_name": "csv", "csv_url": "http://x/a.csv"}, status=400
    ).json
    app.post(
        import_url(project),
        {"form_name": "csv"},
        upload_files=[("csv_file", "t.csv", b"q\n1\n")],
        status=400,
    )

    assert body["description"] == "CSRF validation failed."
    assert tasks_of(db, project) == []


def test_json_client_imports_a_csv_url(import_app, project_roles, db, http_server):
    project, roles = project_roles
    base, routes = http_server
    routes["/tasks.csv"] = (200, "text/csv", b"url,n_answers,priority_0\na.png,3,0.5\nb.png,,\n")
    app = import_app(roles["owner"])

    body = app.post_json(
        import_url(project),
        {"form_name": "csv", "csv_url": f"{base}/tasks.csv"},
        headers={"X-CSRFToken": token_of(app, project)},
    ).json

    assert body == {
        "next": f"/project/{project.short_name}/tasks/",
        "flash": "2 new tasks were imported successfully",
        "status": "success",
    }
    first, second = tasks_of(db, project)
    assert (first.info, first.n_answers, first.priority_0) == ({"url": "a.png"}, 3, 0.5)
    assert (second.info, second.n_answers, second.priority_0) == ({"url": "b.png"}, 30, 0.0)
    stats = db.scalars(select(ProjectStats).where(ProjectStats.project_id == project.id)).one()
    assert stats.n_tasks == 2


def test_json_importer_from_a_url(import_app, project_roles, db, http_server):
    project, roles = project_roles
    base, routes = http_server
    routes["/tasks.json"] = (200, "application/json", json.dumps([{"q": 1}, {"q": 2}]).encode())
    app = import_app(roles["owner"])

    body = app.post_json(
        import_url(project, "?type=json"),
        {"json_url": f"{base}/tasks.json"},
        headers={"X-CSRFToken": token_of(app, project)},
    ).json

    assert body["flash"] == "2 new tasks were imported successfully"
    assert [task.info for task in tasks_of(db, project)] == [{"q": 1}, {"q": 2}]


def test_duplicates_are_skipped_and_reported(import_app, project_roles, db):
    project, roles = project_roles
    TaskFactory(project=project, info={"question": "A?"})
    app = import_app(roles["owner"])

    response = post_csv_upload(app, project, b"question\nA?\nB?\nB?\n")

    assert [task.info for task in tasks_of(db, project)][1:] == [{"question": "B?"}]
    text = response.follow().text
    assert "1 new task was imported successfully (2 duplicates skipped)" in text


def test_nothing_new_says_so(import_app, project_roles, db):
    project, roles = project_roles
    TaskFactory(project=project, info={"question": "A?"})
    app = import_app(roles["owner"])

    response = post_csv_upload(app, project, b"question\nA?\n")

    assert "It looks like there were no new records to import" in response.follow().text


def test_broken_csv_shows_the_form_again_and_imports_nothing(import_app, project_roles, db):
    project, roles = project_roles
    app = import_app(roles["owner"])

    page = post_csv_upload(app, project, b"a,b\n1,2\n3,4,5\n", status=200)

    assert "malformed CSV" in page.text
    assert 'id="import-form"' in page.text
    assert 'role="alert"' in page.text
    assert tasks_of(db, project) == []


def test_bad_url_gives_form_errors_in_json(import_app, project_roles, db):
    project, roles = project_roles
    app = import_app(roles["owner"])

    body = app.post_json(
        import_url(project),
        {"form_name": "csv", "csv_url": "ftp://example.org/a.csv"},
        headers={"X-CSRFToken": token_of(app, project)},
    ).json

    assert body["form"]["errors"] == {"csv_url": ["Please give a valid http:// or https:// URL."]}
    assert body["form"]["csv_url"] == "ftp://example.org/a.csv"
    assert body["status"] == "error"
    assert "valid http" in body["flash"]
    assert tasks_of(db, project) == []


def test_bad_url_marks_the_field_in_html(import_app, project_roles, db, http_server):
    project, roles = project_roles
    base, routes = http_server
    routes["/page"] = (200, "text/html", b"<html></html>")
    app = import_app(roles["owner"])
    token = token_of(app, project)

    page = app.post(
        import_url(project),
        {"csrf_token": token, "form_name": "csv", "csv_url": f"{base}/page"},
    )

    assert 'aria-invalid="true"' in page.text
    assert 'id="csv_url-errors"' in page.text
    assert "does not serve text/csv" in page.text
    assert tasks_of(db, project) == []


def test_too_large_a_file_is_refused(import_app, project_roles, db):
    project, roles = project_roles
    app = import_app(roles["owner"], importer__max_bytes="200")

    page = post_csv_upload(app, project, b"q\n" + b"0123456789\n" * 50, status=200)

    assert "too large" in page.text
    assert tasks_of(db, project) == []


def test_a_bad_value_midway_imports_nothing(import_app, project_roles, db):
    project, roles = project_roles
    app = import_app(roles["owner"])

    page = post_csv_upload(app, project, b"q,n_answers\n1,2\n2,3\n3,many\n", status=200)

    assert "Record 3" in page.text and "n_answers" in page.text
    assert tasks_of(db, project) == []


def test_private_urls_are_refused_by_default(import_app, project_roles, db, http_server):
    project, roles = project_roles
    base, routes = http_server
    routes["/tasks.csv"] = (200, "text/csv", b"q\n1\n")
    app = import_app(roles["owner"], importer__allow_private_urls="false")

    body = app.post_json(
        import_url(project),
        {"form_name": "csv", "csv_url": f"{base}/tasks.csv"},
        headers={"X-CSRFToken": token_of(app, project)},
    ).json

    assert body["form"]["errors"]["csv_url"] == ["This URL points to a private network address."]
    assert tasks_of(db, project) == []


def test_post_without_an_importer_is_404(import_app, project_roles):
    project, roles = project_roles
    app = import_app(roles["owner"])

    app.post_json(
        import_url(project), {}, headers={"X-CSRFToken": token_of(app, project)}, status=404
    )


def test_user_text_in_an_error_is_escaped(import_app, project_roles, db):
    project, roles = project_roles
    app = import_app(roles["owner"])

    page = post_csv_upload(app, project, b"q,user_pref\n1,<script>x</script>\n", status=200)

    assert "user_pref must be a JSON object" in page.text
    assert "<script>x</script>" not in page.text
    assert "&lt;script&gt;" in page.text
