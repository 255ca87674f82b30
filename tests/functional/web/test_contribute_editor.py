"""/project/<short_name>/tasks/taskpresentereditor and /project/<short_name>/tutorial."""

import json

import pytest
from sqlalchemy import select

from core.models import Auditlog, Project
from core.passwords import hash_password
from core.web.contribute import PRESENTERS
from tests.factories import ProjectFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user, sign_in
from tests.functional.web.test_contribute import framed

SAVED = "Task presenter added!"
NEW_PRESENTER = "<p id='mine'>My presenter</p><script>pybossa.run('x');</script>"


def editor_url(project, query: str = "") -> str:
    return f"/project/{project.short_name}/tasks/taskpresentereditor{query}"


def post_editor(app, project, data, **kw):
    token = csrf_token(app, "/account/register")
    return app.post_json(editor_url(project), data, headers={"X-CSRFToken": token}, **kw)


def stored_info(db, project) -> dict:
    db.expire_all()
    return db.get(Project, project.id).info


@pytest.fixture
def empty_roles(project_roles, db):
    """project_roles with a project that has no presenter yet but keeps another info key."""
    project, roles = project_roles
    project.info = {"sched": "default"}
    db.commit()
    return project, roles


@pytest.mark.parametrize("role", ["owner", "coowner", "admin"])
def test_owners_choose_a_template_first(signed_in, empty_roles, role):
    project, roles = empty_roles
    app = signed_in(roles[role])

    body = app.get(editor_url(project), headers=JSON).json
    html = app.get(editor_url(project)).text

    assert body["template"] == "contribute/editor_options.html"
    assert body["presenters"] == [f"presenters/{name}.html" for name in PRESENTERS]
    expected = {"n_tasks", "n_task_runs", "n_completed_tasks", "n_volunteers", "overall_progress"}
    assert expected | {"last_activity", "owner", "project", "pro_features", "title"} <= set(body)
    assert body["pro_features"] == {
        "auditlog_enabled": True,
        "autoimporter_enabled": True,
        "webhooks_enabled": True,
    }
    assert body["status"] == "info"
    for name in PRESENTERS:
        assert f"taskpresentereditor?template={name}" in html


@pytest.mark.parametrize("name", PRESENTERS)
def test_each_template_is_a_presenter_for_this_project(signed_in, empty_roles, name):
    project, roles = empty_roles
    app = signed_in(roles["owner"])

    body = app.get(editor_url(project, f"?template={name}"), headers=JSON).json

    editor = body["form"]["editor"]
    assert body["template"] == "contribute/editor.html"
    assert body["errors"] is False
    assert body["form"]["csrf"]
    assert body["form"]["id"] == project.id
    assert f"var shortName = {json.dumps(project.short_name)};" in editor
    assert "pybossa.run(shortName);" in editor
    for call in ("pybossa.taskLoaded(", "pybossa.presentTask(", "pybossa.saveTask("):
        assert call in editor


def test_template_short_name_is_a_safe_javascript_string(signed_in, db):
    owner = make_user()
    project = ProjectFactory(owner=owner, short_name="it's<x>", info={})
    app = signed_in(owner)

    editor = app.get(editor_url(project, "?template=basic"), headers=JSON).json["form"]["editor"]

    assert 'var shortName = "it\\u0027s\\u003cx\\u003e";' in editor


def test_unknown_template_is_404(signed_in, empty_roles):
    project, roles = empty_roles
    app = signed_in(roles["owner"])

    app.get(editor_url(project, "?template=nope"), status=404)


def test_current_presenter_is_loaded_escaped_in_the_textarea(signed_in, db):
    owner = make_user()
    project = ProjectFactory(owner=owner, info={"task_presenter": "<b>now</b>"})
    app = signed_in(owner)

    html = app.get(editor_url(project)).text
    body = app.get(editor_url(project), headers=JSON).json

    assert "&lt;b&gt;now&lt;/b&gt;</textarea>" in html
    assert body["form"]["editor"] == "<b>now</b>"


@pytest.mark.parametrize("role", ["owner", "coowner", "admin"])
def test_owners_save_the_presenter_with_an_audit_row(signed_in, empty_roles, db, role):
    project, roles = empty_roles
    app = signed_in(roles[role])

    body = post_editor(app, project, {"editor": NEW_PRESENTER}).json

    assert body == {
        "next": f"/project/{project.short_name}/tasks/",
        "flash": SAVED,
        "status": "success",
    }
    assert stored_info(db, project) == {"sched": "default", "task_presenter": NEW_PRESENTER}
    audit = db.scalars(select(Auditlog).where(Auditlog.attribute == "task_presenter")).one()
    assert (audit.user_id, audit.caller, audit.new_value) == (roles[role].id, "web", NEW_PRESENTER)


def test_html_form_saves_and_redirects(signed_in, empty_roles, db):
    project, roles = empty_roles
    app = signed_in(roles["owner"])
    form = app.get(editor_url(project, "?template=image")).forms["presenter-form"]

    response = form.submit(status=302)

    assert response.location.endswith(f"/project/{project.short_name}/tasks/")
    assert "pybossa.presentTask(" in stored_info(db, project)["task_presenter"]


def test_empty_presenter_shows_the_form_again_and_saves_nothing(signed_in, empty_roles, db):
    project, roles = empty_roles
    app = signed_in(roles["owner"])

    body = post_editor(app, project, {"editor": ""}).json
    token = csrf_token(app, "/account/profile")
    html = app.post(editor_url(project), {"editor": "", "csrf_token": token}).text

    assert body["form"]["errors"] == {"editor": ["The task presenter is required"]}
    assert body["errors"] is True
    assert body["flash"] == "Please correct the errors"
    assert 'id="editor-errors"' in html
    assert stored_info(db, project) == {"sched": "default"}


def test_post_without_csrf_is_refused(signed_in, empty_roles, db):
    project, roles = empty_roles
    app = signed_in(roles["owner"])

    body = app.post_json(editor_url(project), {"editor": NEW_PRESENTER}, status=400).json

    assert body["description"] == "CSRF validation failed."
    assert stored_info(db, project) == {"sched": "default"}


def test_volunteer_is_forbidden(signed_in, empty_roles, db):
    project, roles = empty_roles
    app = signed_in(roles["volunteer"])

    app.get(editor_url(project), status=403)
    post_editor(app, project, {"editor": NEW_PRESENTER}, status=403)

    assert stored_info(db, project) == {"sched": "default"}


def test_anonymous_is_sent_to_sign_in(app, empty_roles, db):
    project, _ = empty_roles

    html = app.get(editor_url(project), status=302)
    json_page = app.get(editor_url(project), headers=JSON, status=302)
    post_editor(app, project, {"editor": NEW_PRESENTER}, status=302)

    assert "/account/signin?next=" in html.location
    assert json_page.location == html.location
    assert stored_info(db, project) == {"sched": "default"}


# -- tutorial ----------------------------------------------------------------------------------


def test_tutorial_is_rendered_raw_in_its_frame(app, db):
    tutorial = "<h2 id='how'>How to help</h2><script>var x = 1 < 2;</script>"
    project = ProjectFactory(info={"tutorial": tutorial})

    html = app.get(f"/project/{project.short_name}/tutorial").text
    body = app.get(f"/project/{project.short_name}/tutorial", headers=JSON).json

    assert tutorial not in html
    assert tutorial in framed(app, html)
    assert {"owner", "project", "template", "title"} <= set(body)
    assert body["template"] == "contribute/tutorial.html"
    assert body["title"] == f"Project: {project.name}"
    assert body["project"]["info"]["tutorial"] == tutorial


def test_no_tutorial_says_so(app, db):
    project = ProjectFactory(info={})

    html = app.get(f"/project/{project.short_name}/tutorial").text

    assert 'id="no-tutorial"' in html


def test_tutorial_of_a_password_protected_project_asks_for_the_password(app, db):
    info = {"tutorial": "<p>secret</p>", "passwd_hash": hash_password("pw")}
    project = ProjectFactory(info=info)

    response = app.get(f"/project/{project.short_name}/tutorial", status=302)
    admin = make_user(admin=True)
    sign_in(app, admin)
    html = app.get(f"/project/{project.short_name}/tutorial").text

    assert "/password?next=" in response.location
    assert "<p>secret</p>" in framed(app, html)
