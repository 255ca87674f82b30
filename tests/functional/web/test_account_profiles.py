"""/account/<name>/ (own or public profile) and /account/<name>/projects."""

import pytest

from tests.factories import ProjectFactory, TaskRunFactory
from tests.functional.web.conftest import JSON, make_user, sign_in


@pytest.fixture
def people(db):
    """ada owns a published and a draft project and answered someone else's project."""
    ada = make_user(name="ada", fullname="Ada Lovelace", info={"container": "u1", "k": "x"})
    published = ProjectFactory(owner=ada, name="Birds", short_name="birds")
    draft = ProjectFactory(owner=ada, name="Draft", short_name="draft", published=False)
    elsewhere = ProjectFactory(name="Moths", short_name="moths")
    TaskRunFactory(user=ada, task__project=elsewhere)
    return {"ada": ada, "published": published, "draft": draft, "elsewhere": elsewhere}


def test_public_profile_for_anonymous_callers(app, people):
    ada = people["ada"]

    body = app.get("/account/ada/", headers=JSON).json

    assert body["template"] == "account/public_profile.html"
    assert body["title"] == "Ada Lovelace · User Profile"
    assert body["user"] == {
        "created": ada.created,
        "name": "ada",
        "fullname": "Ada Lovelace",
        "info": {"container": "u1"},
        "locale": ada.locale,
        "n_answers": 1,
        "registered_ago": "just now",
        "rank": 1,
        "score": 1,
    }
    assert [p["short_name"] for p in body["projects"]] == ["moths"]
    assert body["projects_contrib"] == body["projects"]
    assert [p["short_name"] for p in body["projects_created"]] == ["birds"]
    assert set(body["projects_created"][0]) >= {
        "description",
        "info",
        "n_tasks",
        "n_volunteers",
        "name",
        "overall_progress",
        "short_name",
    }
    assert body["can_update"] is False
    assert ada.api_key not in str(body) and ada.email_addr not in str(body)


def test_public_profile_without_trailing_slash(app, people):
    assert app.get("/account/ada", headers=JSON).json["user"]["name"] == "ada"


def test_another_volunteer_sees_the_public_profile(app, people):
    sign_in(app, make_user())

    body = app.get("/account/ada/", headers=JSON).json

    assert "api_key" not in body["user"]
    assert [p["short_name"] for p in body["projects_created"]] == ["birds"]


def test_admin_sees_drafts_and_may_update(app, people):
    sign_in(app, make_user(admin=True))

    body = app.get("/account/ada/", headers=JSON).json

    assert [p["short_name"] for p in body["projects_created"]] == ["birds", "draft"]
    assert body["can_update"] is True
    assert "api_key" not in body["user"]


def test_own_profile_has_private_fields(app, people):
    ada = people["ada"]
    sign_in(app, ada)

    body = app.get("/account/ada/", headers=JSON).json

    assert body["template"] == "account/profile.html"
    assert body["user"]["api_key"] == ada.api_key
    assert body["user"]["email_addr"] == ada.email_addr
    assert body["user"]["total"] == 2  # ada and the owner of "moths"
    assert [p["short_name"] for p in body["projects_published"]] == ["birds"]
    assert [p["short_name"] for p in body["projects_draft"]] == ["draft"]
    assert [p["short_name"] for p in body["projects_contrib"]] == ["moths"]
    assert body["can_update"] is True
    assert "passwd_hash" not in str(body)


def test_restricted_profile(app, db):
    make_user(name="hidden", fullname="Hidden Person", restrict=True)

    body = app.get("/account/hidden/", headers=JSON).json
    page = app.get("/account/hidden/")

    assert body["title"] == "User data is restricted"
    assert body["user"] == {"name": "hidden"}
    assert body["projects"] == body["projects_created"] == []
    assert "Hidden Person" not in page.text
    assert "restricted the use of their data" in page.text


def test_unknown_account_is_404(app, db):
    assert app.get("/account/nobody/", headers=JSON, status=404).json["code"] == 404
    app.get("/account/nobody", status=404)


def test_profiles_in_html(app, people):
    public = app.get("/account/ada/")
    sign_in(app, people["ada"])
    own = app.get("/account/ada/")

    assert '<h1 class="mb-0">Ada Lovelace</h1>' in public.text
    assert "Birds" in public.text and "Draft" not in public.text
    assert people["ada"].api_key not in public.text
    assert people["ada"].api_key in own.text
    assert "/account/ada/update" in own.text


def test_own_projects_for_the_account_itself(app, people):
    sign_in(app, people["ada"])

    body = app.get("/account/ada/projects", headers=JSON).json
    page = app.get("/account/ada/projects")

    assert (body["template"], body["title"]) == ("account/projects.html", "Projects")
    assert [p["short_name"] for p in body["projects_published"]] == ["birds"]
    assert [p["short_name"] for p in body["projects_draft"]] == ["draft"]
    draft = body["projects_draft"][0]
    assert draft["owner_id"] == people["ada"].id
    assert {"id", "n_tasks", "n_volunteers", "overall_progress", "info"} <= set(draft)
    assert "Draft" in page.text and "Birds" in page.text


def test_own_projects_include_coowned_ones(app, people):
    coowner = make_user()
    ProjectFactory(name="Shared", short_name="shared", coowners=[coowner])
    sign_in(app, coowner)

    body = app.get(f"/account/{coowner.name}/projects", headers=JSON).json

    assert [p["short_name"] for p in body["projects_published"]] == ["shared"]


def test_own_projects_of_someone_else_is_forbidden(app, people):
    sign_in(app, make_user())

    app.get("/account/ada/projects", headers=JSON, status=403)


def test_own_projects_are_not_for_admins(app, people):
    """behavior.md 9.3: self only, else 403 (admins see drafts on the draft list instead)."""
    sign_in(app, make_user(admin=True))

    app.get("/account/ada/projects", headers=JSON, status=403)
    app.get("/account/ada/applications", headers=JSON, status=403)


def test_own_projects_for_anonymous_callers(app, people):
    app.get("/account/ada/projects", headers=JSON, status=302)
    page = app.get("/account/ada/projects", status=302)

    assert "/account/signin?next=/account/ada/projects" in page.location
