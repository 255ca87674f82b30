"""/project/<short_name>/newtask and /task/<id>: the owner's task presenter, in its frame."""

import html as markup
import re

import pytest

from core.models import User
from core.passwords import hash_password
from tests.factories import ProjectFactory, TaskFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user, sign_in

PRESENTER = '<div id="owner-presenter"><script>window.presenterRan = 1 < 2;</script></div>'


def newtask_url(project) -> str:
    return f"/project/{project.short_name}/newtask"


def framed(app, page: str) -> str | None:
    """The document of the presenter frame a page embeds (decision 15), or None."""
    found = re.search(r'<iframe id="presenter-frame"[^>]* src="([^"]+)"', page)
    return app.get(markup.unescape(found.group(1))).text if found else None


@pytest.fixture
def project(db):
    owner = make_user()
    return ProjectFactory(owner=owner, info={"task_presenter": PRESENTER})


def test_presenter_frame_renders_the_presenter_unescaped_after_pybossa_js(app, project):
    page = app.get(newtask_url(project)).text
    html = framed(app, page)

    assert PRESENTER not in page
    assert '<meta name="csrf-token" content="' in page
    assert "/static/js/pybossa/host.js" in page
    assert PRESENTER in html
    pybossa_js = html.index("/static/js/pybossa/pybossa.js")
    assert html.index("/static/vendor/jquery/jquery.min.js") < pybossa_js < html.index(PRESENTER)


def test_presenter_page_json_has_the_documented_keys(app, project, db):
    body = app.get(newtask_url(project), headers=JSON).json

    assert {"owner", "project", "template", "title"} <= set(body)
    assert body["template"] == "contribute/presenter.html"
    assert body["title"] == f"Project: {project.name} · Contribute"
    assert body["project"]["short_name"] == project.short_name
    assert body["project"]["info"]["task_presenter"] == PRESENTER
    assert "secret_key" not in body["project"]
    assert body["owner"]["name"] == db.get(User, project.owner_id).name
    assert "api_key" not in body["owner"]
    assert body["presenter_state"] == "ready"


def test_the_primary_owner_sees_their_private_summary(app, project, db):
    owner = db.get(User, project.owner_id)
    sign_in(app, owner)

    body = app.get(newtask_url(project), headers=JSON).json

    assert body["owner"]["api_key"] == owner.api_key
    assert body["project"]["secret_key"] == project.secret_key


def test_project_name_is_escaped_in_the_layout(app, db):
    project = ProjectFactory(name="<b>bold</b> project", info={"task_presenter": PRESENTER})

    html = app.get(newtask_url(project)).text

    assert "&lt;b&gt;bold&lt;/b&gt; project" in html
    assert "<b>bold</b> project" not in html


def test_anonymous_is_sent_to_sign_in_when_the_project_wants_volunteers_signed_in(app, db):
    project = ProjectFactory(allow_anonymous_contributors=False)

    html = app.get(newtask_url(project), status=302)
    body = app.get(newtask_url(project), headers=JSON).json

    assert html.location.endswith(f"/account/signin?next=/project/{project.short_name}/newtask")
    assert body["next"] == f"/account/signin?next=/project/{project.short_name}/newtask"
    assert body["status"] == "warning"


def test_signed_in_volunteer_contributes_where_anonymous_cannot(app, db):
    project = ProjectFactory(
        allow_anonymous_contributors=False, info={"task_presenter": PRESENTER}
    )
    sign_in(app, make_user())

    html = app.get(newtask_url(project)).text

    assert PRESENTER in framed(app, html)


def test_no_presenter_shows_a_message(app, db):
    project = ProjectFactory(info={})

    html = app.get(newtask_url(project)).text
    body = app.get(newtask_url(project), headers=JSON).json

    assert 'id="no-presenter"' in html
    assert "taskpresentereditor" not in html
    assert body["presenter_state"] == "no_presenter"


def test_owner_without_presenter_gets_a_link_to_the_editor(app, db):
    owner = make_user()
    project = ProjectFactory(owner=owner, info={})
    sign_in(app, owner)

    html = app.get(newtask_url(project)).text

    assert f"/project/{project.short_name}/tasks/taskpresentereditor" in html


@pytest.mark.parametrize("role", ["owner", "coowner", "admin"])
def test_a_draft_is_tried_by_its_owners(signed_in, project_roles, db, role):
    project, roles = project_roles
    project.info = {"task_presenter": PRESENTER}
    db.commit()
    app = signed_in(roles[role])

    html = app.get(newtask_url(project)).text
    body = app.get(newtask_url(project), headers=JSON).json

    assert (framed(app, html) or "").count(PRESENTER) == 1
    assert PRESENTER not in html
    assert 'id="draft-test"' in html
    assert 'id="draft-project"' not in html
    assert body["presenter_state"] == "draft_test"


@pytest.mark.parametrize(
    ("role", "page_status", "status"), [("anonymous", 302, 401), ("volunteer", 403, 403)]
)
def test_a_draft_is_hidden_from_others(signed_in, project_roles, db, role, page_status, status):
    # As its info page is (decision 24): the draft's record and presenter are its owners'.
    project, roles = project_roles
    project.info = {"task_presenter": PRESENTER}
    db.commit()
    app = signed_in(roles[role])

    page = app.get(newtask_url(project), status=page_status)
    body = app.get(newtask_url(project), headers=JSON, status=status).json

    assert PRESENTER not in page.text
    assert "project" not in body


def test_a_protected_draft_tells_who_has_its_password_to_wait(app, db):
    # A password lets a volunteer see a protected draft's page, not try its presenter.
    info = {"task_presenter": PRESENTER, "passwd_hash": hash_password("open sesame")}
    project = ProjectFactory(owner=make_user(), info=info, published=False)
    form = app.get(f"/project/{project.short_name}/password")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
    app.post(
        f"/project/{project.short_name}/password",
        {"csrf_token": token, "password": "open sesame"},
        status=302,
    )

    html = app.get(newtask_url(project)).text
    body = app.get(newtask_url(project), headers=JSON).json

    assert framed(app, html) is None
    assert 'id="draft-project"' in html
    assert body["presenter_state"] == "draft"


def test_password_protected_project_asks_for_the_password(app, db):
    owner = make_user()
    info = {"task_presenter": PRESENTER, "passwd_hash": hash_password("open sesame")}
    project = ProjectFactory(owner=owner, info=info)

    response = app.get(newtask_url(project), status=302)
    sign_in(app, owner)
    html = app.get(newtask_url(project)).text

    assert f"/project/{project.short_name}/password?next=" in response.location
    assert PRESENTER in framed(app, html)


def test_unknown_project_is_404(app, db):
    assert app.get("/project/nothere/newtask", status=404)
    assert app.get("/project/nothere/newtask", headers=JSON, status=404).json["code"] == 404


def test_task_page_presents_that_task(app, project):
    task = TaskFactory(project=project)

    html = app.get(f"/project/{project.short_name}/task/{task.id}").text
    body = app.get(f"/project/{project.short_name}/task/{task.id}", headers=JSON).json

    assert f"/presenter/{project.short_name}/task/{task.id}?" in html
    assert PRESENTER in framed(app, html)
    assert body["template"] == "contribute/presenter.html"
    assert body["project"]["id"] == project.id


def test_task_page_of_another_project_or_unknown_task_is_404(app, project):
    other = TaskFactory()

    app.get(f"/project/{project.short_name}/task/{other.id}", status=404)
    app.get(f"/project/{project.short_name}/task/999999", status=404)


def test_task_page_hands_the_task_out_so_its_answer_is_accepted(app, project):
    task = TaskFactory(project=project)
    sign_in(app, make_user())
    token = csrf_token(app, "/account/profile")
    run = {"project_id": project.id, "task_id": task.id, "info": "Yes"}

    refused = app.post_json("/api/taskrun", run, headers={"X-CSRFToken": token}, status=403)
    app.get(f"/project/{project.short_name}/task/{task.id}")
    saved = app.post_json("/api/taskrun", run, headers={"X-CSRFToken": token}).json

    assert refused.json["exception_msg"] == "You must request a task first!"
    assert saved["task_id"] == task.id


def test_task_page_of_a_closed_project_does_not_hand_the_task_out(app, db):
    project = ProjectFactory(allow_anonymous_contributors=False)
    task = TaskFactory(project=project)

    app.get(f"/project/{project.short_name}/task/{task.id}", status=302)
    refused = app.post_json(
        "/api/taskrun", {"project_id": project.id, "task_id": task.id, "info": 1}, status=403
    )

    assert refused.json["exception_msg"] == "You must request a task first!"


def test_pybossa_js_is_served(app, db):
    script = app.get("/static/js/pybossa/pybossa.js").text

    for name in ("run", "taskLoaded", "presentTask", "saveTask", "userProgress", "setEndpoint"):
        assert f"{name}: " in script
    assert "X-CSRFToken" in script
