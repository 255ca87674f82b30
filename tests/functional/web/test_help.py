"""Help pages: the API guide and the configurable texts."""

import pytest

from tests.factories import ProjectFactory
from tests.functional.web.conftest import JSON

TEXT_PAGES = [
    ("/help/privacy", "Privacy Policy"),
    ("/help/cookies-policy", "Help: Cookies Policy"),
    ("/help/terms-of-use", "Help: Terms of Use"),
    ("/help/about", "About"),
]


@pytest.mark.parametrize(("url", "title"), TEXT_PAGES)
def test_text_pages_give_content_and_title(app, db, url, title):
    body = app.get(url, headers=JSON).json
    page = app.get(url)

    assert set(body) == {"content", "title", "template"}
    assert body["title"] == title
    assert body["content"].strip().startswith("<")
    assert f"<h1>{title}</h1>" in page.text


def test_texts_come_from_a_file_or_the_setting(make_app, db, tmp_path):
    policy = tmp_path / "privacy.html"
    policy.write_text("<p>Our own policy</p>", encoding="utf-8")
    app = make_app(help__privacy=str(policy), help__terms_of_use="<p>Inline terms</p>")

    privacy = app.get("/help/privacy", headers=JSON).json
    terms = app.get("/help/terms-of-use")

    assert privacy["content"] == "<p>Our own policy</p>"
    assert "<p>Inline terms</p>" in terms.text


def test_api_help_names_an_example_project(app, db):
    project = ProjectFactory()

    body = app.get("/help/api", headers=JSON).json
    page = app.get("/help/api")

    assert body == {"project_id": project.id, "title": "API Help", "template": "help/api.html"}
    assert f"/api/project/{project.id}" in page.text


def test_api_help_without_projects(app, db):
    assert app.get("/help/api", headers=JSON).json["project_id"] is None
