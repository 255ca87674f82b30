"""one_project: one condition for "the rows of one project", written for each database."""

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from core.models import Task
from core.models.clauses import one_project
from tests.factories import ProjectFactory, TaskFactory


def _sql(statement, dialect) -> str:
    return str(statement.compile(dialect=dialect))


def test_postgresql_reads_it_as_an_array_of_one():
    statement = select(Task.id).where(one_project(Task.project_id))
    assert "task.project_id = ANY (ARRAY[CAST(%(project_id)s AS INTEGER)])" in _sql(
        statement, postgresql.psycopg.dialect()
    )


def test_other_databases_read_a_plain_equality():
    statement = select(Task.id).where(one_project(Task.project_id, "other"))
    assert "task.project_id = ?" in _sql(statement, sqlite.dialect())


def test_statements_with_it_are_cached_apart_by_parameter_name():
    first = select(Task.id).where(one_project(Task.project_id, "a"))
    second = select(Task.id).where(one_project(Task.project_id, "b"))
    assert first._generate_cache_key() != second._generate_cache_key()
    assert first._generate_cache_key() == (
        select(Task.id).where(one_project(Task.project_id, "a"))._generate_cache_key()
    )


def test_it_selects_the_project_s_rows_and_no_other_s(db):
    mine, other = ProjectFactory(), ProjectFactory()
    wanted = {TaskFactory(project=mine).id for _ in range(3)}
    TaskFactory(project=other)
    statement = select(Task.id).where(one_project(Task.project_id)).order_by(Task.id)
    assert set(db.scalars(statement, {"project_id": mine.id})) == wanted
