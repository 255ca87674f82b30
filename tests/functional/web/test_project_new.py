"""/project/new: any signed-in user creates a draft project and becomes its owner."""

import pytest
from sqlalchemy import select

from core.models import Auditlog, Category, Project, ProjectStats
from tests.factories import CategoryFactory, ProjectFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user

NEW = "/project/new"


def fields(**changes) -> dict:
    data = {
        "name": "Count the birds",
        "short_name": "birds",
        "description": "Count birds in pictures",
        "long_description": "We need *your* help.",
    }
    return {**data, **changes}


def test_get_gives_the_documented_form(signed_in):
    app = signed_in(make_user())

    body = app.get(NEW, headers=JSON).json

    assert body["errors"] is False
    assert {"name", "short_name", "description", "long_description", "csrf", "errors"} <= set(
        body["form"]
    )
    assert body["form"]["errors"] == {}
    assert (body["template"], body["title"]) == ("projects/new.html", "Create a Project")


def test_anonymous_is_sent_to_sign_in(app):
    json_page = app.get(NEW, headers=JSON, status=302)
    html = app.get(NEW, status=302)

    assert json_page.location == html.location
    assert html.location.endswith("/account/signin?next=/project/new")


def test_create_makes_the_caller_owner_and_redirects_to_update(signed_in, db):
    user = make_user()
    category = CategoryFactory()
    app = signed_in(user)
    token = csrf_token(app, NEW)

    body = app.post_json(NEW, fields(category_id=category.id), headers={"X-CSRFToken": token}).json

    assert body == {
        "next": "/project/birds/update",
        "flash": "Project created!",
        "status": "success",
    }
    project = db.scalars(select(Project).where(Project.short_name == "birds")).one()
    assert project.owner_id == user.id
    assert project.owners_ids == [user.id]
    assert project.published is False
    assert project.category_id == category.id
    assert db.scalars(select(ProjectStats).where(ProjectStats.project_id == project.id)).one()
    assert db.scalars(select(Auditlog.action).where(Auditlog.project_id == project.id)).all() == [
        "create"
    ]


def test_description_comes_from_the_long_description(signed_in, db):
    app = signed_in(make_user())
    token = csrf_token(app, NEW)
    long_text = "# Title\n\n<b>Bold</b> " + "word " * 100

    app.post_json(
        NEW, fields(description="", long_description=long_text), headers={"X-CSRFToken": token}
    )

    project = db.scalars(select(Project).where(Project.short_name == "birds")).one()
    assert project.description.startswith("Title Bold word word")
    assert len(project.description) == 255


def test_a_fresh_site_gets_a_default_category(signed_in, db):
    app = signed_in(make_user())
    token = csrf_token(app, NEW)

    app.post_json(NEW, fields(), headers={"X-CSRFToken": token})

    project = db.scalars(select(Project)).one()
    assert db.get(Category, project.category_id) is not None


def test_without_a_category_the_project_goes_into_the_first(signed_in, db):
    first, _ = CategoryFactory(), CategoryFactory()
    app = signed_in(make_user())
    token = csrf_token(app, NEW)

    app.post_json(NEW, fields(), headers={"X-CSRFToken": token})

    assert db.scalars(select(Project)).one().category_id == first.id


def test_create_through_the_html_form(signed_in, db):
    app = signed_in(make_user())
    form = app.get(NEW).forms["new-project-form"]
    for key, value in fields().items():
        form[key] = value

    response = form.submit(status=302)

    assert response.location.endswith("/project/birds/update")
    assert db.scalars(select(Project.name)).all() == ["Count the birds"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"short_name": ""}, "short_name"),
        ({"short_name": "has space"}, "short_name"),
        ({"short_name": "new"}, "short_name"),
        ({"description": "", "long_description": ""}, "description"),
        ({"description": "x" * 256}, "description"),
        ({"category_id": 999999}, "category_id"),
    ],
)
def test_bad_input_shows_errors_and_saves_nothing(signed_in, db, changes, field):
    app = signed_in(make_user())
    token = csrf_token(app, NEW)

    body = app.post_json(NEW, fields(**changes), headers={"X-CSRFToken": token}).json

    assert field in body["form"]["errors"]
    assert body["errors"] is True
    assert (body["flash"], body["status"]) == ("Please correct the errors", "error")
    assert db.scalars(select(Project)).all() == []


def test_taken_names_are_refused(signed_in, db):
    taken = ProjectFactory(name="Birds", short_name="birds")
    app = signed_in(make_user())
    token = csrf_token(app, NEW)

    body = app.post_json(
        NEW, fields(name="BIRDS", short_name="Birds"), headers={"X-CSRFToken": token}
    ).json

    assert body["form"]["errors"]["name"] == ["This name is already taken"]
    assert body["form"]["errors"]["short_name"] == ["This short name is already taken"]
    assert db.scalars(select(Project.id)).all() == [taken.id]


def test_html_errors_are_shown_next_to_the_field(signed_in):
    app = signed_in(make_user())
    form = app.get(NEW).forms["new-project-form"]
    form["name"] = "<script>x</script>"
    form["short_name"] = "a b"

    page = form.submit(status=200)

    assert 'id="short_name-errors"' in page.text
    assert "&lt;script&gt;x&lt;/script&gt;" in page.text
    assert "<script>x</script>" not in page.text


def test_create_needs_the_csrf_token(signed_in, db):
    app = signed_in(make_user())

    body = app.post_json(NEW, fields(), status=400).json

    assert body["description"] == "CSRF validation failed."
    assert db.scalars(select(Project)).all() == []
