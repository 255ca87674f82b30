"""The lean task-delivery path (core.delivery): the same answers as the application, or none.

Each scenario runs twice on the same data: through the lean path (`delivery.lean` on) and
through Pyramid alone (off), and the two answers must be equal. A spy on the application behind
the middleware tells which path answered, so a test also fails when the lean path silently
stops answering what it should.
"""

import pytest
from sqlalchemy import select

from core import delivery, generations
from core.delivery import LeanDelivery, _Connection
from core.hookspecs import LeanForm, Scheduler, hookimpl
from core.models import Project, ProjectStats, Result, Task, TaskRun
from plugins.schedulers import locked as locked_scheduler
from plugins.schedulers.locked import HELD_SLOTS, LEAN_MARGIN, PREFIX_STEP_GROWTH, reservations
from tests.factories import ProjectFactory, TaskFactory, TaskRunFactory, UserFactory
from tests.lean import Spy, lean_of

SCHEDULERS = "default breadth_first incremental locked user_pref"


@pytest.fixture
def apps(make_app, redis_client, redis_url):
    """(lean app, its spy, application-only app) over the same database and Redis."""
    lean = make_app(redis__url=redis_url, plugins__schedulers=SCHEDULERS)
    plain = make_app(redis__url=redis_url, plugins__schedulers=SCHEDULERS, delivery__lean="false")
    middleware = lean_of(lean)
    middleware.forget_hints()  # the application may be shared: no hint from another test
    spy = middleware.app = Spy(middleware.app)
    try:
        yield lean, spy, plain
    finally:
        middleware.app = spy.app


def _project(sched="default", **kwargs):
    return ProjectFactory(info={"task_presenter": "<div></div>", "sched": sched}, **kwargs)


def _same_answer(apps, url, headers=None, answered_by_lean=True):
    lean, spy, plain = apps
    before = spy.calls
    fast = lean.get(url, headers=headers or {}, expect_errors=True)
    slow = plain.get(url, headers=headers or {}, expect_errors=True)
    assert (fast.status_int, fast.json) == (slow.status_int, slow.json)
    assert fast.content_type == slow.content_type == "application/json"
    assert (spy.calls == before) is answered_by_lean
    return fast


@pytest.mark.parametrize("sched", ["default", "depth_first_all", "breadth_first"])
@pytest.mark.parametrize(
    "query",
    ["", "?limit=3", "?limit=2&offset=1", "?orderby=priority_0&desc=true", "?limit=0"],
)
def test_newtask_answers_equal_the_application(apps, db, sched, query):
    project = _project(sched)
    for n in range(5):
        TaskFactory(project=project, priority_0=n / 10, info={"n": n})
    answered = TaskFactory(project=project)
    TaskRunFactory(task=answered, user_ip=None, user=UserFactory())
    volunteer = UserFactory()
    TaskRunFactory(task=answered, user=volunteer)

    _same_answer(apps, f"/api/project/{project.id}/newtask{query}")
    _same_answer(apps, f"/api/{project.id}/newtask{query}")
    _same_answer(apps, f"/api/project/{project.short_name}/newtask{query}")
    separator = "&" if query else "?"
    key_url = f"/api/project/{project.id}/newtask{query}{separator}api_key={volunteer.api_key}"
    _same_answer(apps, key_url)
    _same_answer(
        apps,
        f"/api/project/{project.id}/newtask{query}",
        headers={"Authorization": volunteer.api_key},
    )


def test_newtask_stamps_the_guard_and_counts_the_rate_limit_once(apps, db):
    lean, spy, _plain = apps
    project = _project()
    task = TaskFactory(project=project)
    volunteer = UserFactory()
    url = f"/api/project/{project.id}/newtask?api_key={volunteer.api_key}"
    first = lean.get(url)
    second = lean.get(url)
    assert first.json["id"] == task.id
    remaining = int(first.headers["X-RateLimit-Remaining"])
    assert int(second.headers["X-RateLimit-Remaining"]) == remaining - 1
    # The hand-out was remembered: the answer is accepted.
    body = {"project_id": project.id, "task_id": task.id, "info": {"a": 1}}
    assert lean.post_json(f"/api/taskrun?api_key={volunteer.api_key}", body).status_int == 200
    assert spy.calls == 0


def test_external_users_with_a_project_token(apps, db):
    lean, _spy, _plain = apps
    project = _project()
    TaskFactory(project=project)
    token = lean.get(
        f"/api/auth/project/{project.short_name}/token",
        headers={"Authorization": project.secret_key},
    ).text
    url = f"/api/project/{project.id}/newtask?external_uid=partner-7"
    _same_answer(apps, url, headers={"Authorization": f"Bearer {token}"})
    # A refused token is the application's to answer, in PYBOSSA's {code, description} shape.
    refused = _same_answer(
        apps, url, headers={"Authorization": "Bearer nonsense"}, answered_by_lean=False
    )
    assert refused.status_int == 401 and "description" in refused.json


@pytest.mark.parametrize(
    "case",
    [
        "bad limit",
        "negative offset",
        "unknown orderby",
        "unknown project",
        "unknown api key",
        "anonymous refused",
        "session cookie",
        "session cookie spelled with a blank",
        "origin",
    ],
)
def test_what_the_lean_path_leaves_to_the_application(apps, db, case):
    project = _project(
        {"locked": "locked", "user_pref": "user_pref"}.get(case, "default"),
        allow_anonymous_contributors=case != "anonymous refused",
    )
    TaskFactory(project=project)
    url, headers = f"/api/project/{project.id}/newtask", {}
    url += {
        "bad limit": "?limit=x",
        "negative offset": "?offset=-1",
        "unknown orderby": "?orderby=nothing",
        "unknown api key": "?api_key=not-a-key",
    }.get(case, "")
    if case == "unknown project":
        url = "/api/project/999999/newtask"
    if case == "origin":
        headers["Origin"] = "https://example.org"
    if case == "session cookie":
        # Not a valid session: the application reads it as none; still, sessions are its own.
        headers["Cookie"] = "crowdnest_session=not-signed"
    if case == "session cookie spelled with a blank":
        # WebOb reads it as the session too (core.security.may_carry_session).
        headers["Cookie"] = "crowdnest_session =not-signed"
    _same_answer(apps, url, headers=headers, answered_by_lean=False)


class StatementCounter:
    """Counts the statements the lean path sends (each `batch` of them, one round trip)."""

    def __init__(self, monkeypatch):
        self.statements = self.trips = 0
        original = _Connection.batch

        def counting(connection, statements, *args, **kwargs):
            self.statements += len(statements)
            self.trips += 1
            return original(connection, statements, *args, **kwargs)

        monkeypatch.setattr(_Connection, "batch", counting)

    def of(self, app, url, **kwargs):
        before = self.statements
        response = app.get(url, **kwargs)
        return response, self.statements - before


def test_a_known_project_takes_one_statement(apps, db, monkeypatch):
    lean, spy, _plain = apps
    project = _project("breadth_first")
    tasks = [TaskFactory(project=project) for _ in range(3)]
    volunteer = UserFactory()
    counter = StatementCounter(monkeypatch)
    by_key = f"/api/project/{project.id}/newtask?api_key={volunteer.api_key}"
    first, first_statements = counter.of(lean, by_key)
    again, statements = counter.of(lean, by_key)
    by_name, name_statements = counter.of(lean, f"/api/project/{project.short_name}/newtask")
    assert (first_statements, statements, name_statements) == (2, 1, 1)
    assert first.json["id"] == again.json["id"] == by_name.json["id"] == tasks[0].id
    assert spy.calls == 0


def test_a_lean_form_that_may_read_the_volunteer_takes_two_statements(apps, db, monkeypatch):
    """Without `LeanForm.carries` the volunteer's id must be known before the scheduler runs."""
    lean, spy, _plain = apps
    schedulers = lean_of(lean).schedulers
    builtin = schedulers["breadth_first"]
    seen = []

    def own_lean(store, project, participant, options):
        seen.append(participant.user.id)
        return builtin.lean(store, project, participant, options)

    # A lean form that does not say it carries (LeanForm.carries False); it counts as the
    # built-in one it calls does (pending hand-outs: core.services.pending).
    own = LeanForm(own_lean, counts=builtin.lean.counts)
    monkeypatch.setitem(schedulers, "own", Scheduler(builtin.select, own))
    project = _project("own")
    task = TaskFactory(project=project)
    volunteer = UserFactory()
    counter = StatementCounter(monkeypatch)
    url = f"/api/project/{project.id}/newtask?api_key={volunteer.api_key}"
    answers = [counter.of(lean, url) for _ in range(2)]
    assert [(found.json["id"], statements) for found, statements in answers] == [(task.id, 2)] * 2
    assert seen == [volunteer.id, volunteer.id] and spy.calls == 0


CHANGES = ["unknown api key", "anonymous refused", "now locked", "renamed", "now breadth_first"]


@pytest.mark.parametrize("change", CHANGES)
def test_what_a_known_project_may_have_become(apps, db, change):
    """The first request leaves hints (the project's id and scheduler); the second must find
    them out of date, or the caller not admitted, and answer as the application does."""
    project = _project()
    tasks = [TaskFactory(project=project) for _ in range(3)]
    TaskRunFactory(task=tasks[0], user=UserFactory())  # default hands it out, breadth_first not
    _same_answer(apps, f"/api/project/{project.short_name}/newtask")
    url, by_lean = f"/api/project/{project.short_name}/newtask", True
    if change == "unknown api key":
        url, by_lean = f"/api/project/{project.id}/newtask?api_key=not-a-key", False
    elif change == "anonymous refused":
        project.allow_anonymous_contributors, by_lean = False, False
    elif change == "now locked":  # its lean form: two statements, a reservation
        project.info = {**project.info, "sched": "locked"}
    elif change == "renamed":
        old_name, project.short_name = project.short_name, project.short_name + "_renamed"
        db.flush()
        db.commit()
        _same_answer(apps, f"/api/project/{old_name}/newtask", answered_by_lean=False)
        url = f"/api/project/{project.short_name}/newtask"
    elif change == "now breadth_first":
        project.info = {**project.info, "sched": "breadth_first"}
    db.flush()
    db.commit()
    _same_answer(apps, url, answered_by_lean=by_lean)


def _holder_of(lean, task_id, user) -> bool:
    redis = lean_of(lean).redis
    return reservations.holds(None, redis, task_id, f"user:{user.id}", reservations.now())


def test_locked_hands_out_and_stores_answers_on_the_lean_path(apps, db):
    lean, spy, _plain = apps
    project = _project("locked")
    first, second, _third = (TaskFactory(project=project, n_answers=2) for _ in range(3))
    alice, bob, carol, dave = (UserFactory() for _ in range(4))

    assert _handed(lean, project, alice)["id"] == first.id
    assert _handed(lean, project, alice)["id"] == first.id  # her own reservation back
    assert _handed(lean, project, bob)["id"] == first.id
    assert _handed(lean, project, carol)["id"] == second.id  # first: two holders, two places
    assert _holder_of(lean, first.id, alice) and _holder_of(lean, second.id, carol)

    middleware = lean_of(lean)
    stamp = f"crowdnest:task_requested:user:{alice.id}:task:{first.id}"
    generation = generations.key("task_run")
    before = int(middleware.redis.get(generation) or 0)
    assert _post(lean, project, first.id, alice).status_int == 200
    assert not _holder_of(lean, first.id, alice)  # released with the answer, in the call that
    assert middleware.redis.get(stamp) is None  # consumes the stamp
    if middleware._tracked:  # and bumps the written tables' generations
        assert int(middleware.redis.get(generation)) == before + 1
    # One run and bob's hold fill `first`'s two places.
    assert _handed(lean, project, dave)["id"] == second.id
    assert _post(lean, project, first.id, bob).status_int == 200
    assert spy.calls == 0
    db.expire_all()
    assert (db.get(Task, first.id).n_task_runs, db.get(Task, first.id).state) == (2, "completed")
    assert len(db.scalars(select(Result).where(Result.task_id == first.id)).all()) == 1


def test_locked_takes_one_statement_for_a_known_project(apps, db, monkeypatch):
    lean, spy, _plain = apps
    project = _project("locked")
    tasks = [TaskFactory(project=project, n_answers=2) for _ in range(3)]
    alice, bob = UserFactory(), UserFactory()
    counter = StatementCounter(monkeypatch)
    url = f"/api/project/{project.id}/newtask?api_key="
    first, first_statements = counter.of(lean, url + alice.api_key)
    again, statements = counter.of(lean, url + bob.api_key)
    assert (first_statements, statements) == (2, 1)
    assert first.json["id"] == again.json["id"] == tasks[0].id
    assert _holder_of(lean, tasks[0].id, alice) and _holder_of(lean, tasks[0].id, bob)
    assert spy.calls == 0


@pytest.mark.parametrize("change", ["unknown api key", "anonymous refused", "now default"])
def test_a_known_locked_project_checks_the_caller_before_reserving(apps, db, change):
    """The caller is read with the candidates: refused, the request is counted once and nothing
    is reserved; the application answers."""
    lean, spy, plain = apps
    project = _project("locked")
    task = TaskFactory(project=project, n_answers=1)
    _handed(lean, project, UserFactory())  # the project is known now; its one place is held
    ada = UserFactory()
    url = f"/api/project/{project.id}/newtask?api_key={ada.api_key}"
    if change == "unknown api key":
        url = f"/api/project/{project.id}/newtask?api_key=not-a-key"
    elif change == "anonymous refused":
        url = f"/api/project/{project.id}/newtask"
        project.allow_anonymous_contributors = False
    else:
        project.info = {**project.info, "sched": "default"}
    db.flush()
    db.commit()
    before = spy.calls
    first = lean.get(url, expect_errors=True)
    second = lean.get(url, expect_errors=True)
    expected = plain.get(url, expect_errors=True)
    assert (second.status_int, second.json) == (expected.status_int, expected.json)
    # Refused callers get the application's answer; `default` has a lean form of its own.
    assert (spy.calls > before) is (change != "now default")
    remaining = int(first.headers["X-RateLimit-Remaining"])
    assert int(second.headers["X-RateLimit-Remaining"]) == remaining - 1
    if change == "now default":  # default hands out the task, whoever holds it
        assert second.json["id"] == task.id
    else:
        assert second.status_int in (401, 403) or second.json.get("id") != task.id
    assert not _holder_of(lean, task.id, ada)


def test_locked_answers_without_a_hold_get_the_applications_refusal(apps, db):
    lean, spy, _plain = apps
    project = _project("locked")
    task = TaskFactory(project=project, n_answers=1)
    alice, bob = UserFactory(), UserFactory()
    assert _handed(lean, project, alice)["id"] == task.id
    assert _handed(lean, project, bob) == {}  # the one place is alice's
    before = spy.calls
    refused = _post(lean, project, task.id, bob, status=403)
    assert refused.json["exception_msg"] == "You must request a task first!"
    assert spy.calls == before + 1
    db.expire_all()
    assert db.get(Task, task.id).n_task_runs == 0


def test_locked_gives_held_tasks_back_first_and_hands_over_beyond_its_slots(apps, db):
    lean, spy, _plain = apps
    project = _project("locked")
    tasks = [TaskFactory(project=project, n_answers=1) for _ in range(3 * LEAN_MARGIN + 3)]
    alice = UserFactory()
    url = f"/api/project/{project.id}/newtask?api_key={alice.api_key}"
    # Held beyond the tasks read in order: read apart, by id, and given back first.
    assert lean.get(url + "&orderby=id&desc=true").json["id"] == tasks[-1].id
    assert lean.get(url).json["id"] == tasks[-1].id
    assert spy.calls == 0
    # More holds than the lean form reads by id: the lowest held one comes back unread (the
    # Lua call grants it, one statement reads it); asked for them all, the application gives
    # them back.
    lean.get(url + f"&orderby=id&desc=true&limit={HELD_SLOTS + 1}")
    assert spy.calls == 0
    assert lean.get(url).json["id"] == tasks[-(HELD_SLOTS + 1)].id
    assert spy.calls == 0
    handed = lean.get(url + f"&limit={HELD_SLOTS + 2}").json
    assert [task["id"] for task in handed] == [
        *(task.id for task in tasks[-(HELD_SLOTS + 1) :]),
        tasks[0].id,
    ]
    assert spy.calls == 1


class ScriptCounter:
    """Counts the RESERVE calls the lean `locked` form makes."""

    def __init__(self, monkeypatch):
        self.calls = 0
        original = reservations.reserve_read

        def counting(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(reservations, "reserve_read", counting)


def test_locked_gives_a_returning_volunteer_their_hold_back_unread(apps, db, monkeypatch):
    """A volunteer asking again for what they hold, behind the full prefix: the first Lua call
    grants their hold back (renewed, stamped) and one statement reads the task, instead of a
    second statement and a second Lua call."""
    lean, spy, _plain = apps
    project = _project("locked")
    tasks = [TaskFactory(project=project, n_answers=1) for _ in range(2 * LEAN_MARGIN)]
    alice = UserFactory()
    assert _handed(lean, project, alice)["id"] == tasks[0].id
    for task in tasks[1 : LEAN_MARGIN + 2]:  # the full prefix now reaches past alice's task
        assert _handed(lean, project, UserFactory())["id"] == task.id
    redis = lean_of(lean).redis
    key, field = reservations.hold_location(tasks[0].id, f"user:{alice.id}")
    expiry = float(redis.hget(key, field))
    later = reservations.now() + 60
    monkeypatch.setattr(reservations, "now", lambda: later)
    statements, scripts = StatementCounter(monkeypatch), ScriptCounter(monkeypatch)
    url = f"/api/project/{project.id}/newtask?api_key={alice.api_key}"
    again, count = statements.of(lean, url)
    assert again.json["id"] == tasks[0].id
    assert (count, scripts.calls, spy.calls) == (2, 1, 0)
    assert sorted(again.json) == sorted(_plain_task_keys(apps, project))
    assert float(redis.hget(key, field)) > expiry  # renewed
    assert _post(lean, project, tasks[0].id, alice).status_int == 200  # stamped
    assert spy.calls == 0


def _plain_task_keys(apps, project):
    """The fields of a task as the application hands it out."""
    _lean, _spy, plain = apps
    return list(_handed(plain, project, UserFactory()))


def test_locked_reads_again_when_a_hold_given_back_unread_is_spent(apps, db, monkeypatch):
    """The held task given back unread turns out answered by the volunteer (a worker died
    before releasing the hold) or completed by others: the lean form asks again with the held
    tasks read, as before, and the volunteer gets another task."""
    lean, spy, _plain = apps
    project = _project("locked")
    tasks = [TaskFactory(project=project, n_answers=2) for _ in range(2 * LEAN_MARGIN)]
    alice, bob = UserFactory(), UserFactory()
    assert _handed(lean, project, alice)["id"] == tasks[0].id
    assert _handed(lean, project, bob)["id"] == tasks[0].id
    for task in tasks[1 : LEAN_MARGIN + 2]:
        for _ in range(2):
            assert _handed(lean, project, UserFactory())["id"] == task.id
    TaskRunFactory(task=tasks[0], user=alice)  # stored, the hold not released
    scripts = ScriptCounter(monkeypatch)
    assert _handed(lean, project, alice)["id"] == tasks[LEAN_MARGIN + 2].id
    assert scripts.calls == 2 and spy.calls == 0
    assert not _holder_of(lean, tasks[0].id, alice)  # the spent hold cleared
    # Completed by another's answer meanwhile: bob's hold is on a task no longer open.
    TaskRunFactory(task=tasks[0], user=UserFactory())
    db.flush()
    db.commit()
    assert db.scalar(select(Task.state).where(Task.id == tasks[0].id)) == "completed"
    assert _handed(lean, project, bob)["id"] == tasks[LEAN_MARGIN + 2].id  # its last place


def test_locked_reads_after_the_tasks_found_full(apps, db, monkeypatch):
    """The full prefix: volunteers after the first LEAN_MARGIN + 1 are still served in one
    pass, in id order, each by a statement that starts after the tasks all held."""
    lean, spy, _plain = apps
    project = _project("locked")
    tasks = [TaskFactory(project=project, n_answers=1) for _ in range(3 * LEAN_MARGIN)]
    volunteers = [UserFactory() for _ in range(2 * LEAN_MARGIN)]
    handed = [_handed(lean, project, user)["id"] for user in volunteers]
    assert handed == [task.id for task in tasks[: len(volunteers)]]
    assert spy.calls == 0
    # When the first holds expire, the prefix goes with them: their tasks come first again.
    later = reservations.now() + 3600 + 1
    monkeypatch.setattr(reservations, "now", lambda: later)
    assert _handed(lean, project, UserFactory())["id"] == tasks[0].id


def test_locked_reads_past_the_tasks_a_returning_volunteer_answered(apps, db, monkeypatch):
    """More answered tasks at the front than the margin read for anyone: a second statement,
    past them, instead of the application's path."""
    lean, spy, _plain = apps
    project = _project("locked")
    tasks = [TaskFactory(project=project, n_answers=2) for _ in range(LEAN_MARGIN + 4)]
    alice, bob = UserFactory(), UserFactory()
    for task in tasks[: LEAN_MARGIN + 2]:
        TaskRunFactory(task=task, user=alice)
    _handed(lean, project, UserFactory())  # the project is known
    counter = StatementCounter(monkeypatch)
    url = f"/api/project/{project.id}/newtask?api_key={alice.api_key}"
    handed, statements = counter.of(lean, url + "&limit=2")
    assert [task["id"] for task in handed.json] == [t.id for t in tasks[LEAN_MARGIN + 2 :]]
    assert statements == 2 and spy.calls == 0
    # Handed out as any other: stamped (her answer is accepted) and held.
    assert _post(lean, project, tasks[-1].id, alice).status_int == 200
    assert _holder_of(lean, tasks[-2].id, alice)
    # tasks[0]'s last place is held by the first volunteer.
    assert _handed(lean, project, bob)["id"] == tasks[1].id
    assert spy.calls == 0


def test_locked_reads_past_tasks_filled_since_this_process_saw_the_prefix(apps, db):
    """Another process's hand-outs filled tasks this one has not seen full: the first read
    finds them all held, the second starts after the full prefix as Redis has it."""
    lean, spy, _plain = apps
    project = _project("locked")
    tasks = [TaskFactory(project=project, n_answers=1) for _ in range(2 * LEAN_MARGIN + 4)]
    handed = [_handed(lean, project, UserFactory())["id"] for _ in range(2 * LEAN_MARGIN)]
    assert handed == [task.id for task in tasks[: 2 * LEAN_MARGIN]]
    lean_of(lean)._hints.clear()  # as a process that served none of them
    assert _handed(lean, project, UserFactory())["id"] == tasks[2 * LEAN_MARGIN].id
    assert spy.calls == 0


def test_locked_rebuilds_a_lapsed_prefix_in_larger_steps(apps, db, redis_client, monkeypatch):
    """The full prefix lapses (PREFIX_SECONDS, or its first hold expiring) while many tasks are
    still all held: the next volunteer is served by the lean form, which reads on after the
    full tasks in larger steps and extends the prefix again (it handed each request a few
    tasks further to the application's path, which read its way through them all: a crowd's
    requests fell from hundreds a second to a few). The one after takes one statement."""
    lean, spy, _plain = apps
    project = _project("locked")
    held = PREFIX_STEP_GROWTH * (LEAN_MARGIN + 1) + 5
    tasks = [TaskFactory(project=project, n_answers=1) for _ in range(held + 3)]
    for task in tasks[:held]:
        assert _handed(lean, project, UserFactory())["id"] == task.id
    assert spy.calls == 0
    redis_client.delete(reservations._prefix_key(project.id))  # lapsed
    assert _handed(lean, project, UserFactory())["id"] == tasks[held].id
    assert spy.calls == 0
    counter = StatementCounter(monkeypatch)
    url = f"/api/project/{project.id}/newtask?api_key={UserFactory().api_key}"
    handed, statements = counter.of(lean, url)
    assert handed.json["id"] == tasks[held + 1].id
    assert statements == 1 and spy.calls == 0


def test_locked_on_the_applications_path_reads_after_the_full_prefix(apps, db, monkeypatch):
    """More tasks all held at the front than the application's path examines (MAX_CANDIDATES,
    here 10; it reads 20 at a time): it starts after the full prefix the lean form keeps, and
    finds the next task (it answered "no task" before); a volunteer's own held task in the
    prefix still comes first."""
    lean, spy, plain = apps
    project = _project("locked")
    tasks = [TaskFactory(project=project, n_answers=1) for _ in range(28)]
    alice = UserFactory()
    assert _handed(lean, project, alice)["id"] == tasks[0].id
    for task in tasks[1:25]:
        assert _handed(lean, project, UserFactory())["id"] == task.id
    monkeypatch.setattr(locked_scheduler, "MAX_CANDIDATES", 10)
    assert _handed(plain, project, UserFactory())["id"] == tasks[25].id
    assert _handed(plain, project, alice)["id"] == tasks[0].id
    assert spy.calls == 0


def test_locked_hands_a_held_task_out_once_when_it_reads_it_again(apps, db, redis_client):
    """A held task past the tasks read in order is read by id and granted first; the others
    read are full, so the next read goes on past them and meets it again: handed out once."""
    lean, spy, _plain = apps
    project = _project("locked")
    tasks = [TaskFactory(project=project, n_answers=1) for _ in range(3 * (LEAN_MARGIN + 2))]
    alice = UserFactory()
    url = f"/api/project/{project.id}/newtask?api_key={alice.api_key}"
    assert lean.get(url + "&orderby=id&desc=true").json["id"] == tasks[-1].id  # held
    for task in tasks[:-1]:
        assert _handed(lean, project, UserFactory())["id"] == task.id
    redis_client.delete(reservations._prefix_key(project.id))  # lapsed...
    lean_of(lean).forget_hints()  # ... for a process that saw none of it
    assert lean.get(url + "&limit=2").json["id"] == tasks[-1].id
    assert spy.calls == 0


def test_locked_never_hands_a_volunteer_a_task_they_answered(apps, db):
    lean, spy, _plain = apps
    project = _project("locked")
    answered, fresh = (TaskFactory(project=project, n_answers=3) for _ in range(2))
    alice = UserFactory()
    TaskRunFactory(task=answered, user=alice)
    assert _handed(lean, project, alice)["id"] == fresh.id
    assert _handed(lean, project, UserFactory())["id"] == answered.id
    assert spy.calls == 0


# -- answers ------------------------------------------------------------------------------------


def _handed(app, project, user=None, headers=None):
    query = f"?api_key={user.api_key}" if user is not None else ""
    return app.get(f"/api/project/{project.id}/newtask{query}", headers=headers or {}).json


def _post(app, project, task_id, user=None, body=None, status="*"):
    body = body or {"project_id": project.id, "task_id": task_id, "info": {"answer": "yes"}}
    query = f"?api_key={user.api_key}" if user is not None else ""
    return app.post_json(f"/api/taskrun{query}", body, status=status)


def _counts(db, project, task):
    db.expire_all()
    stats = db.get(ProjectStats, project.id)
    return (
        db.get(Task, task.id).n_task_runs,
        stats.n_task_runs,
        stats.n_volunteers,
        stats.last_activity,
        db.get(Project, project.id).updated,
    )


@pytest.mark.parametrize("who", ["user", "anonymous"])
def test_an_answer_stored_by_the_lean_path_equals_the_applications(apps, db, who):
    lean, spy, plain = apps
    project = _project()
    tasks = [TaskFactory(project=project, n_answers=5) for _ in range(2)]
    users = (UserFactory(), UserFactory()) if who == "user" else (None, None)
    # Anonymous volunteers are told apart by address: the two apps get two addresses.
    environs = ({"REMOTE_ADDR": "10.0.0.1"}, {"REMOTE_ADDR": "10.0.0.2"})

    answers = []
    for app, user, extra in zip((lean, plain), users, environs, strict=True):
        app.extra_environ = extra
        task = _handed(app, project, user)
        before = spy.calls
        answer = _post(app, project, task["id"], user)
        assert answer.status_int == 200
        answers.append((answer, spy.calls == before))
    (fast, by_lean), (slow, _) = answers
    assert by_lean
    assert fast.content_type == slow.content_type == "application/json"
    assert set(fast.json) == set(slow.json)
    for key in ("project_id", "task_id", "info", "timeout", "calibration", "media_url"):
        assert fast.json[key] == slow.json[key]
    assert (fast.json["user_id"] is None) is (who == "anonymous")
    assert (fast.json["user_ip"] is None) is (who == "user")
    run = db.get(TaskRun, fast.json["id"])
    assert run.created < run.finish_time == fast.json["finish_time"]

    n_task_runs, stats_runs, volunteers, last_activity, updated = _counts(db, project, tasks[0])
    assert n_task_runs == 2 and stats_runs == 2 and volunteers == 2
    assert last_activity == updated == max(fast.json["finish_time"], slow.json["finish_time"])


def test_the_lean_path_counts_a_volunteer_once_per_project(apps, db):
    lean, _spy, _plain = apps
    project = _project()
    tasks = [TaskFactory(project=project, n_answers=5) for _ in range(2)]
    volunteer = UserFactory()
    for _ in tasks:
        task = _handed(lean, project, volunteer)
        assert _post(lean, project, task["id"], volunteer).status_int == 200
    _n, stats_runs, volunteers, _last, _updated = _counts(db, project, tasks[0])
    assert (stats_runs, volunteers) == (2, 1)


def test_a_second_answer_and_an_unrequested_task_are_refused_as_the_application_does(apps, db):
    lean, _spy, plain = apps
    project = _project()
    task = TaskFactory(project=project, n_answers=5)
    volunteer = UserFactory()
    _handed(lean, project, volunteer)
    assert _post(lean, project, task.id, volunteer).status_int == 200
    _handed(lean, project, volunteer)  # nothing left for them: no stamp for `task`
    again = _post(lean, project, task.id, volunteer, status=403)
    other = UserFactory()
    unrequested = _post(plain, project, task.id, other, status=403)
    assert again.json["exception_msg"] == unrequested.json["exception_msg"]
    assert again.json["exception_msg"] == "You must request a task first!"
    assert db.scalar(select(Task.n_task_runs).where(Task.id == task.id)) == 1


def test_a_duplicate_answer_with_a_fresh_stamp_is_refused_and_counted_once(apps, db):
    lean, _spy, _plain = apps
    project = _project("depth_first_all")
    task = TaskFactory(project=project, n_answers=5)
    volunteer = UserFactory()
    _handed(lean, project, volunteer)
    assert _post(lean, project, task.id, volunteer).status_int == 200
    # depth_first_all hands nothing answered either; stamp the task as the task page does.
    stamp = f"crowdnest:task_requested:user:{volunteer.id}:task:{task.id}"
    lean.app.registry["redis"].set(stamp, "2024-01-01T00:00:00.000000")
    refused = _post(lean, project, task.id, volunteer, status=403)
    assert refused.json["exception_msg"] == "You have already answered this task"
    assert db.scalar(select(Task.n_task_runs).where(Task.id == task.id)) == 1


class Recorder:
    """A task_completed hook implementation that remembers its calls."""

    def __init__(self):
        self.calls, self.seen = [], []

    @hookimpl
    def crowdnest_task_completed(self, project, task, result, payload, settings):
        self.calls.append((project.id, task.id, result.id, payload))
        # What a plugin may read of them: every column.
        self.seen.append(
            (
                {c.key: getattr(project, c.key) for c in Project.__table__.columns},
                {c.key: getattr(task, c.key) for c in Task.__table__.columns},
                {c.key: getattr(result, c.key) for c in Result.__table__.columns},
            )
        )


@pytest.fixture
def recorder(apps):
    lean, _spy, plain = apps
    recorder = Recorder()
    for app in (lean, plain):
        app.app.registry["plugins"].register(recorder, name="test-recorder")
    yield recorder
    for app in (lean, plain):
        app.app.registry["plugins"].unregister(name="test-recorder")


def test_completion_by_the_lean_path_equals_the_applications(apps, db, recorder):
    lean, spy, plain = apps
    states = []
    for app in (lean, plain):
        project = _project("depth_first_all")
        task = TaskFactory(project=project, n_answers=2)
        volunteers = [UserFactory() for _ in range(3)]
        before = spy.calls
        for volunteer in volunteers:  # the third answers a completed task: a new version
            assert _handed(app, project, volunteer)["id"] == task.id
            assert _post(app, project, task.id, volunteer).status_int == 200
        if app is lean:
            assert spy.calls == before
        db.expire_all()
        results = db.scalars(select(Result).where(Result.task_id == task.id)).all()
        latest = [result for result in results if result.last_version]
        stats = db.get(ProjectStats, project.id)
        runs = db.scalars(select(TaskRun.id).where(TaskRun.task_id == task.id)).all()
        assert len(latest) == 1 and sorted(latest[0].task_run_ids) == sorted(runs)
        announced = [call for call in recorder.calls if call[1] == task.id]
        assert [call[2] for call in announced] == sorted(result.id for result in results)
        for project_id, task_id, result_id, payload in announced:
            assert payload["event"] == "task_completed"
            assert (payload["project_id"], payload["task_id"]) == (project_id, task_id)
            assert payload["result_id"] == result_id
        # The objects as the database holds them after the answer (the announcement comes
        # after the commit).
        seen = [found for found in recorder.seen if found[1]["id"] == task.id]
        for (project_columns, task_columns, result_columns), result_id in zip(
            seen, [call[2] for call in announced], strict=True
        ):
            stored = db.get(Result, result_id)
            assert project_columns["short_name"] == project.short_name
            assert task_columns["id"] == task.id and task_columns["n_answers"] == 2
            assert task_columns["info"] == db.get(Task, task.id).info
            assert result_columns["id"] == result_id
            assert sorted(result_columns["task_run_ids"]) == sorted(stored.task_run_ids)
        states.append(
            (
                db.get(Task, task.id).state,
                db.get(Task, task.id).n_task_runs,
                len(results),
                stats.n_completed_tasks,
                stats.n_task_runs,
                stats.overall_progress,
            )
        )
    assert states[0] == states[1]
    assert states[0][:5] == ("completed", 3, 2, 1, 3)


def _completed_by_one_answer(app):
    """(project, task): a `default` project's one task, needing one answer, handed to a
    volunteer and answered through `app`."""
    project = _project("default")
    task = TaskFactory(project=project, n_answers=1)
    volunteer = UserFactory()
    assert _handed(app, project, volunteer)["id"] == task.id
    assert _post(app, project, task.id, volunteer).status_int == 200
    return project, task


class OwnersReader:
    @hookimpl
    def crowdnest_task_completed(self, project, task, result, payload, settings):
        self.owners = project.owners_ids  # a relationship: loaded on use


@pytest.mark.parametrize("path", ["lean", "application"])
def test_the_announcement_loads_relationships_on_use(apps, db, path):
    lean, spy, plain = apps
    app = lean if path == "lean" else plain
    reader = OwnersReader()
    app.app.registry["plugins"].register(reader, name="test-owners")
    try:
        project, _task = _completed_by_one_answer(app)
    finally:
        app.app.registry["plugins"].unregister(name="test-owners")
    assert spy.calls == 0 and reader.owners == [project.owner_id]


class ProjectOnly:
    """An implementation naming the project and payload only, as the webhooks plugin does."""

    def __init__(self):
        self.calls = []

    @hookimpl
    def crowdnest_task_completed(self, project, payload):
        self.calls.append((project.id, project.webhook, payload))


def test_the_announcement_makes_only_the_objects_named(apps, db, monkeypatch):
    lean, spy, _plain = apps
    made = []
    original = delivery._loaded
    monkeypatch.setattr(
        delivery, "_loaded", lambda db, model, row: made.append(model) or original(db, model, row)
    )
    plugins = lean.app.registry["plugins"]
    # Only this implementation: the built-in ones (webhooks) set aside for the test.
    others = [(plugin, name) for name, plugin in plugins.list_name_plugin()]
    project_only = ProjectOnly()
    try:
        for plugin, _name in others:
            if hasattr(plugin, "crowdnest_task_completed"):
                plugins.unregister(plugin)
        plugins.register(project_only, name="test-project-only")
        project, task = _completed_by_one_answer(lean)
    finally:
        plugins.unregister(name="test-project-only")
        for plugin, name in others:
            if plugins.get_plugin(name) is None:
                plugins.register(plugin, name=name)
    assert spy.calls == 0 and made == [Project]
    result_id = db.scalar(select(Result.id).where(Result.task_id == task.id))
    [(project_id, webhook, payload)] = project_only.calls
    assert (project_id, webhook) == (project.id, project.webhook)
    assert payload["event"] == "task_completed"
    assert (payload["project_id"], payload["project_short_name"]) == (
        project.id,
        project.short_name,
    )
    assert (payload["task_id"], payload["result_id"]) == (task.id, result_id)


@pytest.mark.parametrize(
    "body",
    [
        {"id": 5},
        {"created": "2020-01-01"},
        {"user_id": 1},
        {"task_id": None},
        {"project_id": True},
        {"external_uid": "x"},
        {"timeout": 10},
        {"nonsense": 1},
    ],
)
def test_bodies_the_lean_path_does_not_store_get_the_applications_answer(apps, db, body):
    lean, spy, plain = apps
    project = _project()
    task = TaskFactory(project=project, n_answers=5)
    answers = []
    for app in (lean, plain):
        volunteer = UserFactory()
        _handed(app, project, volunteer)
        full = {"project_id": project.id, "task_id": task.id, "info": {"a": 1}, **body}
        before = spy.calls
        answer = _post(app, project, task.id, volunteer, body=full)
        answers.append((answer.status_int, answer.json.get("exception_msg")))
        if app is lean:
            assert spy.calls == before + 1
    assert answers[0] == answers[1]


def test_a_lean_answer_invalidates_cached_reads(apps, db):
    lean, _spy, _plain = apps
    project = _project()
    task = TaskFactory(project=project, n_answers=5)
    url = f"/api/taskrun?project_id={project.id}"
    assert lean.get(url).json == []
    volunteer = UserFactory()
    _handed(lean, project, volunteer)
    _post(lean, project, task.id, volunteer)
    assert [run["task_id"] for run in lean.get(url).json] == [task.id]
    assert lean.get(f"/api/task/{task.id}").json["id"] == task.id


@pytest.mark.parametrize("sched", ["default", "locked"])
def test_over_the_rate_limit_nothing_is_handed_out_or_stored(
    make_app, redis_client, redis_url, db, sched
):
    limited = make_app(redis__url=redis_url, ratelimit__limit="1", plugins__schedulers=SCHEDULERS)
    project = _project(sched)
    task, other = (TaskFactory(project=project, n_answers=5) for _ in range(2))
    volunteer = UserFactory()
    url = f"/api/project/{project.id}/newtask?api_key={volunteer.api_key}"
    stamp = f"crowdnest:task_requested:user:{volunteer.id}:task:{task.id}"
    first = limited.get(url)
    assert first.json["id"] == task.id
    assert first.headers["X-RateLimit-Remaining"] == "0"
    assert redis_client.get(stamp) is not None
    redis_client.delete(stamp)
    refused = limited.get(url + "&limit=2", status=429)
    assert refused.json["exception_cls"] == "TooManyRequests"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert redis_client.get(stamp) is None  # a refused request hands nothing out
    holds = reservations.held(None, redis_client, project.id, f"user:{volunteer.id}", 0)
    assert other.id not in holds  # nor reserves anything

    redis_client.set(stamp, "2024-01-01T00:00:00.000000")
    body = {"project_id": project.id, "task_id": task.id, "info": {}}
    answer_url = f"/api/taskrun?api_key={volunteer.api_key}"
    assert limited.post_json(answer_url, body).status_int == 200
    redis_client.set(stamp, "2024-01-01T00:00:00.000000")
    again = limited.post_json(answer_url, {**body, "info": {"n": 2}}, status=429)
    assert again.json["exception_cls"] == "TooManyRequests"
    assert db.scalar(select(Task.n_task_runs).where(Task.id == task.id)) == 1


def test_the_lean_path_plans_its_statements_once_on_postgresql(apps, db):
    lean, _spy, _plain = apps
    engine = lean_of(lean).statements.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("plan_cache_mode is PostgreSQL's")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_generic_plan"
    # ... and only there: the application's sessions keep PostgreSQL's choice.
    assert db.connection().exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"


def _jitted(connection) -> bool:
    """Whether PostgreSQL compiles a plan with JIT on this connection (every plan's cost above
    jit_above_cost, for the transaction)."""
    connection.exec_driver_sql("SET LOCAL jit_above_cost = 0")
    plan = connection.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) SELECT sum(id) FROM task")
    return "JIT" in plan.scalar()[0]


def test_the_lean_path_never_compiles_its_statements_with_jit(apps, db):
    """A generic plan guesses LIMIT $n at a tenth of the rows: at 1,000,000 tasks `locked`'s
    read cost more than jit_above_cost, and compiling it took 40 ms at every execution."""
    lean, _spy, _plain = apps
    engine = lean_of(lean).statements.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    with engine.connect() as connection:
        assert not _jitted(connection)
    application = db.connection()
    if not application.exec_driver_sql("SELECT pg_jit_available()").scalar():
        pytest.skip("this PostgreSQL has no JIT: the application's side cannot be compared")
    assert _jitted(application)  # the application's sessions keep PostgreSQL's choice


@pytest.mark.parametrize("known", [True, False], ids=["known volunteers", "first answers"])
@pytest.mark.parametrize("seen_short", [False, True], ids=["as read", "read before a rival"])
def test_answers_short_of_completion_take_one_statement_on_postgresql(
    apps, db, monkeypatch, seen_short, known
):
    """Its own transaction; the completing answer and later ones take the full transaction
    straight away. When the task looked short of completion as the context was read but is
    not when the answer is written (a rival's answer in between, here simulated: the context
    always says short), that statement writes nothing and the full transaction follows. So
    it does for a volunteer's first answer in the project: the transaction counts a new
    volunteer in a statement of its own, once it holds the project's rows."""
    lean, spy, _plain = apps
    if lean_of(lean).statements.dialect.name != "postgresql":
        pytest.skip("SQLite stores answers in steps")
    if seen_short:
        store = LeanDelivery._store_answer
        monkeypatch.setattr(
            LeanDelivery,
            "_store_answer",
            lambda self, connection, kind, values, short: store(
                self, connection, kind, values, True
            ),
        )
    project = _project("depth_first_all")
    task = TaskFactory(project=project, n_answers=2)
    volunteers = [UserFactory() for _ in range(3)]
    if known:  # each answered another task of the project before (behind the counters' back)
        earlier = TaskFactory(project=project, n_answers=5)
        for volunteer in volunteers:
            TaskRunFactory(task=earlier, user=volunteer)
    for volunteer in volunteers:
        assert _handed(lean, project, volunteer)["id"] == task.id
    counter = StatementCounter(monkeypatch)
    written, trips = [], []
    for volunteer in volunteers:
        before = (counter.statements, counter.trips)
        assert _post(lean, project, task.id, volunteer).status_int == 200
        written.append(counter.statements - before[0])
        trips.append(counter.trips - before[1])
    # The context read and 1; then the context read and the transaction's 5 (the answer, the
    # volunteer, the result uncounted, superseded and written) with the announcement's read in one
    # pipeline, twice (the completion, a new result version); and, before the transaction,
    # the one statement when it wrote nothing (the context out of date).
    expected = []
    for number in range(3):
        # The context says short for the first answer of a known volunteer only.
        if number == 0 and known:
            expected.append((2, 2))
        else:
            expected.append((8, 3) if seen_short else (7, 2))
    assert list(zip(written, trips, strict=True)) == expected and spy.calls == 0
    db.expire_all()
    stored = db.get(Task, task.id)
    assert (stored.n_task_runs, stored.state) == (3, "completed")
    stats = db.get(ProjectStats, project.id)
    assert (stats.n_task_runs, stats.n_completed_tasks, stats.n_volunteers) == (
        3,
        1,
        0 if known else 3,
    )
    latest = db.scalars(select(Result).where(Result.task_id == task.id, Result.last_version))
    assert [len(result.task_run_ids) for result in latest] == [3]
