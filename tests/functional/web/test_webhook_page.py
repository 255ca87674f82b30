"""/project/<short_name>/webhook: the delivery log, who sees it, and re-sending (CSRF)."""

import pytest
from sqlalchemy import func, select

from core.models import WebhookDelivery
from tests.factories import ProjectFactory
from tests.functional.web.conftest import JSON, answer_of, csrf_token, make_user, sign_in

PLUGIN_ON = {"plugins__webhooks": "http"}


def log_deliveries(db, project, count: int) -> list[WebhookDelivery]:
    rows = [
        WebhookDelivery(
            project_id=project.id,
            event="task_completed",
            url="https://hooks.example.org/in",
            payload={"event": "task_completed", "task_id": number},
            status="delivered",
            attempts=1,
            status_code=200,
            response="ok",
        )
        for number in range(count)
    ]
    db.add_all(rows)
    db.commit()
    return rows


def webhook_url(project) -> str:
    return f"/project/{project.short_name}/webhook"


def count_deliveries(db) -> int:
    db.rollback()
    total = db.scalar(select(func.count()).select_from(WebhookDelivery))
    db.commit()
    return total


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 302), ("volunteer", 403), ("owner", 200), ("coowner", 200), ("admin", 200)],
)
def test_only_owners_and_admins_see_the_log(signed_in, project_roles, db, role, status):
    project, roles = project_roles
    log_deliveries(db, project, 1)
    app = signed_in(roles[role])

    body = answer_of(app.get(webhook_url(project), headers=JSON, status=status))

    if status == 200:
        assert body["template"] == "webhooks/index.html"
        assert [delivery["status"] for delivery in body["deliveries"]] == ["delivered"]
        assert body["project"]["short_name"] == project.short_name
    else:
        assert "deliveries" not in body


def test_anonymous_browsers_are_sent_to_sign_in(app, project_roles):
    project, _ = project_roles

    response = app.get(webhook_url(project), status=302)

    assert response.location.endswith(
        f"/account/signin?next=/project/{project.short_name}/webhook"
    )


def test_the_log_is_paginated_newest_first(signed_in, project_roles, db):
    project, roles = project_roles
    rows = log_deliveries(db, project, 25)
    app = signed_in(roles["owner"])

    first = app.get(webhook_url(project), headers=JSON).json
    second = app.get(webhook_url(project) + "?page=2", headers=JSON).json

    assert [d["id"] for d in first["deliveries"]] == [row.id for row in reversed(rows)][:20]
    assert [d["id"] for d in second["deliveries"]] == [row.id for row in reversed(rows)][20:]
    assert first["pagination"] == {
        "page": 1,
        "per_page": 20,
        "total": 25,
        "next": True,
        "prev": False,
    }
    assert (second["pagination"]["next"], second["pagination"]["prev"]) == (False, True)
    app.get(webhook_url(project) + "?page=3", headers=JSON, status=404)
    app.get(webhook_url(project) + "?page=zero", headers=JSON, status=404)


def test_the_html_page_lists_deliveries_with_a_resend_button(make_app, db):
    app = make_app(**PLUGIN_ON)
    owner = make_user()
    project = ProjectFactory(owner=owner, webhook="https://hooks.example.org/in")
    [row] = log_deliveries(db, project, 1)
    sign_in(app, owner)

    page = app.get(webhook_url(project))

    assert page.content_type == "text/html"
    form = page.forms[f"resend-{row.id}"]
    assert form.action == f"/project/{project.short_name}/webhook/{row.id}/resend"
    assert form["csrf_token"].value
    assert "https://hooks.example.org/in" in page.text


def test_a_resend_without_the_csrf_token_is_refused(make_app, db):
    app = make_app(**PLUGIN_ON)
    owner = make_user()
    project = ProjectFactory(owner=owner, webhook="https://hooks.example.org/in")
    [row] = log_deliveries(db, project, 1)
    sign_in(app, owner)

    app.post_json(f"{webhook_url(project)}/{row.id}/resend", {}, headers=JSON, status=400)
    app.post(f"{webhook_url(project)}/{row.id}/resend", {"csrf_token": "forged"}, status=400)

    assert count_deliveries(db) == 1


@pytest.mark.parametrize(("role", "status"), [("anonymous", 302), ("volunteer", 403)])
def test_others_cannot_resend(make_app, db, role, status):
    app = make_app(**PLUGIN_ON)
    owner = make_user()
    project = ProjectFactory(owner=owner, webhook="https://hooks.example.org/in")
    [row] = log_deliveries(db, project, 1)
    if role == "volunteer":
        sign_in(app, make_user())
        token = csrf_token(app, "/account/profile")
    else:
        token = csrf_token(app)

    app.post_json(
        f"{webhook_url(project)}/{row.id}/resend",
        {},
        headers={**JSON, "X-CSRFToken": token},
        status=status,
    )

    assert count_deliveries(db) == 1


def test_a_delivery_of_another_project_is_not_found(make_app, db):
    app = make_app(**PLUGIN_ON)
    owner = make_user()
    mine = ProjectFactory(owner=owner, webhook="https://hooks.example.org/in")
    [theirs] = log_deliveries(db, ProjectFactory(webhook="https://other.example.org/"), 1)
    sign_in(app, owner)
    token = csrf_token(app, webhook_url(mine))

    app.post_json(
        f"{webhook_url(mine)}/{theirs.id}/resend",
        {},
        headers={**JSON, "X-CSRFToken": token},
        status=404,
    )

    assert count_deliveries(db) == 1


def test_resend_without_the_plugin_says_delivery_is_off(app, db):
    owner = make_user()
    project = ProjectFactory(owner=owner, webhook="https://hooks.example.org/in")
    [row] = log_deliveries(db, project, 1)
    sign_in(app, owner)
    page = app.get(webhook_url(project), headers=JSON).json

    body = app.post_json(
        f"{webhook_url(project)}/{row.id}/resend",
        {},
        headers={**JSON, "X-CSRFToken": page["csrf"]},
    ).json

    assert page["can_resend"] is False
    assert (body["status"], body["flash"]) == (
        "error",
        "Webhook delivery is switched off on this server (plugins.webhooks).",
    )
    assert count_deliveries(db) == 1


def test_resend_without_a_webhook_url_says_so(make_app, db):
    app = make_app(**PLUGIN_ON)
    owner = make_user()
    project = ProjectFactory(owner=owner, webhook=None)
    [row] = log_deliveries(db, project, 1)
    sign_in(app, owner)
    token = csrf_token(app, webhook_url(project))

    body = app.post_json(
        f"{webhook_url(project)}/{row.id}/resend",
        {},
        headers={**JSON, "X-CSRFToken": token},
    ).json

    assert body["status"] == "error"
    assert "no webhook URL" in body["flash"]
    assert count_deliveries(db) == 1


def test_when_webhooks_are_a_pro_feature_only_pros_and_admins_see_the_log(make_app, db):
    owner, pro_owner, admin = make_user(), make_user(pro=True), make_user(admin=True)
    project = ProjectFactory(owner=owner, coowners=[pro_owner])
    statuses = {}

    for user in (owner, pro_owner, admin):
        app = make_app(pro_features="webhooks")
        sign_in(app, user)
        statuses[user.name] = app.get(webhook_url(project), headers=JSON, status="*").status_int

    assert statuses == {owner.name: 403, pro_owner.name: 200, admin.name: 200}


def test_deleting_the_project_deletes_its_log(db):
    from core.models import Project
    from core.services.project import delete_project

    project = ProjectFactory()
    log_deliveries(db, project, 2)

    delete_project(db, db.get(Project, project.id))
    db.commit()

    assert count_deliveries(db) == 0
