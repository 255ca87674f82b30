"""Found by the outside attack on issue 17: a draft's contribution pages (newtask, task/<id>,
tutorial) gave anyone the draft's record, presenter and tutorial, and a signed tutorial frame,
while its info page and /api/project/<id> answer 401/403 (decision 24)."""

import pytest

from tests.factories import ProjectFactory, TaskFactory
from tests.functional.web.conftest import JSON, make_user, sign_in

PRESENTER = "<p>draft presenter: unreleased instructions</p>"
TUTORIAL = "<p>draft tutorial: unreleased instructions</p>"


@pytest.fixture
def draft(db):
    info = {"task_presenter": PRESENTER, "tutorial": TUTORIAL}
    owner = make_user()
    project = ProjectFactory(owner=owner, info=info, published=False)
    task = TaskFactory(project=project)
    db.commit()
    return project, task, owner


def pages(project, task) -> list[str]:
    base = f"/project/{project.short_name}"
    return [f"{base}/newtask", f"{base}/task/{task.id}", f"{base}/tutorial"]


@pytest.mark.parametrize(("role", "status"), [("anonymous", 401), ("volunteer", 403)])
def test_a_drafts_contribution_pages_show_nothing_of_it(app, db, draft, role, status):
    project, task, _owner = draft
    if role == "volunteer":
        sign_in(app, make_user())
    for path in pages(project, task):
        body = app.get(path, headers=JSON, status=status)
        html = app.get(path, status=(302 if role == "anonymous" else 403))

        for response in (body, html):
            assert PRESENTER not in response.text
            assert TUTORIAL not in response.text
            assert "/presenter/" not in response.text
        assert "project" not in body.json


def test_a_drafts_owner_still_tries_it(app, db, draft):
    project, task, owner = draft
    sign_in(app, owner)
    for path in pages(project, task):
        body = app.get(path, headers=JSON).json

        assert body["project"]["id"] == project.id
        assert body["frame"]["url"].startswith(f"/presenter/{project.short_name}/")
