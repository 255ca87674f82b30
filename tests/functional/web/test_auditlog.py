"""/project/<short_name>/auditlog: who sees it, the pro gate, order, pages and escaping; and the
rows co-owner changes write."""

import json

import pytest
from sqlalchemy import select

from core.models import Auditlog
from tests.factories import ProjectFactory, TaskFactory
from tests.functional.web.conftest import JSON, answer_of, csrf_token, make_user, sign_in

KEYS = {"project", "owner", "logs", "pagination", "pro_features", "template", "title"}


def log_changes(db, project, count: int, **fields) -> list[Auditlog]:
    rows = [
        Auditlog(
            **{
                "project_id": project.id,
                "project_short_name": project.short_name,
                "user_id": project.owner_id,
                "user_name": "someone",
                "action": "update",
                "caller": "web",
                "attribute": "description",
                "old_value": f"old {number}",
                "new_value": f"new {number}",
                **fields,
            }
        )
        for number in range(count)
    ]
    db.add_all(rows)
    db.commit()
    return rows


def auditlog_url(project) -> str:
    return f"/project/{project.short_name}/auditlog"


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 302), ("volunteer", 403), ("owner", 200), ("coowner", 200), ("admin", 200)],
)
def test_only_owners_and_admins_see_the_log(signed_in, project_roles, db, role, status):
    project, roles = project_roles
    log_changes(db, project, 1)
    app = signed_in(roles[role])

    body = answer_of(app.get(auditlog_url(project), headers=JSON, status=status))

    if status == 200:
        assert KEYS <= set(body)
        assert body["template"] == "auditlog/index.html"
        assert [log["new_value"] for log in body["logs"]] == ["new 0"]
        assert body["project"]["short_name"] == project.short_name
    else:
        assert "logs" not in body
        assert body["code"] == status


def test_anonymous_browsers_are_sent_to_sign_in(app, project_roles):
    project, _ = project_roles

    response = app.get(auditlog_url(project), status=302)

    assert response.location.endswith(
        f"/account/signin?next=/project/{project.short_name}/auditlog"
    )


def test_an_unknown_project_is_a_404(signed_in, project_roles):
    _, roles = project_roles
    app = signed_in(roles["admin"])

    app.get("/project/nosuchproject/auditlog", headers=JSON, status=404)


@pytest.mark.parametrize(
    ("who", "status"),
    [("owner", 403), ("pro coowner", 200), ("admin", 200), ("pro volunteer", 403)],
)
def test_when_the_auditlog_is_a_pro_feature_only_pro_owners_and_admins_see_it(
    make_app, db, who, status
):
    owner, pro_coowner = make_user(), make_user(pro=True)
    callers = {
        "owner": owner,
        "pro coowner": pro_coowner,
        "admin": make_user(admin=True),
        "pro volunteer": make_user(pro=True),
    }
    project = ProjectFactory(owner=owner, coowners=[pro_coowner])
    app = make_app(pro_features="auditlog")
    sign_in(app, callers[who])

    body = answer_of(app.get(auditlog_url(project), headers=JSON, status=status))
    page = app.get(auditlog_url(project), status=status)

    if who == "owner":
        assert "pro feature" in body["description"]
        assert "pro feature" in page.text
    elif status == 200:
        assert body["pro_features"]["auditlog_enabled"] is True
        assert page.content_type == "text/html"
    else:
        assert "logs" not in body


def test_the_log_is_newest_first_and_paginated(signed_in, project_roles, db):
    project, roles = project_roles
    rows = log_changes(db, project, 25)
    log_changes(db, ProjectFactory(), 3)
    app = signed_in(roles["owner"])

    first = app.get(auditlog_url(project), headers=JSON).json
    second = app.get(auditlog_url(project) + "?page=2", headers=JSON).json

    newest_first = [row.id for row in reversed(rows)]
    assert [log["id"] for log in first["logs"]] == newest_first[:20]
    assert [log["id"] for log in second["logs"]] == newest_first[20:]
    assert first["pagination"] == {
        "page": 1,
        "per_page": 20,
        "total": 25,
        "next": True,
        "prev": False,
    }
    assert second["pagination"] == {
        "page": 2,
        "per_page": 20,
        "total": 25,
        "next": False,
        "prev": True,
    }
    assert set(first["logs"][0]) == {
        "id",
        "project_id",
        "project_short_name",
        "user_id",
        "user_name",
        "created",
        "action",
        "caller",
        "attribute",
        "old_value",
        "new_value",
    }


@pytest.mark.parametrize("page", ["3", "0", "abc"])
def test_pages_past_the_end_or_malformed_are_404(signed_in, project_roles, db, page):
    project, roles = project_roles
    log_changes(db, project, 25)
    app = signed_in(roles["owner"])

    app.get(f"{auditlog_url(project)}?page={page}", headers=JSON, status=404)


def test_an_empty_log_is_an_empty_first_page(signed_in, project_roles):
    project, roles = project_roles
    app = signed_in(roles["owner"])

    body = app.get(auditlog_url(project), headers=JSON).json
    page = app.get(auditlog_url(project))

    assert body["logs"] == []
    assert body["pagination"]["total"] == 0
    assert "No changes recorded yet" in page.text


def test_the_html_table_escapes_the_values(signed_in, project_roles, db):
    project, roles = project_roles
    log_changes(db, project, 1, new_value='<script>alert("x")</script>')
    app = signed_in(roles["owner"])

    page = app.get(auditlog_url(project))

    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert" in page.text
    headers = [th.get_text() for th in page.html.find("thead").find_all("th")]
    assert headers == ["Action", "Attribute", "Old value", "New value", "Who", "When"]
    assert page.html.find("tbody").find("th").get_text() == "description"


def test_a_web_update_shows_in_the_log(signed_in, project_roles):
    project, roles = project_roles
    TaskFactory(project=project)
    app = signed_in(roles["owner"])
    token = csrf_token(app, f"/project/{project.short_name}/settings")

    app.post_json(
        f"/project/{project.short_name}/publish", {}, headers={**JSON, "X-CSRFToken": token}
    )
    logs = app.get(auditlog_url(project), headers=JSON).json["logs"]

    assert logs[0]["attribute"] == "published"
    assert (logs[0]["old_value"], logs[0]["new_value"]) == ("false", "true")
    assert logs[0]["user_name"] == roles["owner"].name


# --- Co-owner changes are audited ---------------------------------------------------------


def owner_rows(db, project) -> list[Auditlog]:
    db.rollback()
    return list(
        db.scalars(
            select(Auditlog)
            .where(Auditlog.project_id == project.id, Auditlog.attribute == "owners_ids")
            .order_by(Auditlog.id)
        )
    )


def test_adding_and_removing_a_coowner_writes_audit_rows(signed_in, project_roles, db):
    project, roles = project_roles
    newcomer = make_user()
    app = signed_in(roles["owner"])
    token = csrf_token(app, f"/project/{project.short_name}/coowners")
    base = f"/project/{project.short_name}"
    before = list(project.owners_ids)

    app.get(f"{base}/add_coowner/{newcomer.name}?csrf={token}", headers=JSON)
    app.get(f"{base}/del_coowner/{newcomer.name}?csrf={token}", headers=JSON)

    added, removed = owner_rows(db, project)
    with_newcomer = sorted([*before, newcomer.id])
    assert (added.action, added.caller, added.user_id) == ("update", "web", roles["owner"].id)
    assert json.loads(added.old_value) == before
    assert sorted(json.loads(added.new_value)) == with_newcomer
    assert sorted(json.loads(removed.old_value)) == with_newcomer
    assert json.loads(removed.new_value) == before


def test_refused_or_idle_coowner_changes_write_nothing(signed_in, project_roles, db):
    project, roles = project_roles
    base = f"/project/{project.short_name}"
    app = signed_in(roles["owner"])
    token = csrf_token(app, f"{base}/coowners")

    app.get(f"{base}/add_coowner/{roles['coowner'].name}?csrf={token}", headers=JSON)
    app.get(f"{base}/add_coowner/{roles['volunteer'].name}", headers=JSON, status=400)
    app.get(f"{base}/del_coowner/{roles['owner'].name}?csrf={token}", headers=JSON)

    assert owner_rows(db, project) == []
