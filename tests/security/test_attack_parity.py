"""Found by the outside attack on issue 18 (the PYBOSSA parity pages): inputs of the owner's task
pages and of the API's numeric strings that still crash the server (decision 14: bad input never
yields a 500), and guards of what held."""

import threading
import time

import psycopg
import pytest
from sqlalchemy import func, select

from core import wire
from core.models import Auditlog, Task
from tests import factories
from tests.functional.web.conftest import csrf_token, make_user, sign_in

# More digits than int() converts (Python's 4,300-digit limit): a ValueError, not a number.
DIGITS_BEYOND_INT = "9" * 5000


def owner_app(app, db):
    """The app signed in as the owner of a published project with one task; (project, task)."""
    owner = make_user()
    project = factories.ProjectFactory(owner=owner, published=True)
    task = factories.TaskFactory(project=project)
    db.commit()
    sign_in(app, owner)
    return project, task


def post_form(app, project, path: str, fields: dict):
    token = csrf_token(app, f"/project/{project.short_name}/tasks/settings")
    return app.post_json(
        f"/project/{project.short_name}/{path}",
        fields,
        headers={"X-CSRFToken": token},
        expect_errors=True,
    )


def unchanged(db, task, priority: float = 0.0) -> None:
    db.rollback()
    db.expire_all()
    assert db.get(Task, task.id).priority_0 == priority
    assert db.scalar(select(func.count()).select_from(Auditlog)) == 0


# --- /project/<sn>/tasks/priority ---------------------------------------------------------------


@pytest.mark.parametrize("priority", ["nan", "NaN", "-nan"])
def test_a_priority_that_is_not_a_number_is_a_form_error(app, db, priority):
    """POST /tasks/priority priority_0=nan: colander's Float takes 'nan', Range(0, 1) lets it
    through (every comparison with nan is false): on SQLite the task's NOT NULL priority_0
    column refuses it at flush (NaN is stored as NULL), a 500; PostgreSQL stores NaN, a priority
    outside 0-1 that sorts above every other. It must be the form's range error."""
    project, task = owner_app(app, db)

    response = post_form(
        app, project, "tasks/priority", {"task_ids": str(task.id), "priority_0": priority}
    )

    assert response.status_int == 200, response.text[:300]
    assert "between 0.0 and 1.0" in str(response.json["form"]["errors"])
    unchanged(db, task)


@pytest.mark.parametrize("task_ids", ["²", "1,³", "①"], ids=["sup2", "list-sup3", "circled1"])
def test_task_ids_with_digits_int_cannot_read_are_a_form_error(app, db, task_ids):
    """POST /tasks/priority task_ids=²: the validator's str.isdigit() says yes to superscript
    and other non-decimal digits, then int() raises ValueError in the view: a 500."""
    project, task = owner_app(app, db)

    response = post_form(
        app, project, "tasks/priority", {"task_ids": task_ids, "priority_0": "0.5"}
    )

    assert response.status_int == 200, response.text[:300]
    assert "whole numbers" in str(response.json["form"]["errors"])
    unchanged(db, task)


@pytest.mark.parametrize(
    "task_ids", ["9" * 20, "1," + "9" * 30, DIGITS_BEYOND_INT], ids=["20", "list-30", "5000"]
)
def test_task_ids_no_task_can_have_are_a_form_error(app, db, task_ids):
    """POST /tasks/priority task_ids=99999999999999999999: the id goes to the database as is
    (SQLite: OverflowError 'Python int too large to convert to SQLite INTEGER'; PostgreSQL:
    integer out of range), and 5,000 digits make int() itself raise: 500s. An id no task can
    have is a task of no project: the form's error."""
    project, task = owner_app(app, db)

    response = post_form(
        app, project, "tasks/priority", {"task_ids": task_ids, "priority_0": "0.5"}
    )

    assert response.status_int == 200, response.text[:300]
    assert response.json["form"]["errors"]["task_ids"]
    unchanged(db, task)


# --- numeric strings in the API -----------------------------------------------------------------


@pytest.mark.parametrize("field", ["n_answers", "priority_0", "quorum"])
def test_a_numeric_string_too_long_for_int_is_a_415(app, db, field):
    """PUT /api/task/<id> {"n_answers": "999…9" (5,000 digits)}: core.schemas StrictInt turns the
    numeric string into a number with int(), which refuses more than 4,300 digits (ValueError):
    a 500. It is an integer out of range: the documented 415 DataError."""
    owner = factories.UserFactory()
    project = factories.ProjectFactory(owner=owner)
    task = factories.TaskFactory(project=project)
    db.commit()

    response = app.put_json(
        f"/api/task/{task.id}",
        {field: DIGITS_BEYOND_INT},
        headers={"Authorization": owner.api_key},
        expect_errors=True,
    )

    assert response.status_int == 415, response.text[:300]
    assert response.json["exception_cls"] == "DataError"


def test_a_project_id_too_long_for_int_is_a_415(app, db):
    """POST /api/task {"project_id": "999…9"}: the same int() in StrictInt, a 500."""
    owner = factories.UserFactory()
    factories.ProjectFactory(owner=owner)
    db.commit()

    response = app.post_json(
        "/api/task",
        {"project_id": DIGITS_BEYOND_INT, "info": {}},
        headers={"Authorization": owner.api_key},
        expect_errors=True,
    )

    assert response.status_int == 415, response.text[:300]
    assert response.json["exception_cls"] == "DataError"


# --- the lean path's libpq calls and the other threads of the process ---------------------------


@pytest.fixture
def lock_probe(database_url):
    """A one-row table on PostgreSQL; (holder, waiter) psycopg connections, the holder's
    transaction holding the row's lock."""
    if not database_url.startswith("postgresql"):
        pytest.skip("core.wire runs on PostgreSQL only")
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    setup = psycopg.connect(url, autocommit=True)
    setup.execute("DROP TABLE IF EXISTS attack_lock_probe")
    setup.execute("CREATE TABLE attack_lock_probe (id INTEGER PRIMARY KEY, n INTEGER)")
    setup.execute("INSERT INTO attack_lock_probe VALUES (1, 0)")
    holder = psycopg.connect(url)
    waiter = psycopg.connect(url, autocommit=True)
    # A bound on the wait: without it the test would hang as the server did.
    waiter.execute("SET lock_timeout = '3s'")
    holder.execute("UPDATE attack_lock_probe SET n = n + 1 WHERE id = 1")
    try:
        yield holder, waiter
    finally:
        holder.rollback()
        for connection in (holder, waiter):
            connection.close()
        setup.execute("DROP TABLE attack_lock_probe")
        setup.close()


@pytest.mark.parametrize("batch", [False, True], ids=["one-statement", "pipeline"])
def test_a_lean_statement_waiting_for_a_row_lock_lets_the_process_run(lock_probe, batch):
    """pserve (waitress, 8 threads) on PostgreSQL with Redis, owner POST /tasks/delete while
    volunteers POST /api/taskrun with their api keys: the whole process froze for good. The
    lean answer (core.delivery through core.wire) waited for the task row that the delete's
    transaction had locked, inside libpq's blocking PQgetResult / PQexecPrepared called through
    psycopg.pq with the GIL held; the thread that held the lock (and every other thread) then
    never ran again, its transaction stayed `idle in transaction` holding the rows, and the
    server answered nothing more (py-spy: every thread in futex_wait on the GIL, one in poll
    inside core/wire.py:_last_result). Waiting for the database must let other threads run."""
    holder, waiter = lock_probe
    statement = wire.Statement("UPDATE attack_lock_probe SET n = n + 1 WHERE id = %(id)s")
    outcome = {}

    def answer():
        try:
            outcome["rows"] = wire.execute(waiter, [(statement, [1])], begin=batch, commit=batch)
        except psycopg.Error as error:
            outcome["error"] = error

    thread = threading.Thread(target=answer)
    started = time.monotonic()
    thread.start()
    time.sleep(0.3)  # the answer is now waiting for the row lock
    stalled = time.monotonic() - started
    holder.commit()  # what the lock holder's thread does next
    thread.join(10)

    assert stalled < 1.5, f"this thread could not run for {stalled:.1f} s"
    assert "error" not in outcome, outcome


# --- /project/<sn>/tasks/delete while answers arrive --------------------------------------------


def test_deleting_tasks_keeps_a_task_completed_while_the_delete_waited(db, engine):
    """pserve on PostgreSQL (delivery.lean off), 24 volunteers each POST /api/taskrun to their
    own task (n_answers 1) while the owner POSTs /project/<sn>/tasks/delete: up to 18 of 24
    answers acknowledged with 200 (and their tasks' results) were gone afterwards; answered one
    by one, every task is kept. delete_tasks_without_results (core/services/task.py) picks the
    tasks without a result in its statement's snapshot; a task whose completing answer (its
    row locked by the answer's UPDATE) commits meanwhile is deleted anyway once the lock is
    released (PostgreSQL re-checks only the task row, not the NOT IN (result) subquery), and
    the cascade takes the acknowledged answer and its result. Tasks with results are kept
    (behavior.md 9.4) and no acknowledged answer is lost (decision 19)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises the two writers")
    from core.db import get_session_factory
    from core.models import Project, Result, TaskRun
    from core.services import answers
    from core.services import task as tasks
    from core.services.task_run import SessionStore

    volunteer = factories.UserFactory()
    project = factories.ProjectFactory(published=True)
    task = factories.TaskFactory(project=project, n_answers=1)
    db.commit()
    project_id, task_id, volunteer_id = project.id, task.id, volunteer.id
    sessions = get_session_factory(engine)
    answering, deleting = sessions(), sessions()
    # The answer, as core.services.task_run.submit stores it, not yet committed.
    run = TaskRun(project_id=project_id, task_id=task_id, user_id=volunteer_id, info={"a": 1})
    held = answering.get(Task, task_id), answering.get(Project, project_id)
    store = SessionStore(answering, *held, run)
    answers.record_answer(store, "user_id")
    result = store.result
    assert result is not None  # the answer completes the task
    outcome = {}

    def delete():
        try:
            outcome["deleted"] = tasks.delete_tasks_without_results(deleting, project_id)
            deleting.commit()
        except Exception as error:
            deleting.rollback()
            outcome["error"] = repr(error)

    thread = threading.Thread(target=delete)
    thread.start()
    time.sleep(0.5)  # the delete now waits for the task row the answer locked
    answering.commit()  # the volunteer gets its 200
    thread.join(10)
    answering.close()
    deleting.close()

    db.rollback()
    db.expire_all()
    assert db.get(Task, task_id) is not None, f"the completed task was deleted: {outcome}"
    assert db.scalar(select(func.count()).select_from(Result)) == 1
    assert db.scalar(select(func.count()).select_from(TaskRun)) == 1


# --- /account/<name>/delete: what the deleted account held ---------------------------------------


def test_a_deleted_accounts_session_never_opens_the_next_account(app, make_app, db):
    """On SQLite (development.ini): sign in as zed (the newest account) in two browsers, delete
    the account from one (POST /account/zed/delete), then someone registers victim: victim gets
    zed's id again (the user table's INTEGER PRIMARY KEY without AUTOINCREMENT reuses the
    largest id once its row is gone), and zed's other browser is now signed in as victim
    (GET /account/profile: victim's e-mail address and API key). The session names the account
    by id and session epoch only (end_sessions bumped the epoch of the row that was then
    deleted; the new row starts at 0 again). A deleted account's cookie must open nothing."""
    zed = make_user(name="zed", email_addr="zed@example.com")
    db.commit()
    zed_id = zed.id
    other_browser = make_app()
    sign_in(other_browser, zed)
    sign_in(app, zed)
    app.post_json(
        "/account/zed/delete",
        {"current_password": "secret-password"},
        headers={"X-CSRFToken": csrf_token(app, "/account/zed/delete")},
    )
    db.rollback()
    victim = make_user(name="victim", email_addr="victim@example.com")
    db.commit()
    print(f"zed had id {zed_id}, victim got {victim.id}")

    answer = other_browser.get("/account/profile", headers={"Accept": "application/json"})

    assert "user" not in answer.json, answer.json["user"]["email_addr"]
    assert victim.api_key not in answer.text


# --- numbers that are not what they seem --------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["\u0663", "\u0969", "\U0001d7db"], ids=["arabic-indic", "devanagari", "math"]
)
def test_a_numeric_string_is_ascii_digits_as_postgresql_reads_it(app, db, value):
    """PUT /api/task/<id> {"n_answers": "٣"}: core.schemas' INTEGER_TEXT uses \\d, which in a
    Python str pattern matches every Unicode decimal digit, and int() reads them: the task gets
    n_answers 3. PYBOSSA hands the string to PostgreSQL, which refuses it (invalid input syntax
    for type integer): the numeric-string rule is PostgreSQL's text of a number, ASCII digits."""
    owner = factories.UserFactory()
    project = factories.ProjectFactory(owner=owner)
    task = factories.TaskFactory(project=project, n_answers=2)
    db.commit()

    response = app.put_json(
        f"/api/task/{task.id}",
        {"n_answers": value},
        headers={"Authorization": owner.api_key},
        expect_errors=True,
    )

    assert response.status_int == 415, response.text[:300]
    assert response.json["exception_cls"] == "DataError"


@pytest.mark.parametrize("value", [2.5, True, "2.5"], ids=["fraction", "boolean", "text"])
def test_the_redundancy_page_refuses_what_the_api_refuses(app, db, value):
    """POST /project/<sn>/tasks/redundancy {"n_answers": 2.5} (JSON): colander.Integer truncates
    (int(2.5) == 2, int(True) == 1) and every task gets 2 (or 1) answers, where PUT /api/task
    answers 415 "2.5 is not an integer" for the same value (the brief's one n_answers rule)."""
    project, task = owner_app(app, db)

    response = post_form(app, project, "tasks/redundancy", {"n_answers": value})

    assert response.status_int == 200, response.text[:300]
    assert response.json.get("form", {}).get("errors", {}).get("n_answers"), response.json
    db.rollback()
    db.expire_all()
    assert db.get(Task, task.id).n_answers == task.n_answers
