"""The lean path's statements on PostgreSQL through libpq (core.wire): numbered placeholders,
prepared once per connection and again when deallocated, pipelined batches whose transaction is
all or nothing, errors raised as psycopg's own."""

import psycopg
import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, Text, bindparam, insert, select

from core import wire
from core.db import get_engine
from core.delivery import Statements

PROBE = Table(
    "wire_probe",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("note", Text),
    Column("info", JSON),
)


def test_placeholders_are_numbered_once_per_name():
    sql = "SELECT %(a)s::INTEGER, %(b)s, %(a)s::INTEGER WHERE 'x' LIKE '%%'"
    statement = wire.Statement(sql)
    assert statement.sql == b"SELECT $1::INTEGER, $2, $1::INTEGER WHERE 'x' LIKE '%'"
    assert statement.names == ("a", "b")
    assert statement.arguments({"b": "two", "a": 1}) == [1, "two"]
    assert wire.Statement(sql).name == statement.name  # named by its text
    assert wire.Statement("SELECT %(a)s").name != statement.name


@pytest.fixture
def statements(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs the statements through its DBAPI cursor")
    engine = get_engine({"sqlalchemy.url": database_url})
    with engine.begin() as connection:
        PROBE.drop(connection, checkfirst=True)
        PROBE.create(connection)
    try:
        yield Statements(engine)
    finally:
        with engine.begin() as connection:
            PROBE.drop(connection)
        engine.dispose()


def _probe_read():
    return select(PROBE.c.id, PROBE.c.note, PROBE.c.info).where(PROBE.c.id >= bindparam("least"))


def _probe_write():
    return (
        insert(PROBE)
        .values(id=bindparam("id"), note=bindparam("note"), info=bindparam("info"))
        .returning(PROBE.c.id)
    )


def _prepared(connection) -> list[str]:
    driver = connection.raw.driver_connection
    rows = driver.execute(
        "SELECT name FROM pg_prepared_statements WHERE name LIKE 'crowdnest%%'"
    ).fetchall()
    return [name for (name,) in rows]


def test_values_go_and_come_back_as_a_cursor_gives_them(statements):
    written = {"id": 1, "note": "100% 'quoted' ; --", "info": {"a": [1, None, True]}}
    with statements.connect() as connection:
        with connection.transaction():
            (ids,) = connection.batch([(("probe write",), _probe_write, written)], commit=True)
        assert ids == [{"id": 1}]
        connection.rows(("probe write",), _probe_write, {"id": 2, "note": None, "info": None})
        found = connection.rows(("probe read",), _probe_read, {"least": 1})
        driver = connection.raw.driver_connection
        cursor_rows = driver.execute(
            "SELECT id, note, info FROM wire_probe ORDER BY id"
        ).fetchall()
    assert found == [written, {"id": 2, "note": None, "info": None}]
    assert [tuple(row.values()) for row in found] == cursor_rows


def test_a_statement_is_prepared_once_per_connection_and_again_when_deallocated(statements):
    with statements.connect() as connection:
        for _ in range(3):
            assert connection.rows(("probe read",), _probe_read, {"least": 0}) == []
        assert len(_prepared(connection)) == 1
        connection.raw.driver_connection.execute("DEALLOCATE ALL")
        assert _prepared(connection) == []
        assert connection.rows(("probe read",), _probe_read, {"least": 0}) == []
        assert len(_prepared(connection)) == 1
        # Prepared on the server but not known here (a pooler's other session): used as it is.
        connection.raw.driver_connection.__dict__["_crowdnest_wire"].prepared.clear()
        assert connection.rows(("probe read",), _probe_read, {"least": 0}) == []
        assert len(_prepared(connection)) == 1


def test_a_pipelined_transaction_is_all_or_nothing(statements):
    rows = [{"id": 7, "note": "first", "info": None}, {"id": 7, "note": "again", "info": None}]
    with statements.connect() as connection:
        with pytest.raises(psycopg.errors.UniqueViolation):
            with connection.transaction():
                connection.batch([(("probe write",), _probe_write, row) for row in rows], True)
        driver = connection.raw.driver_connection
        assert driver.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert connection.rows(("probe read",), _probe_read, {"least": 0}) == []
        # A transaction whose batch did not commit is committed when the block ends.
        with connection.transaction():
            connection.batch([(("probe write",), _probe_write, rows[0])])
            assert driver.pgconn.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert driver.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with statements.engine.connect() as other:
        assert other.execute(select(PROBE.c.note)).scalars().all() == ["first"]


def test_a_batch_outside_a_transaction_fails_as_one(statements):
    """As psycopg's pipeline in autocommit mode: the batch is one implicit transaction."""
    rows = [{"id": 3, "note": "a", "info": None}, {"id": 3, "note": "b", "info": None}]
    with statements.connect() as connection:
        with pytest.raises(psycopg.errors.UniqueViolation):
            connection.batch([(("probe write",), _probe_write, row) for row in rows])
        assert connection.rows(("probe read",), _probe_read, {"least": 0}) == []
        (first, second) = connection.batch(
            [
                (("probe write",), _probe_write, rows[0]),
                (("probe read",), _probe_read, {"least": 0}),
            ]
        )
        assert first == [{"id": 3}]
        assert second == [rows[0]]  # one transaction: the read sees the write before it


def test_a_lost_connection_raises_and_is_not_kept(statements):
    with statements.connect() as connection:
        pid = connection.raw.driver_connection.info.backend_pid
    with statements.engine.connect() as other:
        other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    with pytest.raises(psycopg.OperationalError):
        with statements.connect() as connection:
            connection.rows(("probe read",), _probe_read, {"least": 0})
    with statements.connect() as connection:
        assert connection.raw.driver_connection.info.backend_pid != pid
        assert connection.rows(("probe read",), _probe_read, {"least": 0}) == []


def test_a_value_that_cannot_be_sent_raises_before_anything_is(statements):
    rows = [
        {"id": 9, "note": "kept out", "info": None},
        {"id": 10, "note": object(), "info": None},
    ]
    with statements.connect() as connection:
        with pytest.raises(psycopg.ProgrammingError):
            with connection.transaction():
                connection.batch([(("probe write",), _probe_write, row) for row in rows], True)
        driver = connection.raw.driver_connection
        assert driver.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF
        assert driver.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert connection.rows(("probe read",), _probe_read, {"least": 0}) == []
