"""Engines across a fork (gunicorn's workers under preload_app): a child starts with empty pools
and never touches the connections its parent pooled; the parent's stay usable."""

import os

from sqlalchemy import text

from core.db import get_engine


def _session_id(connection) -> int:
    """Which server session (PostgreSQL) or connection object (SQLite) this is."""
    if connection.dialect.name == "postgresql":
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return id(connection.connection.dbapi_connection)


def _in_child(check) -> int:
    """The exit status of a forked child running check() (0 when it returns True)."""
    pid = os.fork()
    if pid == 0:
        try:
            status = 0 if check() else 1
        except BaseException:
            status = 2
        os._exit(status)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_forked_child_opens_its_own_connections(database_url):
    engine = get_engine({"sqlalchemy.url": database_url})
    try:
        with engine.connect() as connection:
            parent_session = _session_id(connection)
        assert engine.pool.checkedin() == 1  # pooled in the parent before the fork

        def child() -> bool:
            if engine.pool.checkedin() != 0:
                return False
            with engine.connect() as connection:
                if connection.dialect.name == "postgresql":
                    return _session_id(connection) != parent_session
                return connection.execute(text("SELECT 1")).scalar_one() == 1

        assert _in_child(child) == 0
        # The child left the parent's connection open: the parent goes on with the same one.
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
            if connection.dialect.name == "postgresql":
                assert _session_id(connection) == parent_session
    finally:
        engine.dispose()


def test_unique_violation_tells_a_duplicate_from_a_missing_parent(db):
    from sqlalchemy.exc import IntegrityError

    from core.db import unique_violation
    from core.models import Category, Task
    from tests.factories import CategoryFactory

    category = CategoryFactory()
    db.commit()
    try:
        db.add(Category(name=category.name + "x", short_name=category.short_name, description=""))
        db.flush()
    except IntegrityError as duplicate:
        assert unique_violation(duplicate)
    else:
        raise AssertionError("a duplicate short_name was stored")
    db.rollback()
    try:
        db.add(Task(project_id=999_999, info={}))
        db.flush()
    except IntegrityError as orphan:
        assert not unique_violation(orphan)
    else:
        raise AssertionError("a task of no project was stored")
    db.rollback()
