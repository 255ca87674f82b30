"""The lean forms of `incremental` and `user_pref`: the same tasks as their ORM form, on the
lean path (`delivery.lean` on, Redis) and through Pyramid alone (off), for the same data.

A spy on the application behind the middleware fails a test whose request the lean path left
to the application, so a lean form that silently hands everything over cannot pass.
"""

import random

import pytest

from core.delivery import LeanDelivery, _Connection
from tests.factories import ProjectFactory, TaskFactory, TaskRunFactory, UserFactory
from tests.lean import Spy

SCHEDULERS = "default breadth_first incremental locked user_pref"
QUERIES = ["", "?limit=3", "?limit=2&offset=1", "?orderby=priority_0&desc=true", "?limit=100"]


@pytest.fixture
def apps(make_app, redis_client, redis_url):
    """(lean app, its spy, application-only app) over the same database and Redis."""
    lean = make_app(redis__url=redis_url, plugins__schedulers=SCHEDULERS)
    plain = make_app(redis__url=redis_url, plugins__schedulers=SCHEDULERS, delivery__lean="false")
    middleware = lean.app
    while not isinstance(middleware, LeanDelivery):
        middleware = middleware.app
    middleware.forget_hints()  # the application may be shared: no hint from another test
    spy = middleware.app = Spy(middleware.app)
    try:
        yield lean, spy, plain
    finally:
        middleware.app = spy.app


@pytest.fixture
def last_of_candidates(monkeypatch):
    """incremental's random pick made the same on both paths: the last candidate."""
    monkeypatch.setattr(random, "choice", lambda candidates: candidates[-1])


def _project(sched):
    return ProjectFactory(info={"task_presenter": "<div></div>", "sched": sched})


def _same_answers(apps, project, volunteer, query):
    """The lean path's answers equal the application's, by id, short name, api key and
    Authorization header, and the lean path gave every one of them."""
    lean, spy, plain = apps
    separator = "&" if query else "?"
    requests = [
        (f"/api/project/{project.id}/newtask{query}", {}),
        (f"/api/{project.id}/newtask{query}", {}),
        (f"/api/project/{project.short_name}/newtask{query}", {}),
        (f"/api/project/{project.id}/newtask{query}{separator}api_key={volunteer.api_key}", {}),
        (f"/api/project/{project.id}/newtask{query}", {"Authorization": volunteer.api_key}),
    ]
    answers = []
    for url, headers in requests:
        before = spy.calls
        fast = lean.get(url, headers=headers)
        slow = plain.get(url, headers=headers)
        assert (fast.status_int, fast.json) == (slow.status_int, slow.json), url
        assert spy.calls == before, f"the application answered {url}"
        answers.append(fast.json)
    return answers


@pytest.mark.parametrize("query", QUERIES)
def test_incremental_lean_form_hands_out_what_the_application_does(
    apps, db, last_of_candidates, query
):
    project = _project("incremental")
    tasks = [TaskFactory(project=project, priority_0=n % 3 / 10, info={"n": n}) for n in range(6)]
    TaskRunFactory(task=tasks[2], info={"answer": "old"}, finish_time="2026-01-01T00:00:00.0")
    TaskRunFactory(task=tasks[2], info={"answer": "new"}, finish_time="2026-02-01T00:00:00.0")
    TaskRunFactory(task=tasks[5], info=["not", "an", "object"])
    TaskFactory(project=project, priority_0=0.2, info=["a", "list"])
    volunteer = UserFactory()
    TaskRunFactory(task=tasks[5], user=volunteer)

    answers = _same_answers(apps, project, volunteer, query)

    # Not vacuous: a task was handed out, with its latest answer where it has one.
    assert all(answer.get("id") for answer in answers)
    shown = [
        a["info"] for a in answers if isinstance(a["info"], dict) and "last_answer" in a["info"]
    ]
    assert not shown or shown[0]["last_answer"] == {"answer": "new"}


def test_incremental_lean_form_shows_the_latest_answer(apps, db):
    project = _project("incremental")
    top = TaskFactory(project=project, priority_0=1.0, n_answers=5, info={"q": "top"})
    TaskRunFactory(task=top, info={"answer": "old"}, finish_time="2026-01-01T00:00:00.0")
    TaskRunFactory(task=top, info={"answer": "new"}, finish_time="2026-02-01T00:00:00.0")
    volunteer = UserFactory()

    answers = _same_answers(apps, project, volunteer, "")

    assert {a["id"] for a in answers} == {top.id}
    assert answers[0]["info"] == {"q": "top", "last_answer": {"answer": "new"}}


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize(
    "prefs",
    [
        {"languages": ["de"], "locations": ["berlin"]},
        {"languages": "en"},
        {"locations": ["nowhere"]},
        {"languages": [1, "fr", None, 2.5]},
        {},
        ["not", "an", "object"],
    ],
    ids=["both", "a string", "no match", "mixed values", "none", "not an object"],
)
def test_user_pref_lean_form_hands_out_what_the_application_does(apps, db, prefs, query):
    project = _project("user_pref")
    TaskFactory(project=project, priority_0=0.3)
    TaskFactory(project=project, priority_0=0.1, user_pref={"languages": ["en"]})
    TaskFactory(project=project, priority_0=0.2, user_pref={"languages": ["de", "fr"]})
    TaskFactory(project=project, priority_0=0.2, user_pref={"locations": ["berlin"]})
    TaskFactory(project=project, user_pref={"languages": "en", "locations": "berlin"})
    TaskFactory(project=project, user_pref={"languages": ["1", 1]})
    TaskFactory(project=project, user_pref={"languages": ["de"]}, state="completed")
    answered = TaskFactory(project=project, user_pref={"languages": ["de"]})
    volunteer = UserFactory(user_pref=prefs)
    TaskRunFactory(task=answered, user=volunteer)

    answers = _same_answers(apps, project, volunteer, query)

    assert all(answers), "a task was handed out on every request"


def test_user_pref_lean_form_puts_matching_tasks_first(apps, db):
    project = _project("user_pref")
    plain = TaskFactory(project=project)
    english = TaskFactory(project=project, user_pref={"languages": ["en"]})
    german = TaskFactory(project=project, user_pref={"languages": ["de", "fr"]})
    berlin = TaskFactory(project=project, user_pref={"locations": ["berlin"]})
    volunteer = UserFactory(user_pref={"languages": ["de"], "locations": ["berlin"]})

    *_, by_header = _same_answers(apps, project, volunteer, "?limit=4")
    anonymous = _same_answers(apps, project, volunteer, "?limit=4")[0]

    assert [task["id"] for task in by_header] == [german.id, berlin.id, plain.id, english.id]
    assert [task["id"] for task in anonymous] == [plain.id, english.id, german.id, berlin.id]


class StatementCounter:
    """Counts the statements the lean path sends."""

    def __init__(self, monkeypatch):
        self.statements = 0
        original = _Connection.batch

        def counting(connection, statements, *args, **kwargs):
            self.statements += len(statements)
            return original(connection, statements, *args, **kwargs)

        monkeypatch.setattr(_Connection, "batch", counting)

    def of(self, app, url):
        before = self.statements
        return app.get(url), self.statements - before


def test_incremental_takes_one_statement_for_a_known_project(apps, db, monkeypatch):
    lean, spy, _plain = apps
    project = _project("incremental")
    task = TaskFactory(project=project)
    TaskRunFactory(task=task, info={"answer": "yes"})
    volunteer = UserFactory()
    counter = StatementCounter(monkeypatch)
    url = f"/api/project/{project.id}/newtask?api_key={volunteer.api_key}"

    found = [counter.of(lean, url) for _ in range(2)]

    assert [statements for _, statements in found] == [2, 1]
    assert found[1][0].json["info"]["last_answer"] == {"answer": "yes"}
    assert spy.calls == 0


def test_user_pref_takes_two_statements_for_a_known_project(apps, db, monkeypatch):
    """Its first statement (the volunteer's preferences) carries the project and the caller."""
    lean, spy, _plain = apps
    project = _project("user_pref")
    TaskFactory(project=project)
    german = TaskFactory(project=project, user_pref={"languages": ["de"]})
    volunteer = UserFactory(user_pref={"languages": ["de"]})
    counter = StatementCounter(monkeypatch)
    url = f"/api/project/{project.id}/newtask"

    found = [counter.of(lean, f"{url}?api_key={volunteer.api_key}") for _ in range(2)]
    anonymous = counter.of(lean, url)

    assert [statements for _, statements in found] == [3, 2]
    assert {response.json["id"] for response, _ in found} == {german.id}
    assert anonymous[1] == 1
    assert spy.calls == 0


@pytest.mark.parametrize("change", ["unknown api key", "now default"])
def test_a_known_user_pref_project_checks_the_caller_before_answering(apps, db, change):
    project = _project("user_pref")
    TaskFactory(project=project)
    TaskFactory(project=project, user_pref={"languages": ["de"]})
    volunteer = UserFactory(user_pref={"languages": ["de"]})
    lean, spy, plain = apps
    lean.get(f"/api/project/{project.id}/newtask?api_key={volunteer.api_key}")  # now known
    key = volunteer.api_key
    if change == "unknown api key":
        key = "not-a-key"
    else:
        project.info = {**project.info, "sched": "default"}
        db.commit()
    url = f"/api/project/{project.id}/newtask?api_key={key}"

    before = spy.calls
    fast = lean.get(url, expect_errors=True)
    slow = plain.get(url, expect_errors=True)

    assert (fast.status_int, fast.json) == (slow.status_int, slow.json)
    # An unknown key is the application's to refuse; a project now default is the lean path's.
    assert spy.calls == before + (change == "unknown api key")
