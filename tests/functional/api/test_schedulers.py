"""Scheduler plugins through newtask and taskrun: order, exclusions, locked reservations."""

from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from sqlalchemy import insert, select

from core.models import Task, TaskRun
from plugins.schedulers.base import PROBED, open_tasks, ordered, paged
from plugins.schedulers.locked import reservations
from tests.factories import ProjectFactory, TaskFactory, TaskRunFactory, UserFactory

ALL_SCHEDULERS = "default breadth_first incremental locked user_pref"


@pytest.fixture
def app(make_app):
    return make_app(plugins__schedulers=ALL_SCHEDULERS)


@pytest.fixture(params=["database", "redis"])
def locked_app(request, make_app):
    """An app with every scheduler on, its reservations in the database or in Redis."""
    if request.param == "database":
        yield make_app(plugins__schedulers=ALL_SCHEDULERS)
        return
    request.getfixturevalue("redis_client")
    yield make_app(
        plugins__schedulers=ALL_SCHEDULERS, redis__url=request.getfixturevalue("redis_url")
    )


@pytest.fixture
def clock(monkeypatch):
    """The reservations' clock, moved by hand instead of sleeping."""
    now = {"at": 1_900_000_000.0}
    monkeypatch.setattr(reservations, "now", lambda: now["at"])
    return now


def _project(sched, **kwargs):
    return ProjectFactory(info={"task_presenter": "<div></div>", "sched": sched}, **kwargs)


def _newtask(app, project, user=None, status=200, **params):
    if user is not None:
        params["api_key"] = user.api_key
    query = f"?{urlencode(params)}" if params else ""
    return app.get(f"/api/project/{project.id}/newtask{query}", status=status).json


def _ids(body) -> list:
    body = body if isinstance(body, list) else [body] if body else []
    return [task["id"] for task in body]


def _answer(app, user, task_id, project):
    body = {"project_id": project.id, "task_id": task_id, "info": {"answer": user.name}}
    return app.post_json(f"/api/taskrun?api_key={user.api_key}", body, expect_errors=True)


# --- breadth_first, depth_first and the choice of scheduler --------------------------------------


def test_breadth_first_serves_fewest_answers_first_and_skips_done_tasks(app, db):
    project = _project("breadth_first")
    volunteer = UserFactory()
    busy = TaskFactory(project=project, n_answers=5, n_task_runs=3)
    fresh = TaskFactory(project=project, n_answers=5, n_task_runs=0)
    some = TaskFactory(project=project, n_answers=5, n_task_runs=1)
    TaskFactory(project=project, n_answers=5, n_task_runs=5, state="completed")
    answered = TaskFactory(project=project, n_answers=5, n_task_runs=0)
    TaskRunFactory(task=answered, user=volunteer)

    body = _newtask(app, project, volunteer, limit=10)

    assert _ids(body) == [fresh.id, some.id, busy.id]


@pytest.mark.parametrize(
    ("kind", "run_of"),
    [
        ("user", lambda who: {"user_id": who}),
        ("external", lambda who: {"external_uid": who, "user_ip": "x"}),
        ("ip", lambda who: {"user_ip": who}),
    ],
)
def test_open_tasks_skip_answers_inside_and_past_the_probed_window(db, kind, run_of):
    """The first PROBED open tasks are checked one by one, those after them against all the
    volunteer's answers at once: the volunteer's answers are skipped in both, and only theirs."""
    project = _project("default")
    volunteer = UserFactory()
    who = {"user": volunteer.id, "external": "app-user-1", "ip": "pseudonym-1"}[kind]
    rows = [
        {"project_id": project.id, "info": {"n": n}, "n_answers": 5, "state": state}
        for n, state in enumerate(["completed"] * 3 + ["ongoing"] * (PROBED + 10))
    ]
    ids = sorted(db.scalars(insert(Task).returning(Task.id), rows))
    first_open = ids[3:]
    # Answered: the completed tasks, and every open one up to PROBED + 5 but three, two inside
    # the window (one answered by someone else) and one past its end.
    skipped = {7, 8, PROBED + 2}
    answered = ids[:3] + [t for n, t in enumerate(first_open[: PROBED + 5]) if n not in skipped]
    db.execute(
        insert(TaskRun),
        [{"project_id": project.id, "task_id": t, **run_of(who)} for t in answered],
    )
    # Another volunteer's answer excludes nothing.
    db.execute(
        insert(TaskRun), [{"project_id": project.id, "task_id": first_open[8], "user_ip": "y"}]
    )
    db.commit()

    options = SimpleNamespace(orderby="id", desc=False)
    query = paged(ordered(open_tasks(kind, Task.id), options))
    params = {"project_id": project.id, "who": who, "limit": 4, "offset": 0}

    found = list(db.scalars(query, params))

    assert found == [first_open[n] for n in (7, 8, PROBED + 2, PROBED + 5)]


def test_breadth_first_breaks_ties_by_the_requested_order(app, db):
    project = _project("breadth_first")
    low = TaskFactory(project=project, priority_0=0.1)
    high = TaskFactory(project=project, priority_0=0.9)

    body = _newtask(app, project, limit=2, orderby="priority_0", desc="true")

    assert _ids(body) == [high.id, low.id]


def test_unknown_sched_falls_back_to_the_default_of_the_ini(make_app, db):
    app = make_app(plugins__schedulers=ALL_SCHEDULERS, scheduler__default="breadth_first")
    project = _project("no-such-scheduler")
    first = TaskFactory(project=project, n_task_runs=1)
    second = TaskFactory(project=project, n_task_runs=0)

    assert _ids(_newtask(app, project, limit=2)) == [second.id, first.id]


def test_limit_defaults_to_one_and_is_clamped_to_100(app, db):
    project = _project("default")
    db.execute(insert(Task), [{"project_id": project.id, "n_answers": 1} for _ in range(105)])
    db.commit()

    assert isinstance(_newtask(app, project), dict)
    assert len(_newtask(app, project, limit=500)) == 100


# --- incremental ---------------------------------------------------------------------------------


def test_incremental_shows_the_latest_answer_without_storing_it(app, db):
    project = _project("incremental")
    top = TaskFactory(project=project, priority_0=1.0, n_answers=5, info={"q": "top"})
    TaskFactory(project=project, priority_0=0.5, n_answers=5)
    TaskRunFactory(task=top, info={"answer": "old"}, finish_time="2026-01-01T00:00:00.000000")
    TaskRunFactory(task=top, info={"answer": "new"}, finish_time="2026-02-01T00:00:00.000000")

    body = _newtask(app, project)

    assert body["id"] == top.id
    assert body["info"] == {"q": "top", "last_answer": {"answer": "new"}}
    assert app.get(f"/api/task/{top.id}").json["info"] == {"q": "top"}


def test_incremental_returns_one_task_among_the_highest_priorities(app, db):
    project = _project("incremental")
    best = {TaskFactory(project=project, priority_0=p).id for p in (0.9, 0.8)}
    TaskFactory(project=project, priority_0=0.1)

    body = _newtask(app, project, limit=2)

    assert isinstance(body, dict) and body["id"] in best
    assert "last_answer" not in body["info"]


# --- user_pref -----------------------------------------------------------------------------------


def test_user_pref_serves_matching_tasks_first(app, db):
    project = _project("user_pref")
    plain = TaskFactory(project=project)
    english = TaskFactory(project=project, user_pref={"languages": ["en"]})
    german = TaskFactory(project=project, user_pref={"languages": ["de", "fr"]})
    berlin = TaskFactory(project=project, user_pref={"locations": ["berlin"]})
    volunteer = UserFactory(user_pref={"languages": ["de"], "locations": ["berlin"]})

    mine = _newtask(app, project, volunteer, limit=4)
    anonymous = _newtask(app, project, limit=4)

    assert _ids(mine) == [german.id, berlin.id, plain.id, english.id]
    assert _ids(anonymous) == [plain.id, english.id, german.id, berlin.id]


def test_user_pref_excludes_answered_and_completed_tasks(app, db):
    project = _project("user_pref")
    volunteer = UserFactory(user_pref={"languages": ["en"]})
    answered = TaskFactory(project=project, user_pref={"languages": ["en"]})
    TaskRunFactory(task=answered, user=volunteer)
    TaskFactory(project=project, user_pref={"languages": ["en"]}, state="completed")
    other = TaskFactory(project=project, user_pref={"languages": ["es"]})

    assert _ids(_newtask(app, project, volunteer, limit=5)) == [other.id]


# --- locked --------------------------------------------------------------------------------------


def test_locked_gives_a_task_to_at_most_the_answers_it_still_needs(locked_app, db, clock):
    project = _project("locked")
    first = TaskFactory(project=project, n_answers=2)
    second = TaskFactory(project=project, n_answers=2)
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()

    served = [_newtask(locked_app, project, user)["id"] for user in (alice, bob, carol)]

    assert served == [first.id, first.id, second.id]


def test_locked_counts_answers_already_given(locked_app, db, clock):
    project = _project("locked")
    half = TaskFactory(project=project, n_answers=2, n_task_runs=1)
    other = TaskFactory(project=project, n_answers=2)

    served = [_newtask(locked_app, project, UserFactory())["id"] for _ in range(3)]

    assert served == [half.id, other.id, other.id]


def test_locked_gives_a_volunteer_their_own_reservation_back_first(locked_app, db, clock):
    project = _project("locked")
    first = TaskFactory(project=project, n_answers=1)
    TaskFactory(project=project, n_answers=1)
    last = TaskFactory(project=project, n_answers=1)
    alice = UserFactory()
    assert _newtask(locked_app, project, alice)["id"] == first.id

    again = _newtask(locked_app, project, alice, limit=2, orderby="id", desc="true")

    assert _ids(again) == [first.id, last.id]


def test_locked_reservations_expire(locked_app, db, clock):
    project = _project("locked")
    task = TaskFactory(project=project, n_answers=1)
    alice, bob = UserFactory(), UserFactory()
    assert _newtask(locked_app, project, alice)["id"] == task.id
    assert _newtask(locked_app, project, bob) == {}

    clock["at"] += 3601

    assert _newtask(locked_app, project, bob)["id"] == task.id
    refused = _answer(locked_app, alice, task.id, project)
    assert refused.status_int == 403
    assert refused.json["exception_msg"] == "You must request a task first!"


def test_locked_answer_releases_the_reservation(locked_app, db, clock):
    project = _project("locked")
    task = TaskFactory(project=project, n_answers=3)
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    _newtask(locked_app, project, alice)
    _newtask(locked_app, project, bob)

    assert _answer(locked_app, alice, task.id, project).status_int == 200

    # One answer stored, bob holds one place: the third place is free again.
    assert _newtask(locked_app, project, carol)["id"] == task.id
    assert _newtask(locked_app, project, UserFactory()) == {}


def test_locked_answer_without_reservation_is_refused(locked_app, db, clock):
    project = _project("locked")
    task = TaskFactory(project=project)
    alice = UserFactory()

    refused = _answer(locked_app, alice, task.id, project)

    assert refused.status_int == 403
    assert refused.json["exception_msg"] == "You must request a task first!"


def test_locked_honours_limit_and_order(locked_app, db, clock):
    project = _project("locked")
    tasks = [TaskFactory(project=project, priority_0=p) for p in (0.2, 0.9, 0.5)]

    body = _newtask(locked_app, project, limit=2, orderby="priority_0", desc="true")

    assert _ids(body) == [tasks[1].id, tasks[2].id]


def test_locked_offset_as_pybossa(locked_app, db, clock):
    project = _project("locked")
    first = TaskFactory(project=project, n_answers=1)
    second = TaskFactory(project=project, n_answers=1)
    alice, bob = UserFactory(), UserFactory()

    assert _newtask(locked_app, project, alice, status=400, offset=3)["exception_cls"] == (
        "BadRequest"
    )
    assert _newtask(locked_app, project, alice, offset=2) == {}
    # offset=1 is pybossa.js fetching the next task: the first stays reserved.
    assert _newtask(locked_app, project, alice, offset=1)["id"] == second.id
    assert _newtask(locked_app, project, alice)["id"] == first.id
    assert _newtask(locked_app, project, bob) == {}


def test_locked_only_when_its_plugin_is_enabled(make_app, db):
    app = make_app(plugins__schedulers="default")
    project = _project("locked")
    task = TaskFactory(project=project)
    alice = UserFactory()

    assert _newtask(app, project, alice)["id"] == task.id
    assert _answer(app, alice, task.id, project).status_int == 200


def test_locked_as_the_default_scheduler(make_app, db, clock):
    app = make_app(plugins__schedulers=ALL_SCHEDULERS, scheduler__default="locked")
    project = ProjectFactory()
    task = TaskFactory(project=project, n_answers=1)
    alice, bob = UserFactory(), UserFactory()

    assert _newtask(app, project, alice)["id"] == task.id
    assert _newtask(app, project, bob) == {}
    assert _answer(app, alice, task.id, project).status_int == 200
    db.expire_all()
    assert db.scalar(select(Task.state).where(Task.id == task.id)) == "completed"
