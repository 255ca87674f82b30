"""Every built-in scheduler reads one project's tasks through that project's own index entries,
never by walking the table's id index past other projects' rows (PostgreSQL, generic plans as
the lean path runs them: core.db GENERIC_PLANS)."""

import re

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from core.hookspecs import SchedulerOptions
from plugins.schedulers import breadth_first, depth_first, incremental
from plugins.schedulers.base import SHOWN, paged
from plugins.schedulers.locked import _lean_read
from tests.factories import ProjectFactory, TaskFactory

BUILT = {
    "depth_first": lambda: paged(depth_first._unfinished("user", SchedulerOptions(), *SHOWN)),
    "depth_first_all": lambda: paged(depth_first._all("user", SchedulerOptions(), *SHOWN)),
    "breadth_first": lambda: paged(
        breadth_first._fewest_first("user", SchedulerOptions(), *SHOWN)
    ),
    "incremental": lambda: paged(incremental._candidates("user", SchedulerOptions(), *SHOWN)),
    "locked": lambda: _lean_read(SchedulerOptions(), False),
}
VALUES = {"who": 1, "limit": 5, "offset": 0, "after": -1}


def _prepared(statement) -> tuple[str, list[str]]:
    """The statement as PostgreSQL text with $n parameters, and their names in order."""
    sql = str(statement.compile(dialect=postgresql.psycopg.dialect()))
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
    return re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", sql), names


@pytest.fixture
def late_project(db, engine):
    """A project with one task, then another project's 3,000, then the first's 20 more."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the plans of PostgreSQL")
    late, crowded = ProjectFactory(), ProjectFactory()
    TaskFactory(project=late, n_answers=1)
    db.commit()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO task (created, project_id, state, quorum, calibration, priority_0,"
                " info, n_answers, n_task_runs) SELECT created, :crowded, state, quorum,"
                " calibration, priority_0, info, n_answers, 0 FROM task, generate_series(1, 3000)"
                " WHERE project_id = :late"
            ),
            {"crowded": crowded.id, "late": late.id},
        )
    for _ in range(20):
        TaskFactory(project=late, n_answers=1)
    db.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE task"))
    return late


@pytest.mark.parametrize("scheduler", sorted(BUILT))
def test_the_late_project_s_tasks_are_read_from_its_index(scheduler, late_project, engine):
    sql, names = _prepared(BUILT[scheduler]())
    values = {**VALUES, "project_id": late_project.id}
    arguments = ", ".join(repr(values.get(name, 0)) for name in names)
    with engine.connect() as connection:
        connection.execute(text("SET plan_cache_mode = force_generic_plan"))
        connection.execute(text("SET jit = off"))
        connection.exec_driver_sql(f"PREPARE read_tasks AS {sql}")
        plan = "\n".join(
            row[0]
            for row in connection.exec_driver_sql(f"EXPLAIN EXECUTE read_tasks({arguments})")
        )
        connection.rollback()
    assert "pk_task" not in plan, plan
