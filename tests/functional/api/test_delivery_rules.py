"""Each delivery rule exists once (core.services.answers): changed there, it changes on both
paths, the lean path (core.delivery) and the application (core.api, core.services.task_run),
and the lean path still answers. A rule restated on one side would make one of these fail."""

import pytest
from sqlalchemy import literal, select

from core.hookspecs import hookimpl
from core.models import ProjectStats, Result, Task, TaskRun
from core.services import answers
from tests.factories import TaskFactory, UserFactory
from tests.functional.api.test_delivery import _handed, _post, _project
from tests.functional.api.test_delivery import apps as apps
from tests.lean import lean_of
from tests.unit.core.services.test_answers import _marked_reaches


@pytest.fixture
def rules(apps, monkeypatch):
    """monkeypatch for the rules; the lean path's statements compiled again with the changed
    rules, and again after the test with the real ones."""
    statements = lean_of(apps[0]).statements
    statements._compiled.clear()
    yield monkeypatch
    monkeypatch.undo()
    statements._compiled.clear()


def _both(apps):
    """((app, whether it is the lean one), ...) and the spy on the lean one's application."""
    lean, spy, plain = apps
    return ((lean, True), (plain, False)), spy


def _afresh(db):
    """The session reads again what the apps wrote behind it."""
    db.rollback()
    db.expire_all()


def _answer(app, project, user):
    task = _handed(app, project, user)
    assert _post(app, project, task["id"], user).status_int == 200
    return task["id"]


def test_completion_follows_the_one_rule_on_both_paths(apps, db, rules):
    rules.setattr(answers, "reaches", _marked_reaches)  # one answer more than n_answers
    pairs, spy = _both(apps)
    for app, lean in pairs:
        project = _project()
        task = TaskFactory(project=project, n_answers=1)
        before = spy.calls
        _answer(app, project, UserFactory())
        _afresh(db)
        assert db.get(Task, task.id).state == "ongoing"
        assert db.scalar(select(Result.id).where(Result.task_id == task.id)) is None
        _answer(app, project, UserFactory())
        _afresh(db)
        assert db.get(Task, task.id).state == "completed"
        assert db.get(ProjectStats, project.id).n_completed_tasks == 1
        assert len(db.scalars(select(Result).where(Result.task_id == task.id)).all()) == 1
        assert spy.calls == before or not lean  # the lean app answered itself


def test_new_volunteers_follow_the_one_rule_on_both_paths(apps, db, rules):
    rules.setattr(answers, "earlier_answer_in_project", lambda column, *where: literal(False))
    pairs, spy = _both(apps)
    for app, lean in pairs:
        project = _project()
        for _ in range(2):
            TaskFactory(project=project, n_answers=5)
        volunteer = UserFactory()
        before = spy.calls
        for _ in range(2):
            _answer(app, project, volunteer)
        _afresh(db)
        assert db.get(ProjectStats, project.id).n_volunteers == 2  # never an earlier answer
        assert spy.calls == before or not lean  # the lean app answered itself


def test_attribution_follows_the_one_rule_on_both_paths(apps, db, rules):
    rules.setattr(answers, "author", lambda user_id, user_ip, external_uid=None: ("user_ip", "x"))
    pairs, spy = _both(apps)
    for app, lean in pairs:
        project = _project()
        TaskFactory(project=project, n_answers=5)
        before = spy.calls
        task_id = _answer(app, project, UserFactory())
        run = db.scalars(select(TaskRun).where(TaskRun.task_id == task_id)).one()
        assert (run.user_id, run.user_ip) == (None, "x")
        assert spy.calls == before or not lean  # the lean app answered itself


def test_result_versions_follow_the_one_builder_on_both_paths(apps, db, rules):
    original = answers.result_version
    rules.setattr(
        answers, "result_version", lambda *a, **k: {**original(*a, **k), "last_version": False}
    )
    pairs, spy = _both(apps)
    for app, lean in pairs:
        project = _project()
        task = TaskFactory(project=project, n_answers=1)
        before = spy.calls
        _answer(app, project, UserFactory())
        result = db.scalars(select(Result).where(Result.task_id == task.id)).one()
        assert result.last_version is False
        assert spy.calls == before or not lean  # the lean app answered itself


def test_newtask_sends_the_one_payload_on_both_paths(apps, db, rules):
    rules.setattr(answers, "newtask_payload", lambda tasks: {"handed": tasks})
    pairs, spy = _both(apps)
    for app, lean in pairs:
        project = _project()
        task = TaskFactory(project=project)
        before = spy.calls
        found = app.get(f"/api/project/{project.id}/newtask").json
        assert [handed["id"] for handed in found["handed"]] == [task.id]
        assert spy.calls == before or not lean  # the lean app answered itself


def test_a_refusal_of_the_one_admission_hands_the_request_to_the_application(
    apps,
    db,
    rules,
):
    rules.setattr(answers, "admission", lambda *args, **kwargs: answers.ANONYMOUS)
    lean, spy, plain = apps
    project = _project()
    TaskFactory(project=project)
    volunteer = UserFactory()
    url = f"/api/project/{project.id}/newtask?api_key={volunteer.api_key}"
    before = spy.calls
    fast, slow = lean.get(url).json, plain.get(url).json
    assert fast == slow
    assert fast["info"] == {"error": "This project does not allow anonymous contributors"}
    assert spy.calls == before + 1  # handed over


def test_the_one_sequence_drives_every_answer_store(apps, db, rules):
    """answers.record_answer is the sequence of the ORM store and of the lean path's stores
    (steps on SQLite, folded on PostgreSQL): a step left out of it is left out everywhere."""

    def without_figures(store, kind):
        store.run_inserted(kind)
        store.counted_on_task()
        store.project_touched()
        store.task_completed(when=answers.completes)
        store.result_versioned(when=answers.versions)

    rules.setattr(answers, "record_answer", without_figures)
    pairs, spy = _both(apps)
    for app, lean in pairs:
        project = _project()
        task = TaskFactory(project=project, n_answers=1)
        before = spy.calls
        _answer(app, project, UserFactory())
        _afresh(db)
        assert db.get(Task, task.id).state == "completed"
        assert db.scalars(select(Result).where(Result.task_id == task.id)).one().last_version
        figures = db.get(ProjectStats, project.id)
        assert (figures.n_task_runs, figures.n_completed_tasks, figures.n_volunteers) == (0, 0, 0)
        assert spy.calls == before or not lean  # the lean app answered itself


def test_the_one_sequence_decides_result_versions_on_both_paths(apps, db, rules):
    """The sequence's `versions` decides for every store, the lean path's one-statement case
    included (it is for the answers no step's condition holds for)."""
    rules.setattr(answers, "versions", lambda n_runs, n_answers, state: True)
    pairs, spy = _both(apps)
    for app, lean in pairs:
        project = _project()
        task = TaskFactory(project=project, n_answers=3)
        before = spy.calls
        _answer(app, project, UserFactory())
        _afresh(db)
        assert db.get(Task, task.id).state == "ongoing"  # not completed: a version all the same
        result = db.scalars(select(Result).where(Result.task_id == task.id)).one()
        assert len(result.task_run_ids) == 1
        assert spy.calls == before or not lean  # the lean app answered itself


def _bodies(project_id: int, task_id: int) -> dict:
    """Answer bodies whose every field the lean path may read itself."""
    return {
        "server's file keys in info": {
            "project_id": project_id,
            "task_id": task_id,
            "info": {"answer": 1, "container": "user_1", "file_name": "a.png"},
        },
        "ids as text": {"project_id": str(project_id), "task_id": str(task_id), "info": 1},
        "ids as whole floats": {"project_id": float(project_id), "task_id": float(task_id)},
        "an id as a boolean": {"project_id": True, "task_id": task_id},
        "an id out of range": {"project_id": project_id, "task_id": 2**31},
        "a null id": {"project_id": None, "task_id": task_id},
        "no project id": {"task_id": task_id, "info": "x"},
        "a list as info": {"project_id": project_id, "task_id": task_id, "info": [1, {"a": 2}]},
    }


@pytest.mark.parametrize("name", sorted(_bodies(0, 0)))
def test_the_lean_path_reads_an_answer_body_as_the_api_does(apps, db, name):
    """The lean path's body filter is the API's schema and info rule (uploads.client_info):
    a body either takes is stored alike, refused alike. Its server-only info keys (a stored
    file's) were kept by the lean path, which could make a run claim someone's file."""
    outcomes = []
    for app, _lean in _both(apps)[0]:
        project = _project()
        task = TaskFactory(project=project, n_answers=5)
        user = UserFactory()
        _handed(app, project, user)
        body = _bodies(project.id, task.id)[name]
        response = _post(app, project, task.id, user, body=body)
        _afresh(db)
        run = db.scalars(select(TaskRun).where(TaskRun.task_id == task.id)).one_or_none()
        stored = None if run is None else (run.info, run.project_id == project.id)
        outcomes.append((response.status_int, response.json.get("info"), stored))
    assert outcomes[0] == outcomes[1]


def test_both_paths_announce_a_completion_by_the_one_function(apps, db, rules):
    """answers.announce_completion (the payload, the streams, the task_completed hook) is what
    each path calls once an answer that wrote a result is committed."""
    announced = []
    original = answers.announce_completion

    def recorded(hook, settings, named, publish=None, made=None):
        payload = original(hook, settings, named, publish=publish, made=made)
        announced.append((payload["task_id"], payload["result_id"]))
        return payload

    class Listener:  # the hook has an implementation: there is something to announce
        @hookimpl
        def crowdnest_task_completed(self, payload):
            pass

    rules.setattr(answers, "announce_completion", recorded)
    pairs, spy = _both(apps)
    for app, lean in pairs:
        project = _project()
        task = TaskFactory(project=project, n_answers=1)
        before = spy.calls
        announced.clear()
        plugins = lean_of(app).registry["plugins"] if lean else app.app.registry["plugins"]
        plugins.register(Listener(), name="test-listener")
        try:
            _answer(app, project, UserFactory())
        finally:
            plugins.unregister(name="test-listener")
        _afresh(db)
        result_id = db.scalar(select(Result.id).where(Result.task_id == task.id))
        assert announced == [(task.id, result_id)]
        assert spy.calls == before or not lean  # the lean app answered itself


def test_a_new_result_version_keeps_n_results_on_both_paths(apps, db):
    """A counted result (stats.COUNTED_RESULT: the latest, with info) superseded by an answer
    leaves n_results, on the application's path and the lean path's alike, equal to its
    recount (the attacker's finding 2: the result steps superseded it without uncounting)."""
    pairs, spy = _both(apps)
    for app, lean in pairs:
        project = _project("depth_first_all")
        task = TaskFactory(project=project, n_answers=1)
        _answer(app, project, UserFactory())
        _afresh(db)
        result = db.scalars(select(Result).where(Result.task_id == task.id)).one()
        result.info = {"agreed": 1}  # as an owner's PUT counts it (core/api/result.py)
        db.get(ProjectStats, project.id).n_results += 1
        db.commit()
        before = spy.calls
        _answer(app, project, UserFactory())  # depth_first_all: the completed task again
        _afresh(db)
        assert db.get(ProjectStats, project.id).n_results == 0  # the latest has no info
        assert spy.calls == before or not lean  # the lean app answered itself
