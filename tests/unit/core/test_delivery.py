"""The lean path's connection (core.delivery.Statements): on PostgreSQL each thread keeps the one
it used between requests, and gives it back to the pool when it may not be clean, when it has
been out for KEEP_SECONDS, or when it is a parent's, inherited by a fork."""

import gc
import os
import threading

import pytest
from sqlalchemy import literal, select

from core import delivery
from core.db import get_engine
from core.delivery import Statements


@pytest.fixture
def statements(database_url):
    engine = get_engine({"sqlalchemy.url": database_url})
    try:
        yield Statements(engine)
    finally:
        engine.dispose()


def _session(statements) -> int:
    """The server session (PostgreSQL) or connection object (SQLite) a request's statements
    run on."""
    with statements.connect() as connection:
        if connection.postgresql:
            return connection.raw.driver_connection.execute("SELECT pg_backend_pid()").fetchone()[
                0
            ]
        return id(connection.raw.driver_connection)


def _postgresql_only(statements):
    if not statements.postgresql:
        pytest.skip("SQLite's connections go back to the pool after each request")


def test_a_thread_keeps_its_connection_between_requests(statements):
    _postgresql_only(statements)
    first = _session(statements)
    assert _session(statements) == first
    assert statements.engine.pool.checkedout() == 1  # kept, not returned
    other = []
    thread = threading.Thread(target=lambda: other.append(_session(statements)))
    thread.start()
    thread.join()
    assert other[0] != first  # each thread its own, given back when the thread has ended
    del thread
    gc.collect()
    assert statements.engine.pool.checkedout() == 1


def test_sqlite_returns_the_connection_after_each_request(statements):
    if statements.postgresql:
        pytest.skip("PostgreSQL keeps it")
    _session(statements)
    assert statements.engine.pool.checkedout() == 0


def test_a_request_that_failed_returns_its_connection_to_the_pool(statements):
    _postgresql_only(statements)
    _session(statements)
    with pytest.raises(RuntimeError):
        with statements.connect():
            raise RuntimeError("a statement failed")
    assert statements.engine.pool.checkedout() == 0


def test_a_connection_left_in_a_transaction_is_not_used_again(statements):
    _postgresql_only(statements)
    with statements.connect() as connection:
        driver = connection.raw.driver_connection
        driver.autocommit = False
        driver.execute("SELECT 1")  # a transaction left open, as a bug might leave it
    with statements.connect() as connection:
        # Given back to the pool (which rolled it back) and taken out again.
        assert connection.raw.driver_connection.info.transaction_status == delivery.IDLE
        found = connection.rows(("one",), lambda: select(literal(1).label("one")), {})
        assert found == [{"one": 1}]


def test_a_kept_connection_goes_back_to_the_pool_after_a_while(statements, monkeypatch):
    _postgresql_only(statements)
    _session(statements)
    _raw, _pid, since = statements._kept.holder[0]
    monkeypatch.setattr(delivery.time, "monotonic", lambda: since + delivery.KEEP_SECONDS + 1)
    with statements.connect() as connection:
        assert statements.engine.pool.checkedout() == 1
        assert connection.since == since + delivery.KEEP_SECONDS + 1  # checked out anew
    assert statements._kept.holder[0][2] == since + delivery.KEEP_SECONDS + 1


def test_a_forked_child_leaves_its_parents_kept_connection_alone(statements):
    _postgresql_only(statements)
    parent = _session(statements)
    pid = os.fork()
    if pid == 0:
        try:
            status = 0 if _session(statements) != parent else 1
        except BaseException:
            status = 2
        os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # the child opened its own session
    assert _session(statements) == parent  # and the parent's still works
