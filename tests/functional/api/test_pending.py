"""Pending hand-outs (decision 25, core.services.pending): a task handed out and not yet
answered counts towards its n_answers, on every path a newtask takes: the lean path (Redis),
the application's with Redis, and the application's without Redis (the process's own book).
"""

import time
from types import SimpleNamespace

import pytest

from core.services import pending
from tests.factories import ProjectFactory, TaskFactory, UserFactory
from tests.lean import Spy, lean_of

SCHEDULERS = "default breadth_first incremental locked user_pref"
PATHS = ["lean", "application", "no redis"]


@pytest.fixture(params=PATHS)
def served(request, make_app):
    """(app, spy or None): the app serving newtask by one of the three paths."""
    if request.param == "no redis":
        return make_app(plugins__schedulers=SCHEDULERS), None
    redis_url = request.getfixturevalue("redis_url")
    request.getfixturevalue("redis_client").flushdb()
    lean = "true" if request.param == "lean" else "false"
    app = make_app(redis__url=redis_url, plugins__schedulers=SCHEDULERS, delivery__lean=lean)
    if request.param != "lean":
        return app, None
    middleware = lean_of(app)
    middleware.forget_hints()
    spy = middleware.app = Spy(middleware.app)
    request.addfinalizer(lambda: setattr(middleware, "app", spy.app))
    return app, spy


def _project(sched="default", **info):
    return ProjectFactory(info={"task_presenter": "<div></div>", "sched": sched, **info})


def _ask(app, project, user, query=""):
    """The ids newtask hands `user`."""
    found = app.get(f"/api/project/{project.id}/newtask?api_key={user.api_key}{query}").json
    if isinstance(found, dict):
        return [found["id"]] if found else []
    return [task["id"] for task in found]


def _answer(app, project, user, task_id):
    body = {"project_id": project.id, "task_id": task_id, "info": {"answer": "yes"}}
    app.post_json(f"/api/taskrun?api_key={user.api_key}", body)


def _crowd(n):
    return [UserFactory() for _ in range(n)]


@pytest.mark.parametrize("sched", ["default", "depth_first", "breadth_first", "user_pref"])
def test_a_crowd_asking_at_once_is_spread_over_the_open_tasks(served, db, sched):
    app, spy = served
    project = _project(sched)
    tasks = [TaskFactory(project=project, n_answers=2) for _ in range(4)]
    db.commit()

    handed = [_ask(app, project, user) for user in _crowd(8)]

    # Two volunteers a task, in the scheduler's order: PYBOSSA hands all eight the first.
    assert sorted(ids[0] for ids in handed) == sorted(t.id for t in tasks for _ in range(2))
    assert spy is None or spy.calls == 0


def test_a_volunteer_asking_again_gets_the_same_task(served, db):
    app, spy = served
    project = _project()
    first, _second = (TaskFactory(project=project, n_answers=1) for _ in range(2))
    volunteer = UserFactory()
    db.commit()

    assert _ask(app, project, volunteer) == [first.id]
    # Their own hand-out fills the task (n_answers 1), and never counts against them.
    assert _ask(app, project, volunteer) == [first.id]
    assert spy is None or spy.calls == 0


def test_nobody_is_turned_away_while_a_task_they_have_not_answered_is_open(served, db):
    app, _spy = served
    project = _project()
    (task,) = [TaskFactory(project=project, n_answers=1)]
    db.commit()

    # The only task is full (one hand-out of one answer needed): it still goes to the others.
    assert [_ask(app, project, user) for user in _crowd(3)] == [[task.id]] * 3


def test_answering_releases_the_hand_out(served, db):
    app, _spy = served
    project = _project()
    first, second = (TaskFactory(project=project, n_answers=3) for _ in range(2))
    a, b, c, d = _crowd(4)
    db.commit()
    assert _ask(app, project, a) == [first.id]
    assert _ask(app, project, b) == [first.id]

    _answer(app, project, a, first.id)

    # One answer and b's hand-out: room for one more. Counted twice (a's hand-out kept), the
    # task would be full and c would get the second task.
    assert _ask(app, project, c) == [first.id]
    assert _ask(app, project, d) == [second.id]


def test_a_hand_out_lapses_after_the_projects_pending_ttl(served, db, monkeypatch):
    app, _spy = served
    project = _project(pending_ttl=30)
    first, second = (TaskFactory(project=project, n_answers=1) for _ in range(2))
    a, b, c = _crowd(3)
    db.commit()
    assert _ask(app, project, a) == [first.id]
    assert _ask(app, project, b) == [second.id]

    later = time.time() + 31
    monkeypatch.setattr(pending, "time", SimpleNamespace(time=lambda: later))

    # a never answered: 31 seconds on, the first task is open again.
    assert _ask(app, project, c) == [first.id]


def test_the_sites_pending_ttl_applies_without_a_projects(served, db, monkeypatch):
    app, _spy = served
    project = _project()
    first, second = (TaskFactory(project=project, n_answers=1) for _ in range(2))
    a, b = _crowd(2)
    db.commit()
    assert _ask(app, project, a) == [first.id]
    ttl = app.app.registry.settings["scheduler.pending_ttl"]

    monkeypatch.setattr(pending, "time", SimpleNamespace(time=lambda: time.time() + ttl - 5))
    assert _ask(app, project, b) == [second.id]
    monkeypatch.setattr(pending, "time", SimpleNamespace(time=lambda: time.time() + ttl + 5))
    assert _ask(app, project, UserFactory()) == [first.id]


def test_several_tasks_a_request_each_count(served, db):
    app, _spy = served
    project = _project()
    tasks = [TaskFactory(project=project, n_answers=1) for _ in range(4)]
    a, b = _crowd(2)
    db.commit()

    assert _ask(app, project, a, "&limit=2") == [tasks[0].id, tasks[1].id]
    assert _ask(app, project, b, "&limit=2") == [tasks[2].id, tasks[3].id]


def test_incremental_still_hands_out_one_task(served, db):
    app, _spy = served
    project = _project("incremental")
    tasks = [TaskFactory(project=project, n_answers=1) for _ in range(3)]
    a, b = _crowd(2)
    db.commit()

    handed = _ask(app, project, a, "&limit=1")
    assert handed == [tasks[0].id]
    # Its one task, from the rest: the first is held by a.
    assert len(_ask(app, project, b, "&limit=3")) == 1
    assert _ask(app, project, UserFactory(), "&limit=1") != handed


@pytest.mark.parametrize("sched", ["depth_first_all", "locked"])
def test_depth_first_all_and_locked_keep_their_rules(served, db, sched):
    app, _spy = served
    if sched == "locked" and app.app.registry.get("redis") is None:
        pytest.skip("locked needs Redis")
    project = _project(sched)
    first, second = (TaskFactory(project=project, n_answers=1) for _ in range(2))
    a, b = _crowd(2)
    db.commit()

    assert _ask(app, project, a) == [first.id]
    # depth_first_all: the same first task to all, as PYBOSSA; locked: its own reservation.
    assert _ask(app, project, b) == [first.id if sched == "depth_first_all" else second.id]


def test_a_projects_pending_ttl_is_read_with_bounds():
    settings = {"scheduler.pending_ttl": 600}
    assert pending.ttl_of(None, settings) == 600
    assert pending.ttl_of("45", settings) == 45
    assert pending.ttl_of(0, settings) == pending.SHORTEST
    assert pending.ttl_of(10**12, settings) == pending.LONGEST
    assert pending.ttl_of("soon", settings) == 600
    assert pending.ttl_of(True, settings) == 600


def test_the_lean_path_hands_a_short_read_to_the_application(
    make_app, redis_client, redis_url, db
):
    """The lean form reads as many spare candidates as this process last saw tasks marked full
    (a hint); marked since by another process, the Lua call finds too few and the application's
    path answers, reading the marks afresh."""
    redis_client.flushdb()
    lean = make_app(redis__url=redis_url, plugins__schedulers=SCHEDULERS)
    other = make_app(redis__url=redis_url, plugins__schedulers=SCHEDULERS, delivery__lean="false")
    middleware = lean_of(lean)
    middleware.forget_hints()
    spy = middleware.app = Spy(middleware.app)
    try:
        project = _project()
        tasks = [TaskFactory(project=project, n_answers=1) for _ in range(3)]
        a, b, c = _crowd(3)
        db.commit()
        assert _ask(lean, project, a) == [tasks[0].id]  # this process saw one task marked
        assert _ask(other, project, b) == [tasks[1].id]  # another marks the second

        assert _ask(lean, project, c) == [tasks[2].id]
        assert spy.calls == 1
        # The hint is now right: the next request is the lean path's again.
        assert _ask(lean, project, UserFactory()) == [tasks[0].id]
        assert spy.calls == 1
    finally:
        middleware.app = spy.app


def test_the_next_task_with_an_offset_is_another_than_the_one_held(served, db):
    """pybossa.js fetches the next task with offset=1 while the volunteer works on the first."""
    app, _spy = served
    project = _project()
    tasks = [TaskFactory(project=project, n_answers=1) for _ in range(4)]
    a, b = _crowd(2)
    db.commit()
    assert _ask(app, project, a) == [tasks[0].id]
    assert _ask(app, project, b) == [tasks[1].id]

    assert _ask(app, project, b, "&offset=1") == [tasks[2].id]
    assert _ask(app, project, a, "&offset=1") == [tasks[3].id]
