"""/project/<short_name>/coowners: the creator or an admin adds and removes co-owners."""

import pytest

from core.models import Project
from tests.functional.web.conftest import JSON, answer_of, csrf_token, make_user


def owners(db, project) -> list[int]:
    db.rollback()
    db.expire_all()
    return db.get(Project, project.id).owners_ids


def coowners_url(project) -> str:
    return f"/project/{project.short_name}/coowners"


@pytest.mark.parametrize("role", ["owner", "coowner", "admin"])
def test_owners_see_the_list(signed_in, project_roles, role):
    project, roles = project_roles
    app = signed_in(roles[role])

    body = app.get(coowners_url(project), headers=JSON).json

    assert [user["id"] for user in body["coowners"]] == project.owners_ids
    assert body["owner_id"] == project.owner_id
    assert body["can_manage"] is (role != "coowner")
    assert set(body["form"]) == {"user", "csrf", "errors"}
    assert body["template"] == "projects/coowners.html"
    assert all("email_addr" not in user and "api_key" not in user for user in body["coowners"])


@pytest.mark.parametrize(("role", "status"), [("anonymous", 302), ("volunteer", 403)])
def test_others_cannot_see_the_list(signed_in, project_roles, role, status):
    project, roles = project_roles
    app = signed_in(roles[role])

    assert answer_of(app.get(coowners_url(project), headers=JSON, status=status))["code"] == status


def test_search_finds_users_by_name_or_fullname(signed_in, project_roles):
    project, roles = project_roles
    make_user(name="ada_l", fullname="Ada Lovelace")
    make_user(name="grace", fullname="Grace Hopper")
    make_user(name="hidden_ada", fullname="Ada Hidden", restrict=True)
    app = signed_in(roles["owner"])
    token = csrf_token(app, coowners_url(project))

    body = app.post_json(
        coowners_url(project), {"user": "LOVE"}, headers={"X-CSRFToken": token}
    ).json
    wildcard = app.post_json(
        coowners_url(project), {"user": "%"}, headers={"X-CSRFToken": token}
    ).json

    assert [user["name"] for user in body["found"]] == ["ada_l"]
    assert wildcard["found"] == []


def test_search_needs_csrf(signed_in, project_roles):
    project, roles = project_roles
    app = signed_in(roles["owner"])

    app.post_json(coowners_url(project), {"user": "x"}, status=400)


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_add_and_remove_a_coowner(signed_in, project_roles, db, role):
    project, roles = project_roles
    newcomer = make_user()
    app = signed_in(roles[role])
    token = csrf_token(app, coowners_url(project))
    headers = {**JSON, "X-CSRFToken": token}

    added = app.post(
        f"/project/{project.short_name}/add_coowner/{newcomer.name}", headers=headers
    ).json
    with_newcomer = owners(db, project)
    removed = app.post(
        f"/project/{project.short_name}/del_coowner/{newcomer.name}", headers=headers
    ).json

    assert (added["next"], added["status"]) == (coowners_url(project), "success")
    assert newcomer.id in with_newcomer
    assert removed["status"] == "success"
    assert newcomer.id not in owners(db, project)


def test_add_by_get_with_the_token_in_the_query(signed_in, project_roles, db):
    project, roles = project_roles
    newcomer = make_user()
    app = signed_in(roles["owner"])
    token = csrf_token(app, coowners_url(project))

    app.get(f"/project/{project.short_name}/add_coowner/{newcomer.name}?csrf={token}", status=302)

    assert newcomer.id in owners(db, project)


def test_add_without_the_token_is_refused(signed_in, project_roles, db):
    project, roles = project_roles
    newcomer = make_user()
    app = signed_in(roles["owner"])

    app.get(f"/project/{project.short_name}/add_coowner/{newcomer.name}", status=400)

    assert newcomer.id not in owners(db, project)


def test_the_creator_cannot_be_removed(signed_in, project_roles, db):
    project, roles = project_roles
    app = signed_in(roles["admin"])
    token = csrf_token(app, coowners_url(project))

    body = app.post(
        f"/project/{project.short_name}/del_coowner/{roles['owner'].name}",
        headers={**JSON, "X-CSRFToken": token},
    ).json

    assert (body["flash"], body["status"]) == ("Cannot remove the project creator", "error")
    assert roles["owner"].id in owners(db, project)


@pytest.mark.parametrize(
    ("role", "status"), [("coowner", 403), ("volunteer", 403), ("anonymous", 302)]
)
def test_only_the_creator_or_an_admin_changes_the_owners(
    signed_in, project_roles, db, role, status
):
    project, roles = project_roles
    newcomer = make_user()
    app = signed_in(roles[role])
    token = csrf_token(app, "/account/signin" if role == "anonymous" else "/project/new")

    app.post(
        f"/project/{project.short_name}/add_coowner/{newcomer.name}",
        headers={**JSON, "X-CSRFToken": token},
        status=status,
    )

    assert newcomer.id not in owners(db, project)


def test_html_page_adds_through_the_found_list(signed_in, project_roles, db):
    project, roles = project_roles
    newcomer = make_user(fullname="Unique Person")
    app = signed_in(roles["owner"])
    form = app.get(coowners_url(project)).forms["search-form"]
    form["user"] = "Unique"
    page = form.submit(status=200)

    add_form = next(f for f in page.forms.values() if "add_coowner" in (f.action or ""))
    response = add_form.submit(status=302)

    assert "Unique Person" in page.text
    assert newcomer.id in owners(db, project)
    assert "is now a co-owner" in response.follow().text
