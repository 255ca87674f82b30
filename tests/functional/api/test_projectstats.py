"""/api/projectstats: read only; the detailed `info` only with ?full."""

import pytest

from core.models import Project, ProjectStats, User
from tests.factories import ProjectFactory, UserFactory
from tests.functional.api.roles import auth

DETAIL = {"hours_stats": [1], "dates_stats": [2], "users_stats": [3]}


@pytest.fixture
def stats(db):
    project = ProjectFactory()
    row = db.query(ProjectStats).filter_by(project_id=project.id).one()
    row.info = {**DETAIL, "other": 1}
    row.n_tasks = 4
    db.commit()
    return row


@pytest.mark.parametrize("role", ["anonymous", "volunteer", "admin"])
def test_everyone_reads_without_detail(app, stats, role):
    user = None if role == "anonymous" else UserFactory(admin=role == "admin")

    body = app.get(f"/api/projectstats/{stats.id}", headers=auth(user)).json
    listed = app.get("/api/projectstats", headers=auth(user)).json

    assert body["n_tasks"] == 4
    assert body["info"] == {"other": 1}
    assert listed[0]["info"] == {"other": 1}
    assert body["link"] == (
        f"<link rel='self' title='projectstats' href='http://localhost/api/projectstats/{stats.id}'/>"
    )
    assert body["links"] == [
        f"<link rel='parent' title='project' href='http://localhost/api/project/{stats.project_id}'/>"
    ]


def test_full_adds_the_detail(app, stats):
    one = app.get(f"/api/projectstats/{stats.id}?full=1").json
    listed = app.get("/api/projectstats?full=1").json

    assert one["info"] == {**DETAIL, "other": 1}
    assert listed[0]["info"] == {**DETAIL, "other": 1}


@pytest.mark.parametrize("role, status", [("anonymous", 401), ("owner", 403), ("admin", 403)])
def test_nobody_writes(app, db, stats, role, status):
    owner = db.get(User, db.get(Project, stats.project_id).owner_id)
    user = {"anonymous": None, "owner": owner, "admin": UserFactory(admin=True)}[role]

    app.post_json("/api/projectstats", {"n_tasks": 1}, headers=auth(user), status=status)
    app.put_json(
        f"/api/projectstats/{stats.id}",
        {"n_tasks": 1},
        headers=auth(user),
        status=status,
    )
    app.delete(f"/api/projectstats/{stats.id}", headers=auth(user), status=status)

    db.rollback()
    db.expire_all()
    assert db.get(ProjectStats, stats.id).n_tasks == 4
    db.commit()


def test_created_filter_is_refused_not_a_500(app, stats):
    body = app.get("/api/projectstats?created=2024", status=415).json

    assert body["exception_cls"] == "AttributeError"
