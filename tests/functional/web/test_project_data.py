"""A project's data pages: /tasks, /tasks/browse, /results and /stats, in JSON and HTML."""

import pytest
from sqlalchemy import update

from core.models import Project, ProjectStats
from core.services import stats
from tests.factories import ResultFactory, TaskFactory, TaskRunFactory
from tests.functional.web.conftest import JSON, make_user

COMMON = {
    "project",
    "owner",
    "n_tasks",
    "n_completed_tasks",
    "n_volunteers",
    "overall_progress",
    "pro_features",
    "title",
    "template",
}


def url(project, page: str) -> str:
    return f"/project/{project.short_name}/{page}"


def refresh_stats(db, project) -> None:
    stats.recompute(db, project.id)
    db.commit()


@pytest.fixture
def project_roles(project_roles, db):
    """The shared project and roles, the project published: a draft's data pages are its owners'
    (decision 24, tests/security/test_drafts.py)."""
    project, roles = project_roles
    project.published = True
    db.commit()
    return project, roles


@pytest.fixture
def busy_project(project_roles, db):
    """project_roles with 12 tasks, answers from two users and one anonymous IP."""
    project, roles = project_roles
    tasks = [TaskFactory(project=project, n_answers=2) for _ in range(12)]
    alice, bob = make_user(fullname="Alice <b>"), make_user()
    TaskRunFactory(task=tasks[0], user=alice)
    TaskRunFactory(task=tasks[0], user=bob)
    TaskRunFactory(task=tasks[1], user=alice)
    TaskRunFactory(task=tasks[2], user=None, user_ip="10.1.1.1")
    ResultFactory(task=tasks[0], info={"answer": "yes"})
    refresh_stats(db, project)
    return project, roles, tasks, alice


# --- /tasks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["tasks", "tasks/"])
def test_tasks_page_json_keys(signed_in, busy_project, path):
    project, roles, _, _ = busy_project
    app = signed_in(roles["volunteer"])

    body = app.get(url(project, path), headers=JSON).json

    assert COMMON | {"autoimporter_enabled", "n_task_runs", "last_activity"} <= set(body)
    assert (body["n_tasks"], body["n_task_runs"], body["n_completed_tasks"]) == (12, 4, 1)
    assert body["n_volunteers"] == 3
    assert body["overall_progress"] == 8
    assert body["template"] == "project_data/tasks.html"
    assert body["title"] == f"Project: {project.name} · Tasks"
    # Not the owner: the public summaries only.
    assert "api_key" not in body["owner"] and "secret_key" not in body["project"]


def test_tasks_page_for_the_primary_owner_has_private_keys(signed_in, busy_project):
    project, roles, _, _ = busy_project
    app = signed_in(roles["owner"])

    body = app.get(url(project, "tasks"), headers=JSON).json

    assert body["owner"]["api_key"] == roles["owner"].api_key
    assert "passwd_hash" not in body["owner"]
    assert body["project"]["n_results"] == 1


def test_tasks_page_html_shows_import_link_to_owners_only(signed_in, busy_project, app):
    project, roles, _, _ = busy_project

    anonymous_html = app.get(url(project, "tasks")).text
    owner_html = signed_in(roles["owner"]).get(url(project, "tasks/")).text

    assert "/tasks/browse/" in anonymous_html
    assert "/tasks/import" not in anonymous_html
    assert "/tasks/import" in owner_html
    assert 'aria-current="page"' in owner_html


def test_unknown_project_is_404(app):
    assert app.get("/project/nothing-here/tasks", headers=JSON, status=404).json["code"] == 404
    app.get("/project/nothing-here/stats", status=404)


def test_password_protected_project_asks_for_the_password(app, busy_project, db):
    project, _, _, _ = busy_project
    db.execute(
        update(Project)
        .where(Project.id == project.id)
        .values(info={"passwd_hash": "x", "task_presenter": "<p>"})
    )
    db.commit()

    response = app.get(url(project, "stats"), status=302)

    assert f"/project/{project.short_name}/password" in response.location


# --- /tasks/browse -----------------------------------------------------------------------------


def test_browse_first_page(app, busy_project):
    project, _, tasks, _ = busy_project

    body = app.get(url(project, "tasks/browse/"), headers=JSON).json

    assert {"pagination", "tasks"} | COMMON <= set(body)
    assert body["pagination"] == {
        "page": 1,
        "per_page": 10,
        "total": 12,
        "next": True,
        "prev": False,
    }
    assert len(body["tasks"]) == 10
    assert body["tasks"][0] == {
        "id": tasks[0].id,
        "n_answers": 2,
        "n_task_runs": 2,
        "pct_status": 1.0,
        "state": "completed",
    }
    assert body["tasks"][1]["pct_status"] == 0.5
    assert body["template"] == "project_data/tasks_browse.html"


def test_browse_second_page_and_beyond(app, busy_project):
    project, _, tasks, _ = busy_project

    body = app.get(url(project, "tasks/browse/2"), headers=JSON).json
    app.get(url(project, "tasks/browse/3"), headers=JSON, status=404)

    assert [task["id"] for task in body["tasks"]] == [tasks[10].id, tasks[11].id]
    assert (body["pagination"]["next"], body["pagination"]["prev"]) == (False, True)


def test_browse_html(app, busy_project):
    project, _, tasks, _ = busy_project

    html = app.get(url(project, "tasks/browse")).text

    assert f"#{tasks[0].id}" in html
    assert 'rel="next"' in html and "/tasks/browse/2" in html
    assert 'role="progressbar"' in html


def test_browse_of_a_project_without_tasks(app, project_roles):
    project, _ = project_roles

    body = app.get(url(project, "tasks/browse/"), headers=JSON).json
    html = app.get(url(project, "tasks/browse/")).text

    assert body["tasks"] == [] and body["pagination"]["total"] == 0
    assert "no tasks yet" in html


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 401), ("volunteer", 403), ("owner", 200), ("coowner", 200), ("admin", 200)],
)
def test_browse_without_zip_download_is_for_owners(signed_in, busy_project, db, role, status):
    project, roles, _, _ = busy_project
    db.execute(update(Project).where(Project.id == project.id).values(zip_download=False))
    db.commit()
    app = signed_in(roles[role])

    app.get(url(project, "tasks/browse/"), headers=JSON, status=status)


def test_browse_without_zip_download_sends_anonymous_html_to_sign_in(app, busy_project, db):
    project, _, _, _ = busy_project
    db.execute(update(Project).where(Project.id == project.id).values(zip_download=False))
    db.commit()

    assert "/account/signin" in app.get(url(project, "tasks/browse/"), status=302).location


# --- /results ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["anonymous", "volunteer", "owner", "coowner", "admin"])
def test_results_page_for_every_role(signed_in, busy_project, role):
    project, roles, _, _ = busy_project
    app = signed_in(roles[role])

    body = app.get(url(project, "results"), headers=JSON).json

    assert COMMON | {"n_results", "n_task_runs", "last_activity"} <= set(body)
    assert body["n_results"] == 1
    assert body["template"] == "project_data/results.html"


def test_results_html_shows_the_latest_results_escaped(app, busy_project, db):
    project, _, tasks, _ = busy_project
    ResultFactory(task=tasks[1], info={"note": "<img src=x onerror=alert(1)>"})

    html = app.get(url(project, "results")).text

    assert "<img src=x" not in html
    assert "yes" in html
    assert f"/api/result?project_id={project.id}" in html


# --- /stats ------------------------------------------------------------------------------------


def test_stats_json(app, busy_project):
    project, _, _, alice = busy_project

    body = app.get(url(project, "stats"), headers=JSON).json

    assert COMMON | {"avg_contrib_time", "projectStats", "userStats"} <= set(body)
    assert body["template"] == "project_data/stats.html"
    assert body["title"] == f"Project: {project.name} · Statistics"
    assert body["pro_features"]["better_stats_enabled"] is True
    users = body["userStats"]
    assert users["authenticated"]["users"] == 2
    assert users["authenticated"]["taskruns"] == 3
    assert users["anonymous"] == {
        "users": 1,
        "taskruns": 1,
        "pct_taskruns": 25.0,
        "top5": [{"tasks": 1}],
    }
    assert users["authenticated"]["top5"][0] == {
        "id": alice.id,
        "name": alice.name,
        "fullname": "Alice <b>",
        "tasks": 2,
    }
    charts = body["projectStats"]
    assert set(charts) == {"userStats", "userAnonStats", "userAuthStats", "dayStats", "hourStats"}
    day_all = charts["dayStats"][0]
    assert day_all["label"] == "Anon + Auth"
    assert sum(value for _, value in day_all["values"]) == 4
    assert [len(series["values"]) for series in charts["hourStats"]] == [24, 24, 24]
    assert body["avg_contrib_time"] >= 0


def test_stats_html_draws_svg_charts_and_escapes_names(app, busy_project):
    project, _, _, _ = busy_project

    html = app.get(url(project, "stats")).text

    assert "<svg" in html and "<rect" in html
    assert "Answers per day" in html and "Answers per hour of the day" in html
    assert "Alice &lt;b&gt;" in html
    assert "cdn" not in html.lower()


def test_stats_without_answers_has_only_the_common_keys(app, project_roles):
    project, _ = project_roles
    TaskFactory(project=project)

    body = app.get(url(project, "stats"), headers=JSON).json
    html = app.get(url(project, "stats")).text

    assert body["template"] == "project_data/non_stats.html"
    assert "projectStats" not in body and "userStats" not in body
    assert "no statistics yet" in html


def test_stats_cache_is_forgotten_when_the_application_writes(app, busy_project, db):
    project, roles, tasks, _ = busy_project
    app.get(url(project, "stats"), headers=JSON)
    # The factories write behind the application's back; its next write forgets the cache.
    TaskRunFactory(task=tasks[5], user=make_user())
    refresh_stats(db, project)
    owner_key = roles["owner"].api_key
    app.put_json(f"/api/task/{tasks[6].id}?api_key={owner_key}", {"n_answers": 5})

    body = app.get(url(project, "stats"), headers=JSON).json

    assert body["userStats"]["authenticated"]["users"] == 3


def test_better_stats_reserved_to_pro(make_app, busy_project):
    project, _, _, _ = busy_project
    app = make_app(pro_features="better_stats auditlog")

    body = app.get(url(project, "stats"), headers=JSON).json

    assert body["pro_features"]["better_stats_enabled"] is False
    assert body["pro_features"]["auditlog_enabled"] is False
    assert body["pro_features"]["webhooks_enabled"] is True


def test_figures_come_from_the_project_stats_row(app, busy_project, db):
    project, _, _, _ = busy_project
    db.execute(
        update(ProjectStats)
        .where(ProjectStats.project_id == project.id)
        .values(last_activity="2024-05-01T10:00:00")
    )
    db.commit()

    body = app.get(url(project, "tasks"), headers=JSON).json

    assert body["last_activity"] == "2024-05-01T10:00:00"
