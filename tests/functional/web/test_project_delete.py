"""/project/<short_name>/delete: a confirmation page, then the project and all it owns go."""

import os

import pytest
from sqlalchemy import func, select

from core.models import Auditlog, Blogpost, Project, ProjectStats, Result, Task, TaskRun
from tests.factories import (
    BlogpostFactory,
    ProjectFactory,
    ResultFactory,
    TaskFactory,
    TaskRunFactory,
)
from tests.functional.web.conftest import JSON, csrf_token, make_user


def delete_url(project) -> str:
    return f"/project/{project.short_name}/delete"


def count(db, model) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("role", ["owner", "coowner", "admin"])
def test_get_shows_the_project_and_the_csrf_token(signed_in, project_roles, role):
    project, roles = project_roles
    app = signed_in(roles[role])

    body = app.get(delete_url(project), headers=JSON).json

    assert body["csrf"]
    assert body["project"]["id"] == project.id
    assert {"owner", "n_tasks", "overall_progress", "last_activity", "pro_features"} <= set(body)
    assert (body["template"], body["title"]) == (
        "projects/delete.html",
        f"Project: {project.name} · Delete",
    )


@pytest.mark.parametrize(("role", "status"), [("anonymous", 302), ("volunteer", 403)])
def test_others_can_neither_see_nor_delete(signed_in, project_roles, db, role, status):
    project, roles = project_roles
    app = signed_in(roles[role])
    token = csrf_token(app, "/account/signin" if role == "anonymous" else "/project/new")

    app.get(delete_url(project), headers=JSON, status=status)
    app.post_json(delete_url(project), {}, headers={"X-CSRFToken": token}, status=status)

    assert count(db, Project) == 1


def test_delete_removes_everything_the_project_owns(signed_in, db, app_settings):
    owner = make_user()
    project = ProjectFactory(owner=owner)
    task = TaskFactory(project=project)
    run = TaskRunFactory(task=task)
    ResultFactory(task=task, task_run_ids=[run.id])
    BlogpostFactory(project=project)
    folder = os.path.join(app_settings["upload.dir"], f"user_{owner.id}")
    os.makedirs(folder, exist_ok=True)
    picture = os.path.join(folder, "picture.png")
    with open(picture, "wb") as target:
        target.write(b"png")
    project.info = {**project.info, "container": f"user_{owner.id}", "avatar": "picture.png"}
    db.commit()
    other, project_id = ProjectFactory(), project.id
    app = signed_in(owner)
    token = csrf_token(app, delete_url(project))

    body = app.post_json(delete_url(project), {}, headers={"X-CSRFToken": token}).json

    assert body == {
        "next": f"/account/{owner.name}/",
        "flash": "Project deleted!",
        "status": "success",
    }
    assert db.scalars(select(Project.id)).all() == [other.id]
    for model in (Task, TaskRun, Result, Blogpost):
        assert count(db, model) == 0
    assert db.scalars(select(ProjectStats.project_id)).all() == [other.id]
    assert not os.path.exists(picture)
    logged = db.scalars(select(Auditlog.action).where(Auditlog.project_id == project_id)).all()
    assert logged == ["delete"]


def test_delete_through_the_html_form(signed_in, project_roles, db):
    project, roles = project_roles
    app = signed_in(roles["admin"])
    page = app.get(delete_url(project))

    response = page.forms["delete-form"].submit(status=302)

    assert response.location.endswith(f"/account/{roles['admin'].name}/")
    assert count(db, Project) == 0


def test_delete_needs_the_csrf_token(signed_in, project_roles, db):
    project, roles = project_roles
    app = signed_in(roles["owner"])

    body = app.post(delete_url(project), status=400, headers=JSON).json

    assert body["description"] == "CSRF validation failed."
    assert count(db, Project) == 1
