"""Issue 19's attack on the API lists: signed-in lists by the shape cache, api keys read
outside the request's transaction, the shared cache of anonymous answers."""

import pytest
from sqlalchemy import update

from core.models import Task
from tests.factories import ProjectFactory, TaskFactory, UserFactory
from tests.functional.web.conftest import sign_in


@pytest.fixture
def cached(make_app, redis_client, redis_url):
    return make_app(redis__url=redis_url)


def _session_cookie(app, user) -> str:
    sign_in(app, user)
    value = app.cookies["crowdnest_session"]
    app.reset()
    return value


def test_a_session_cookie_with_blanks_is_not_stored_for_anonymous_callers(cached, db):
    owner = UserFactory()
    draft = ProjectFactory(owner=owner, published=False)
    TaskFactory(project=draft)
    cookie = f"crowdnest_session ={_session_cookie(cached, owner)}"
    url = "/api/project?limit=9&orderby=name"
    tasks = f"/api/task?project_id={draft.id}&limit=9"

    # WebOb reads the session out of this header: the owner's own lists.
    assert cached.get(url, headers={"Cookie": cookie}).json[0]["secret_key"]
    assert len(cached.get(tasks, headers={"Cookie": cookie}).json) == 1

    # An anonymous caller gets the anonymous answers, not the stored signed-in ones.
    assert cached.get(url).json == []
    assert cached.get(tasks).json == []


def test_a_host_header_does_not_choose_the_links_of_cached_answers(cached, db):
    TaskFactory(project=ProjectFactory())
    url = "/api/task?limit=1"
    poisoned = cached.get(url, extra_environ={"HTTP_HOST": "evil.example"}).json
    assert "http://evil.example/api/task/" in poisoned[0]["link"]

    answer = cached.get(url, extra_environ={"HTTP_HOST": "crowdnest.example.org"}).json
    assert "evil.example" not in answer[0]["link"] + "".join(answer[0]["links"])
    assert answer[0]["link"].startswith("<link rel='self' title='task' href='http://crowdnest")


def test_an_api_key_after_a_semicolon_is_not_cached(cached, db):
    owner = UserFactory()
    draft = ProjectFactory(owner=owner, published=False)
    task = TaskFactory(project=draft, info={"v": 1})
    # WebOb splits the query string on `;` too: this request is the owner's.
    url = f"/api/task?project_id={draft.id}&limit=9;api_key={owner.api_key}"
    assert cached.get(url).json[0]["info"] == {"v": 1}
    db.execute(update(Task).where(Task.id == task.id).values(info={"v": 2}))
    db.commit()

    assert cached.get(url).json[0]["info"] == {"v": 2}
