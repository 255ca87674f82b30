"""Attacks on pending hand-outs (issue 24, decision 25, core.services.pending), from outside."""

import time
from types import SimpleNamespace

import pytest

from core.services import pending
from tests.factories import ProjectFactory, TaskFactory, UserFactory
from tests.lean import lean_of

SCHEDULERS = "default breadth_first incremental locked user_pref"
PATHS = ["lean", "application", "no redis"]


@pytest.fixture(params=PATHS)
def served(request, make_app):
    """The app serving newtask by one of the three paths."""
    if request.param == "no redis":
        return make_app(plugins__schedulers=SCHEDULERS)
    redis_url = request.getfixturevalue("redis_url")
    request.getfixturevalue("redis_client").flushdb()
    lean = "true" if request.param == "lean" else "false"
    app = make_app(redis__url=redis_url, plugins__schedulers=SCHEDULERS, delivery__lean=lean)
    if request.param == "lean":
        lean_of(app).forget_hints()
    return app


def _project(sched="default", **info):
    return ProjectFactory(info={"task_presenter": "<div></div>", "sched": sched, **info})


def _ask(app, project, user, query="", status=200):
    url = f"/api/project/{project.id}/newtask?api_key={user.api_key}{query}"
    found = app.get(url, status=status).json
    if isinstance(found, dict):
        return [found["id"]] if found else []
    return [task["id"] for task in found]


def test_a_large_offset_is_answered(served, db):
    project = _project()
    tasks = [TaskFactory(project=project, n_answers=1) for _ in range(5)]
    a = UserFactory()
    db.commit()
    assert _ask(served, project, a, "&offset=3000") == []
    assert _ask(served, project, a, "&offset=2147483647") == []
    assert _ask(served, project, a, "&offset=4") == [tasks[4].id]


def _many(db, project, count, n_answers=1):
    """`count` tasks in one statement (factories one by one are too slow)."""
    from core.models import Task

    rows = [
        {"project_id": project.id, "n_answers": n_answers, "info": {"n": n}, "state": "ongoing"}
        for n in range(count)
    ]
    db.execute(Task.__table__.insert(), rows)
    db.commit()
    return sorted(
        db.scalars(
            Task.__table__.select().with_only_columns(Task.id).where(Task.project_id == project.id)
        )
    )


def test_an_offset_past_thousands_of_tasks_is_answered(served, db):
    project = _project()
    db.commit()
    ids = _many(db, project, 3000)
    a = UserFactory()
    db.commit()
    assert _ask(served, project, a, "&offset=2999") == [ids[2999]]


@pytest.mark.parametrize("seconds", [45.0, 45.9, "45.0"])
def test_a_pending_ttl_given_as_a_decimal_is_read_alike_on_every_path(
    served, db, monkeypatch, seconds
):
    """info.pending_ttl set through PUT /api/project as 45.0: the application read the number
    (45 s), the lean path its JSON text "45.0" (not whole: the site's 600 s), so the same
    requests were handed other tasks by lean and application hosts."""
    project = _project(pending_ttl=seconds)
    first, _second = (TaskFactory(project=project, n_answers=1) for _ in range(2))
    a, b = UserFactory(), UserFactory()
    db.commit()
    assert _ask(served, project, a) == [first.id]

    later = time.time() + 60
    monkeypatch.setattr(pending, "time", SimpleNamespace(time=lambda: later))

    # A minute on, a's hand-out has lapsed: b gets the first task again.
    assert _ask(served, project, b) == [first.id]


def test_a_pending_ttl_that_is_no_finite_number_is_the_sites():
    settings = {"scheduler.pending_ttl": 600}
    for value in (float("inf"), float("nan"), "nan", "-inf", "9" * 5000, {"a": 1}, [1], True):
        assert pending.ttl_of(value, settings) == 600
    assert pending.ttl_of("45.0", settings) == pending.ttl_of(45.0, settings) == 45


def test_one_volunteer_asking_page_after_page_does_not_fill_the_project_for_others(served, db):
    """One account asking limit=100 at offsets 0, 100 ... 1,000 (11 requests) holds 1,100
    tasks for pending_ttl: past MOST_SPARE marks, every other volunteer was handed one of them
    (n_answers 1: each such answer is waste) though 100 tasks nobody holds are open, and each
    of their newtasks reads 1,001 candidates three times (measured: 25x the CPU of a newtask,
    200x Redis')."""
    project = _project()
    db.commit()
    ids = _many(db, project, 1200)
    hoarder, victim = UserFactory(), UserFactory()
    db.commit()
    for page in range(11):
        # What the caller sees is unchanged: each page is handed out.
        assert len(_ask(served, project, hoarder, f"&limit=100&offset={page * 100}")) == 100

    # Only the first MOST_HELD are held: the victim gets the first task nobody holds.
    assert _ask(served, project, victim) == [ids[pending.MOST_HELD]]


def test_an_offset_makes_the_rule_read_at_most_most_skip_candidates_more():
    """Before: offset=N read N + limit rows into the process and Redis (a 2,000 offset cost
    the application 20x a newtask's CPU); past MOST_SKIP the query skips the rest itself."""
    from core.hookspecs import SchedulerOptions

    seen = []

    def select(db, project, volunteer, options):
        seen.append((options.offset, options.spare))
        return []

    options = SchedulerOptions(limit=1, offset=10**9)
    options.settings, options.redis = {"scheduler.pending_ttl": 600}, None
    project, volunteer = SimpleNamespace(id=1, info={}), SimpleNamespace(key="user:1")
    pending._select(select, None)(None, project, volunteer, options)

    # The rows the rule reads past the first (pybossa.js asks offset=1): a hundred at most.
    ((offset, spare),) = seen
    assert spare <= 100
    assert offset + spare == 10**9


def test_an_answer_makes_room_among_a_volunteers_hand_outs(served, db):
    """A volunteer holding MOST_HELD tasks who answers one holds the next one handed out."""
    project = _project()
    db.commit()
    ids = _many(db, project, pending.MOST_HELD + 2)
    volunteer, other = UserFactory(), UserFactory()
    db.commit()
    assert len(_ask(served, project, volunteer, f"&limit={pending.MOST_HELD}")) == 100
    body = {"project_id": project.id, "task_id": ids[0], "info": {"answer": "yes"}}
    served.post_json(f"/api/taskrun?api_key={volunteer.api_key}", body)

    # Past the 99 they still hold: the next task, held in the room the answer made.
    skip = pending.MOST_HELD - 1
    assert _ask(served, project, volunteer, f"&offset={skip}") == [ids[pending.MOST_HELD]]
    assert _ask(served, project, other) == [ids[pending.MOST_HELD + 1]]
