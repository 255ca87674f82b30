"""Attacks on issue 19's branches (answers' rules in one place, pro plugins, lean schedulers,
the authenticated lists' shape cache), each a regression test of a finding."""

import pytest
from sqlalchemy import select

from core.models import TaskRun
from tests import factories
from tests.functional.api.test_delivery import _handed, _project
from tests.functional.api.test_delivery import apps as apps


def _token(app, project) -> str:
    return app.get(
        f"/api/auth/project/{project.short_name}/token",
        headers={"Authorization": project.secret_key},
    ).text


def test_an_external_users_hand_out_is_not_answered_without_their_token(make_app, db):
    """POST /api/taskrun?external_uid=foo without a project token, the body naming no external
    user: the guard took the hand-out the partner app had asked for foo (its key is the
    query's) and stored an answer to a task this caller never requested, attributed to their
    IP; foo's own answer was then refused ("You must request a task first!")."""
    project = factories.ProjectFactory()
    factories.TaskFactory(project=project, n_answers=2)
    db.commit()
    partner = make_app()
    bearer = {"Authorization": f"Bearer {_token(partner, project)}"}
    task = partner.get(f"/api/project/{project.id}/newtask?external_uid=foo", headers=bearer).json

    stolen = make_app().post_json(
        "/api/taskrun?external_uid=foo",
        {"project_id": project.id, "task_id": task["id"], "info": "not foo's"},
        extra_environ={"REMOTE_ADDR": "10.9.9.9"},
        expect_errors=True,
    )
    legit = partner.post_json(
        "/api/taskrun?external_uid=foo",
        {"project_id": project.id, "task_id": task["id"], "external_uid": "foo", "info": "foo"},
        headers=bearer,
        expect_errors=True,
    )

    assert stolen.status_int == 403, stolen.text[:300]
    assert legit.status_int == 200, legit.text[:300]
    runs = db.scalars(select(TaskRun).where(TaskRun.task_id == task["id"])).all()
    assert [(run.external_uid, run.user_ip) for run in runs] == [("foo", None)]


@pytest.mark.parametrize(
    "path", ["/api/project/%C2%B2/newtask", "/api/project/%C2%B2/userprogress"]
)
def test_a_superscript_digit_as_project_is_a_404(app, db, path):
    """GET /api/project/²/newtask (and /userprogress): str.isdigit() takes "²", int() does
    not: a 500 instead of the project's 404 (PostgreSQL and SQLite, lean path or not)."""
    response = app.get(path, expect_errors=True)

    assert response.status_int == 404, response.text[:300]


@pytest.mark.parametrize("page", ["auditlog", "webhook"])
def test_a_superscript_page_number_of_a_pro_page_is_a_404(app, db, page):
    """/project/<short>/auditlog?page=² (and /webhook, pages now in plugins/pro/): isdigit()
    took "²" and int() raised, a 500 for the project's owner."""
    owner = factories.UserFactory()
    project = factories.ProjectFactory(owner=owner)
    db.commit()

    response = app.get(
        f"/project/{project.short_name}/{page}?page=%C2%B2",
        headers={"Authorization": owner.api_key},
        expect_errors=True,
    )

    assert response.status_int == 404, response.text[:300]


def test_a_superscript_expiry_of_a_presenter_frame_is_refused(app, db):
    """/presenter/<short>/newtask?expires=²&sig=…: a 500 instead of the refused frame (403)."""
    project = factories.ProjectFactory()
    db.commit()

    response = app.get(
        f"/presenter/{project.short_name}/newtask?expires=%C2%B2&sig=x&origin=http://a.example",
        expect_errors=True,
    )

    assert response.status_int == 403, response.text[:300]


def test_a_superscript_number_of_tweets_is_the_importers_error():
    """The twitter importer's max_tweets "²": a ValueError (a 500 on the import form)."""
    from core.services.importer import ImporterError
    from plugins.importers.twitter import max_tweets

    with pytest.raises(ImporterError):
        max_tweets("²")


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30])
def test_an_answer_with_an_integer_beyond_64_bits_is_refused_on_both_paths(apps, db, number):
    """{"info": 18446744073709551616}: orjson (the lean path) read it as a float and stored
    1.8446744073709552e+19; the application (json) refuses it, 415 "integer out of range"."""
    lean, _spy, plain = apps
    project = _project()
    factories.TaskFactory(project=project, n_answers=5)
    user = factories.UserFactory()
    db.commit()
    for app in (lean, plain):
        task = _handed(app, project, user)
        body = f'{{"project_id": {project.id}, "task_id": {task["id"]}, "info": {number}}}'

        response = app.post(
            f"/api/taskrun?api_key={user.api_key}",
            body,
            headers={"Content-Type": "application/json"},
            expect_errors=True,
        )

        assert response.status_int == 415, (app is lean, response.text[:300])
    assert db.scalars(select(TaskRun)).all() == []


def test_the_community_page_hides_a_privacy_mode_contributor_as_its_leaderboard_does(app, db):
    """/account/ gave top_users the leaderboard's rows (a contributor in privacy mode shown by
    name only), but the same page's `accounts` and `update_feed` still showed their full name,
    public info and creation time (JSON and HTML)."""
    from tests.functional.web.conftest import JSON, make_user

    hidden = make_user(fullname="Secret Person", privacy_mode=True, info={"avatar": "a.png"})
    factories.TaskRunFactory(user=hidden, task__project=factories.ProjectFactory())
    db.commit()

    page = app.get("/account/", headers=JSON).json
    html = app.get("/account/").text

    assert "Secret Person" not in str(page) and "Secret Person" not in html
    (account,) = page["accounts"]
    assert (account["fullname"], account["info"], account["created"]) == (hidden.name, {}, None)
    mine = [entry for entry in page["update_feed"] if entry.get("name") == hidden.name]
    assert mine and all(entry["info"] == {} for entry in mine)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_an_answer_with_a_number_json_cannot_hold_is_refused(apps, db, number):
    """{"info": {"a": NaN}} (or 1e400, read as inf): json.loads took them and the answer was
    stored with null in their place (PostgreSQL and SQLite), a 200; now a 415 on both paths."""
    lean, _spy, plain = apps
    project = _project()
    factories.TaskFactory(project=project, n_answers=5)
    user = factories.UserFactory()
    db.commit()
    for app in (lean, plain):
        task = _handed(app, project, user)
        body = (
            f'{{"project_id": {project.id}, "task_id": {task["id"]}, "info": {{"a": {number}}}}}'
        )

        response = app.post(
            f"/api/taskrun?api_key={user.api_key}",
            body,
            headers={"Content-Type": "application/json"},
            expect_errors=True,
        )

        assert response.status_int == 415, (app is lean, response.text[:300])
    assert db.scalars(select(TaskRun)).all() == []


def test_a_cached_anonymous_list_keeps_the_links_of_each_host(
    make_app, db, redis_client, redis_url
):
    """With Redis (production), an anonymous GET /api/task with `Host: evil.example` stored
    its body, links built on that Host, and every anonymous client then got links to
    http://evil.example/api/... (the cache key had no host): a poisoned shared cache."""
    factories.TaskFactory(project=factories.ProjectFactory())
    db.commit()
    app = make_app(redis__url=redis_url)

    poisoned = app.get("/api/task?limit=1", headers={"Host": "evil.example"}).json
    served = app.get("/api/task?limit=1").json

    assert "evil.example" in poisoned[0]["link"]
    assert "evil.example" not in str(served), served


def test_an_api_key_after_a_semicolon_is_never_cached(make_app, db, redis_client, redis_url):
    """GET /api/project?limit=3;api_key=K: WebOb reads api_key (the owner's answer, with the
    secret key), the cache's parser did not (no "&"): the signed-in answer was stored and
    served again for that URL after the key was replaced."""
    from core.models import User

    owner = factories.UserFactory()
    factories.ProjectFactory(owner=owner)
    db.commit()
    app = make_app(redis__url=redis_url)
    url = f"/api/project?limit=3;api_key={owner.api_key}"

    assert "secret_key" in app.get(url).json[0]
    db.get(User, owner.id).api_key = "replaced"
    db.commit()

    assert "secret_key" not in app.get(url).json[0]
