"""/project/<short_name>/publish: owners make a draft public and forget its test answers."""

import pytest
from sqlalchemy import func, select

from core.models import (
    Auditlog,
    Project,
    ProjectStats,
    Result,
    Task,
    TaskRun,
    User,
    WebhookDelivery,
)
from tests.factories import ProjectFactory, ResultFactory, TaskFactory, TaskRunFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user, sign_in

PUBLISHED = "Project published! Volunteers will now be able to help you!"


def publish_url(project) -> str:
    return f"/project/{project.short_name}/publish"


def post_publish(app, project, **kw):
    token = csrf_token(app, "/account/register")
    return app.post_json(publish_url(project), {}, headers={"X-CSRFToken": token}, **kw)


def count(db, model, project) -> int:
    return db.scalar(select(func.count()).select_from(model).where(model.project_id == project.id))


@pytest.mark.parametrize("role", ["owner", "coowner", "admin"])
def test_owners_and_admins_publish(signed_in, project_roles, db, role):
    project, roles = project_roles
    task = TaskFactory(project=project, n_answers=1)
    TaskRunFactory(task=task, user=make_user())
    ResultFactory(task=task)
    db.add(
        WebhookDelivery(project_id=project.id, event="task_completed", url="https://example.org/")
    )
    db.commit()
    app = signed_in(roles[role])

    body = post_publish(app, project).json

    assert body == {
        "next": f"/project/{project.short_name}/",
        "flash": PUBLISHED,
        "status": "success",
    }
    db.expire_all()
    assert db.get(Project, project.id).published is True
    assert [count(db, model, project) for model in (TaskRun, Result, WebhookDelivery)] == [0, 0, 0]
    saved = db.get(Task, task.id)
    assert (saved.state, saved.n_task_runs) == ("ongoing", 0)
    stats = db.scalars(select(ProjectStats).where(ProjectStats.project_id == project.id)).one()
    assert (stats.n_tasks, stats.n_task_runs, stats.n_completed_tasks) == (1, 0, 0)
    audit = db.scalars(select(Auditlog).where(Auditlog.attribute == "published")).one()
    assert (audit.old_value, audit.new_value, audit.user_id) == ("false", "true", roles[role].id)


def test_publish_page_gives_the_csrf_token(signed_in, project_roles):
    project, roles = project_roles
    app = signed_in(roles["owner"])

    body = app.get(publish_url(project), headers=JSON).json

    assert body["csrf"]
    assert body["project"]["id"] == project.id
    assert body["template"] == "projects/publish.html"
    assert 'name="csrf_token"' in app.get(publish_url(project)).text


def test_anonymous_cannot_publish(app, project_roles, db):
    project, _ = project_roles
    TaskFactory(project=project)

    json_page = post_publish(app, project, status=302)
    html = app.get(publish_url(project), status=302)

    assert "/account/signin" in json_page.location
    assert "/account/signin" in html.location
    db.expire_all()
    assert db.get(Project, project.id).published is False


def test_volunteer_cannot_publish(signed_in, project_roles, db):
    project, roles = project_roles
    TaskFactory(project=project)
    app = signed_in(roles["volunteer"])

    post_publish(app, project, status=403)

    db.expire_all()
    assert db.get(Project, project.id).published is False


def test_publish_needs_the_csrf_token(signed_in, project_roles, db):
    project, roles = project_roles
    TaskFactory(project=project)
    app = signed_in(roles["owner"])

    body = app.post_json(publish_url(project), {}, status=400).json
    html = app.post(publish_url(project), {"csrf_token": "forged"}, status=400)

    assert body["description"] == "CSRF validation failed."
    assert "CSRF validation failed." in html.text
    db.expire_all()
    assert db.get(Project, project.id).published is False


def test_publish_needs_a_task(signed_in, project_roles, db):
    project, roles = project_roles
    app = signed_in(roles["owner"])

    body = post_publish(app, project).json

    assert body["status"] == "error"
    assert "task" in body["flash"]
    db.expire_all()
    assert db.get(Project, project.id).published is False


def test_publish_needs_a_task_presenter(signed_in, db):
    project = ProjectFactory(owner=make_user(), published=False, info={})
    TaskFactory(project=project)
    app = signed_in(db.get(User, project.owner_id))

    body = post_publish(app, project).json

    assert body["status"] == "error"
    assert "presenter" in body["flash"]
    db.expire_all()
    assert db.get(Project, project.id).published is False


def test_presenter_not_needed_when_disabled(make_app, db):
    project = ProjectFactory(owner=make_user(), published=False, info={})
    TaskFactory(project=project)
    app = make_app(disable_task_presenter="true")
    sign_in(app, db.get(User, project.owner_id))

    body = post_publish(app, project).json

    assert body["flash"] == PUBLISHED


def test_already_published_only_flashes(signed_in, db):
    project = ProjectFactory(owner=make_user(), published=True)
    task = TaskFactory(project=project)
    TaskRunFactory(task=task, user=make_user())
    app = signed_in(db.get(User, project.owner_id))

    body = post_publish(app, project).json

    assert body["status"] == "info"
    assert count(db, TaskRun, project) == 1
    assert db.scalars(select(Auditlog)).all() == []


def test_publish_in_html_redirects_with_flash(signed_in, project_roles, db):
    project, roles = project_roles
    TaskFactory(project=project)
    app = signed_in(roles["owner"])

    response = app.get(publish_url(project)).forms["publish-form"].submit(status=302)

    assert response.location.endswith(f"/project/{project.short_name}/")
    assert PUBLISHED in app.get("/account/profile").text
