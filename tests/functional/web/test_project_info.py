"""/project/<short_name>/ and /settings: the project's page and the owners' settings page."""

import pytest

from core.models import ProjectStats
from tests.factories import ProjectFactory, TaskFactory, TaskRunFactory
from tests.functional.web.conftest import JSON, answer_of, make_user

SUMMARY_KEYS = {
    "project",
    "owner",
    "n_tasks",
    "n_task_runs",
    "n_completed_tasks",
    "n_volunteers",
    "overall_progress",
    "last_activity",
    "pro_features",
    "template",
    "title",
}
SECRETS = ("secret_key", "webhook", "passwd_hash", "api_key", "email_addr")


@pytest.fixture
def busy_project(db):
    """A published project with two tasks, one answered, and its figures row filled in."""
    owner = make_user()
    project = ProjectFactory(owner=owner, webhook="https://hooks.example.org/secret")
    task = TaskFactory(project=project)
    TaskFactory(project=project)
    TaskRunFactory(task=task, finish_time="2024-05-01T10:00:00")
    figures = db.query(ProjectStats).filter_by(project_id=project.id).one()
    figures.n_tasks, figures.n_task_runs, figures.n_volunteers = 2, 1, 1
    figures.last_activity = "2024-05-01T10:00:00"
    db.commit()
    return project, owner


def test_anonymous_sees_the_public_page(app, busy_project):
    project, owner = busy_project

    body = app.get(f"/project/{project.short_name}/", headers=JSON).json

    assert SUMMARY_KEYS <= set(body)
    assert (body["n_tasks"], body["n_task_runs"], body["n_volunteers"]) == (2, 1, 1)
    assert body["last_activity"] == "2024-05-01T10:00:00"
    assert body["project"]["short_name"] == project.short_name
    assert body["project"]["contrib_button"] == "can_contribute"
    assert body["owner"]["name"] == owner.name
    assert {"rank", "score", "n_answers", "registered_ago"} <= set(body["owner"])
    assert (body["template"], body["title"]) == (
        "projects/project.html",
        f"Project: {project.name}",
    )
    assert set(body["pro_features"]) == {
        "auditlog_enabled",
        "autoimporter_enabled",
        "webhooks_enabled",
    }
    shown = str(body["project"]) + str(body["owner"])
    for secret in SECRETS:
        assert secret not in shown


def test_the_owner_sees_the_private_project_and_account(signed_in, busy_project):
    project, owner = busy_project
    app = signed_in(owner)

    body = app.get(f"/project/{project.short_name}/", headers=JSON).json

    assert body["project"]["secret_key"] == project.secret_key
    assert body["project"]["webhook"] == "https://hooks.example.org/secret"
    assert {"n_blogposts", "n_results", "contrib_button"} <= set(body["project"])
    assert body["owner"]["api_key"] == owner.api_key
    assert "passwd_hash" not in str(body)


def test_a_volunteer_gets_the_public_owner_summary(signed_in, busy_project):
    project, _ = busy_project
    app = signed_in(make_user())

    body = app.get(f"/project/{project.short_name}/", headers=JSON).json

    assert "api_key" not in body["owner"]
    assert "secret_key" not in body["project"]


def test_html_page_shows_figures_and_escapes(app, db):
    project = ProjectFactory(long_description="<script>alert(1)</script> hello")

    page = app.get(f"/project/{project.short_name}/")

    assert project.name in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; hello" in page.text
    assert 'aria-label="Overall progress"' in page.text


def test_contrib_button_cannot_contribute_after_answering_everything(signed_in, db):
    volunteer = make_user()
    project = ProjectFactory()
    TaskRunFactory(task=TaskFactory(project=project), user=volunteer)
    app = signed_in(volunteer)

    body = app.get(f"/project/{project.short_name}/", headers=JSON).json

    assert body["project"]["contrib_button"] == "cannot_contribute"


def test_bare_address_redirects_to_the_slash(app, db):
    project = ProjectFactory()

    response = app.get(f"/project/{project.short_name}", status=301)

    assert response.location.endswith(f"/project/{project.short_name}/")


def test_unknown_project_is_404(app, db):
    assert app.get("/project/nothing/", headers=JSON, status=404).json["code"] == 404


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 401), ("volunteer", 403), ("owner", 200), ("coowner", 200), ("admin", 200)],
)
def test_a_draft_is_only_for_its_owners(signed_in, project_roles, role, status):
    project, roles = project_roles
    app = signed_in(roles[role])

    body = app.get(f"/project/{project.short_name}/", headers=JSON, status=status).json

    if status == 200:
        assert body["project"]["contrib_button"] == "draft"
    else:
        assert body["code"] == status


def test_a_draft_sends_anonymous_html_callers_to_sign_in(app, project_roles):
    project, _ = project_roles

    response = app.get(f"/project/{project.short_name}/", status=302)

    assert "/account/signin?next=" in response.location


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 302), ("volunteer", 403), ("owner", 200), ("coowner", 200), ("admin", 200)],
)
def test_settings_is_for_owners_and_admins(signed_in, project_roles, role, status):
    project, roles = project_roles
    app = signed_in(roles[role])

    body = answer_of(
        app.get(f"/project/{project.short_name}/settings", headers=JSON, status=status)
    )

    if status == 200:
        assert SUMMARY_KEYS <= set(body)
        assert body["template"] == "projects/settings.html"
        assert body["project"]["secret_key"] == project.secret_key
    else:
        assert body["code"] == status


def test_settings_html_links_the_owner_pages(signed_in, project_roles):
    project, roles = project_roles
    app = signed_in(roles["owner"])

    page = app.get(f"/project/{project.short_name}/settings")

    assert f'href="/project/{project.short_name}/delete"' in page.text
    assert "reset-secret-form" in page.forms
    assert 'aria-current="page"' in page.text


def test_settings_sends_anonymous_html_callers_to_sign_in(app, project_roles):
    project, _ = project_roles

    response = app.get(f"/project/{project.short_name}/settings", status=302)

    assert response.location.endswith(
        f"/account/signin?next=/project/{project.short_name}/settings"
    )
