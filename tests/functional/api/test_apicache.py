"""The shared cache of anonymous /api reads (core.apicache) and table generations.

The `db` fixture's session is not tracked (its engine has no Redis), so a change made through it
is invisible to the cache: that is how these tests tell a cached answer from a fresh one.
"""

import pytest
import redis
from sqlalchemy import delete, update

from core import generations
from core.apicache import ApiCache
from core.db import get_engine, get_session_factory
from core.models import Category, Task
from tests.factories import ProjectFactory, TaskFactory, UserFactory

TASKS = "/api/task?project_id={}&limit=10"


@pytest.fixture
def cached(make_app, redis_client, redis_url):
    return make_app(redis__url=redis_url)


def _untracked_info(db, task_id, info):
    db.execute(update(Task).where(Task.id == task_id).values(info=info))
    db.commit()


def test_anonymous_list_is_served_from_the_cache_until_a_write(cached, db):
    owner = UserFactory()
    project = ProjectFactory(owner=owner)
    task = TaskFactory(project=project, info={"v": 1})
    url = TASKS.format(project.id)
    first = cached.get(url)
    _untracked_info(db, task.id, {"v": 2})

    again = cached.get(url)
    assert again.json == first.json
    assert again.json[0]["info"] == {"v": 1}

    # A committed write through the application bumps the task table's generation.
    cached.put_json(f"/api/task/{task.id}?api_key={owner.api_key}", {"info": {"v": 3}})
    fresh = cached.get(url)
    assert fresh.json[0]["info"] == {"v": 3}


def test_hit_keeps_the_headers_and_counts_the_rate_limit(cached, db):
    project = ProjectFactory()
    TaskFactory(project=project)
    url = TASKS.format(project.id)
    miss = cached.get(url)
    hit = cached.get(url)

    assert hit.body == miss.body
    for name in ("Content-Type", "X-Content-Type-Options", "Access-Control-Expose-Headers"):
        assert hit.headers[name] == miss.headers[name]
    assert (
        int(hit.headers["X-RateLimit-Remaining"]) == int(miss.headers["X-RateLimit-Remaining"]) - 1
    )


def test_cached_answers_are_refused_over_the_rate_limit(make_app, redis_client, redis_url, db):
    limited = make_app(redis__url=redis_url, ratelimit__limit="2")
    project = ProjectFactory()
    url = TASKS.format(project.id)
    statuses = [limited.get(url, expect_errors=True).status_int for _ in range(3)]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize("credential", ["api_key", "authorization", "session", "related"])
def test_callers_with_credentials_or_other_tables_are_not_cached(cached, db, credential):
    owner = UserFactory()
    project = ProjectFactory(owner=owner)
    task = TaskFactory(project=project, info={"v": 1})
    url, headers = TASKS.format(project.id), {}
    if credential == "api_key":
        url += f"&api_key={owner.api_key}"
    elif credential == "authorization":
        headers["Authorization"] = owner.api_key
    elif credential == "session":
        cached.set_cookie("crowdnest_session", "anything")
    else:
        url += "&related=true"
    cached.get(url, headers=headers)
    _untracked_info(db, task.id, {"v": 2})

    assert cached.get(url, headers=headers).json[0]["info"] == {"v": 2}


def test_answering_a_task_refreshes_the_task_and_taskrun_lists(cached, db):
    project = ProjectFactory(published=True)
    task = TaskFactory(project=project, n_answers=1)
    tasks_url = TASKS.format(project.id)
    runs_url = f"/api/taskrun?project_id={project.id}"
    assert cached.get(tasks_url).json[0]["state"] == "ongoing"
    assert cached.get(runs_url).json == []

    cached.get(f"/api/project/{project.id}/newtask")
    cached.post_json("/api/taskrun", {"project_id": project.id, "task_id": task.id, "info": "yes"})

    assert cached.get(tasks_url).json[0]["state"] == "completed"
    assert len(cached.get(runs_url).json) == 1


def test_bulk_statements_and_deletes_bump_generations(cached, db, redis_client):
    owner = UserFactory()
    project = ProjectFactory(owner=owner)
    task = TaskFactory(project=project)
    url = TASKS.format(project.id)
    assert len(cached.get(url).json) == 1
    before = int(redis_client.get("crowdnest:gen:task") or 0)

    cached.delete(f"/api/task/{task.id}?api_key={owner.api_key}", status=204)

    assert int(redis_client.get("crowdnest:gen:task")) > before
    assert cached.get(url).json == []


def test_only_committed_writes_bump_generations(database_url, redis_client, redis_url):
    engine = get_engine(
        {"sqlalchemy.url": database_url, "redis.url": redis_url, "api.cache": True}
    )
    factory = get_session_factory(engine)
    try:
        with factory() as session:
            session.add(Category(name="Rolled back", short_name="rolled", description=""))
            session.flush()
            session.rollback()
        assert redis_client.get("crowdnest:gen:category") is None

        with factory() as session:
            category = Category(name="Kept", short_name="kept", description="")
            session.add(category)
            session.commit()
            assert redis_client.get("crowdnest:gen:category") == b"1"
            session.execute(delete(Category).where(Category.id == category.id))
            session.commit()
        assert redis_client.get("crowdnest:gen:category") == b"2"
    finally:
        generations.untrack(engine)
        engine.dispose()


def test_cache_trouble_answers_from_the_database(cached, db, monkeypatch):
    project = ProjectFactory()
    task = TaskFactory(project=project, info={"v": 1})
    url = TASKS.format(project.id)
    cached.get(url)
    _untracked_info(db, task.id, {"v": 2})

    def unreachable(*args, **kwargs):
        # What redis-py raises when the server is gone (core.redis.UNREACHABLE).
        raise redis.exceptions.ConnectionError("Redis is down")

    monkeypatch.setattr(ApiCache, "lookup", unreachable)
    assert cached.get(url).json[0]["info"] == {"v": 2}


@pytest.mark.parametrize("item", [False, True])
def test_cached_and_uncached_requests_share_one_rate_limit_bucket(
    make_app, redis_client, redis_url, db, item
):
    limited = make_app(redis__url=redis_url, ratelimit__limit="3")
    project = ProjectFactory()
    task = TaskFactory(project=project)
    url = f"/api/task/{task.id}?limit=1" if item else TASKS.format(project.id)

    limited.get(url)  # counted by the cache's lookup
    limited.get(url)  # a hit, counted the same way
    limited.get(url + "&related=true")  # not cacheable: counted by the application
    refused = limited.get(url, status=429)

    assert refused.json["exception_cls"] == "TooManyRequests"
