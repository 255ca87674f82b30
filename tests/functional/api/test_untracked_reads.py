"""API reads without pyramid_tm (issue 19, point 2): a GET or HEAD of a list or a single
object runs no zope transaction; core.db.untracked_tween ends its session instead, committing
what a read wrote and rolling back an error, and no connection stays checked out."""

import threading

import pytest
import transaction
from sqlalchemy import select

from core.api.task import TaskResource
from core.db import UNTRACKED, transaction_wanted
from core.errors import DomainError
from core.models import Category, Task, TaskRequest
from tests.factories import ProjectFactory, TaskFactory, UserFactory
from tests.functional.api.roles import auth


class Begun:
    """Counts the zope transactions begun (a synchronizer of the thread's manager)."""

    def __init__(self):
        self.count = 0

    def newTransaction(self, txn):
        self.count += 1

    def beforeCompletion(self, txn):
        pass

    def afterCompletion(self, txn):
        pass


@pytest.fixture
def begun():
    synch = Begun()
    transaction.manager.registerSynch(synch)
    yield synch
    transaction.manager.unregisterSynch(synch)


@pytest.fixture
def pool(app):
    return app.app.registry["db_engine"].pool


def left_open(pool) -> int:
    """Connections of the application's pool still checked out (0 once every request ended)."""
    return pool.checkedout() if hasattr(pool, "checkedout") else 0


def test_reads_run_without_pyramid_tm_and_writes_with_it(app, db, pool, begun):
    owner = UserFactory()
    task = TaskFactory(project=ProjectFactory(owner=owner))
    for path in (
        "/api/task",
        f"/api/task/{task.id}",
        f"/api/task?project_id={task.project_id}&limit=100",
        "/api/project?all=1",
        f"/api/project/{task.project_id}",
    ):
        app.get(path, headers=auth(owner))
        app.head(path, headers=auth(owner))
    assert begun.count == 0
    # No session was left in a transaction for the thread's next request to abort.
    assert left_open(pool) == 0
    app.post_json("/api/task", {"project_id": task.project_id}, headers=auth(owner))
    assert begun.count == 1


def test_only_the_lists_objects_and_newtask_go_untracked(app):
    registry = app.app.registry

    class Request:
        def __init__(self, method, path):
            self.method, self.path_info, self.registry, self.environ = method, path, registry, {}

    for path in ("/api/task", "/api/project/12", "/api/project/1/newtask", "/api/3/newtask"):
        assert not transaction_wanted(Request("GET", path)), path
    assert not transaction_wanted(Request("HEAD", "/api/project/12"))
    assert not transaction_wanted(Request("GET", "/api/project/short-name/newtask"))
    for method, path in (
        ("POST", "/api/task"),
        ("PUT", "/api/task/1"),
        ("DELETE", "/api/task/1"),
        ("POST", "/api/project/1/newtask"),
        ("GET", "/api/project/1/newtask/x"),
        ("GET", "/api/project/1/userprogress"),
        ("GET", "/api/task/1/x"),
        ("GET", "/api/taskx"),
        ("GET", "/api/task/²"),
        ("GET", "/account/"),
    ):
        assert transaction_wanted(Request(method, path)), (method, path)


def test_a_read_after_a_write_sees_it(app, db):
    owner = UserFactory()
    project = ProjectFactory(owner=owner)
    created = app.post_json(
        "/api/task", {"project_id": project.id, "info": {"n": 1}}, headers=auth(owner)
    ).json
    assert app.get(f"/api/task/{created['id']}", headers=auth(owner)).json["info"] == {"n": 1}
    app.put_json(f"/api/task/{created['id']}", {"info": {"n": 2}}, headers=auth(owner))
    assert app.get(f"/api/task/{created['id']}").json["info"] == {"n": 2}
    listed = app.get(f"/api/task?project_id={project.id}", headers=auth(owner)).json
    assert [item["info"] for item in listed] == [{"n": 2}]
    app.delete(f"/api/task/{created['id']}", headers=auth(owner))
    app.get(f"/api/task/{created['id']}", status=404)


@pytest.fixture
def writing_read(monkeypatch):
    """A list whose view writes a category (and asks for a step after the commit), then, when
    `fail` is set, refuses the request."""
    calls = {"after_commit": 0, "fail": False, "sessions": []}

    def list_extras(self, tasks, listing):
        assert self.db.info.get(UNTRACKED)
        calls["sessions"].append(self.db)
        self.db.add(Category(name="written", short_name="written", description=""))
        self.db.flush()
        self.request.after_commit(lambda: calls.__setitem__("after_commit", 1))
        if calls["fail"]:
            raise DomainError("BadRequest", "refused after writing")
        return {}

    monkeypatch.setattr(TaskResource, "list_extras", list_extras)
    return calls


def written(db) -> list[str]:
    db.rollback()
    names = list(db.scalars(select(Category.name).where(Category.name == "written")))
    db.commit()
    return names


def test_a_read_that_writes_keeps_its_write(app, db, pool, writing_read):
    TaskFactory()
    app.get("/api/task")
    assert written(db) == ["written"]
    assert writing_read["after_commit"] == 1
    # The session was ended: nothing of it in a transaction, its connection back in the pool.
    assert not writing_read["sessions"][0].in_transaction()
    assert left_open(pool) == 0


def test_an_error_rolls_the_read_back(app, db, pool, writing_read):
    TaskFactory()
    writing_read["fail"] = True
    response = app.get("/api/task", status=400)
    assert response.json["exception_msg"] == "refused after writing"
    assert written(db) == []
    assert writing_read["after_commit"] == 0
    assert not writing_read["sessions"][0].in_transaction()
    assert left_open(pool) == 0


def test_no_connection_stays_checked_out_under_load(app, db, pool):
    owner, volunteer = UserFactory(), UserFactory()
    project = ProjectFactory(owner=owner)
    tasks = [TaskFactory(project=project) for _ in range(3)]
    paths = [
        f"/api/task?project_id={project.id}&limit=100",
        f"/api/task?project_id={project.id}&all=1",
        f"/api/task/{tasks[0].id}",
        "/api/task/999999",  # 404
        "/api/task?nonsense=1",  # 415 from the list query's checks
        "/api/project",
        f"/api/project/{project.id}",
    ]
    failures = []

    def client(user):
        try:
            for _ in range(5):
                for path in paths:
                    app.get(path, headers=auth(user), expect_errors=True)
        except Exception as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=client, args=(u,)) for u in (owner, volunteer, None) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert left_open(pool) == 0
    if hasattr(pool, "size"):
        # The pool did not grow beyond its size for six clients' reads.
        assert pool.checkedin() <= max(pool.size(), 6)
    # Every read still answered right after the load.
    assert len(app.get(f"/api/task?project_id={project.id}", headers=auth(owner)).json) == 3
    assert db.scalar(select(Task.id).where(Task.id == tasks[0].id)) == tasks[0].id


def test_newtask_keeps_its_hand_out_and_answers_count(app, db, pool, begun):
    """Without Redis the guard stamps the hand-out in the database: newtask is a GET that
    writes, and its write must be committed for the answer that follows to be taken."""
    volunteer = UserFactory()
    project = ProjectFactory()
    task = TaskFactory(project=project)
    handed = app.get(f"/api/project/{project.id}/newtask", headers=auth(volunteer)).json
    assert handed["id"] == task.id
    assert begun.count == 0
    assert left_open(pool) == 0
    db.rollback()
    stamped = db.scalars(select(TaskRequest.task_id).where(TaskRequest.project_id == project.id))
    assert list(stamped) == [task.id]
    db.commit()
    app.post_json(
        "/api/taskrun",
        {"project_id": project.id, "task_id": task.id, "info": {"answer": 1}},
        headers=auth(volunteer),
    )


def test_newtask_reads_its_project_with_one_statement_built_once(app, db, engine, monkeypatch):
    """By id or short name, the project is read by a statement built once (core.db.read:
    on PostgreSQL outside the session's transaction) and is the session's, as if loaded."""
    from core.api import newtask

    project = ProjectFactory(short_name="birds")
    task = TaskFactory(project=project)
    statements = []
    real_read = newtask.read
    monkeypatch.setattr(
        newtask, "read", lambda db, st, values: statements.append(st) or real_read(db, st, values)
    )
    for reference in (str(project.id), "birds"):
        assert app.get(f"/api/project/{reference}/newtask").json["id"] == task.id
    assert app.get(f"/api/{project.id}/newtask").json["id"] == task.id
    app.get("/api/project/nothing-here/newtask", status=404)
    app.get("/api/project/999999/newtask", status=404)
    # Two shapes (by id, by short name), each built once.
    assert len(statements) == 5 and len({id(st) for st in statements}) == 2
