"""A signed-in caller's plain list (issue 19, point 2): the statement built once per shape,
the caller's id and owned project ids bound as values, the api key read outside the
request's transaction; the answers exactly those of the general path."""

import pytest
from sqlalchemy import event

from core.db import plain_sql
from core.models import Task
from core.services import query as list_query
from tests.factories import ProjectFactory, TaskFactory, TaskRunFactory, UserFactory
from tests.functional.api.roles import auth


def ids(response):
    return [item["id"] for item in response.json]


@pytest.fixture
def world(db):
    owner, coowner, volunteer = UserFactory(), UserFactory(), UserFactory()
    admin = UserFactory(admin=True)
    mine = ProjectFactory(owner=owner, coowners=[coowner])
    draft = ProjectFactory(owner=owner, published=False)
    theirs = ProjectFactory()
    their_draft = ProjectFactory(published=False)
    for project in (mine, draft, theirs, their_draft):
        for _ in range(3):
            TaskRunFactory(task=TaskFactory(project=project))
    users = {"owner": owner, "coowner": coowner, "volunteer": volunteer, "admin": admin}
    projects = {"mine": mine, "draft": draft, "theirs": theirs, "their_draft": their_draft}
    return users, projects


QUERIES = (
    "",
    "all=1",
    "limit=2",
    "all=1&limit=2&offset=1",
    "project_id={mine}",
    "project_id={draft}&all=1",
    "project_id={their_draft}&all=1",
    "project_id={mine},{theirs}&all=1",
    "project_id={theirs}",
    "all=1&desc=true&orderby=created",
    "all=1&last_id=3",
)


@pytest.mark.parametrize("role", ["owner", "coowner", "volunteer", "admin"])
@pytest.mark.parametrize("path", ["task", "taskrun", "result", "project"])
def test_shaped_answers_equal_the_general_paths(app, world, role, path):
    users, projects = world
    for template in QUERIES:
        query = template.format(**{name: p.id for name, p in projects.items()})
        if path == "project" and "project_id" in query:
            continue
        shaped = app.get(f"/api/{path}?{query}", headers=auth(users[role]))
        # `created=` (any created time) sends the same request down the general path.
        general = app.get(f"/api/{path}?{query}&created=", headers=auth(users[role]))
        assert shaped.json == general.json, (role, path, query)


def test_one_statement_per_shape_for_every_signed_in_caller(app, world):
    users, projects = world
    list_query.shaped_select.cache_clear()
    for role in ("owner", "coowner", "volunteer"):
        app.get(f"/api/task?project_id={projects['mine'].id}&all=1", headers=auth(users[role]))
        app.get(f"/api/task?project_id={projects['mine'].id}", headers=auth(users[role]))
    built = list_query.shaped_select.cache_info()
    # Two shapes (all=1 and own objects); callers differ only in bound values.
    assert (built.misses, built.hits) == (2, 4)


def test_a_caller_who_owns_nothing_gets_an_empty_page_without_the_list_query(app, world):
    users, projects = world
    engine = app.app.registry["db_engine"]
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        response = app.get(
            f"/api/task?project_id={projects['mine'].id}", headers=auth(users["volunteer"])
        )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert response.json == []
    assert not [s for s in statements if "FROM task" in s]


@pytest.mark.parametrize(
    ("caller", "context"), [(None, False), ("user", True), ("user", False), ("admin", False)]
)
def test_one_projects_page_is_read_from_that_projects_index_entries(caller, context):
    """On PostgreSQL a one-project page filters by `= ANY(ARRAY[id])` and orders by the project
    first, which only the project's own index entries (project_id, id...) return in order. With
    `project_id = $n ORDER BY id` the planner dropped the constant from the order and walked
    the table's id index, filtering every other project's rows: 3 to 15 ms at 30,000 tasks for
    a project stored after a large one (EXPLAIN ANALYZE, issue 19), growing with the table."""
    from sqlalchemy.dialects import postgresql

    statement = list_query.shaped_select(
        "postgresql", Task, (("project_id", False),), "id", False, False, False, caller, context
    )
    sql, _names = plain_sql(postgresql.psycopg.dialect(), statement)
    assert "task.project_id = ANY (ARRAY[CAST(%(project_id)s AS INTEGER)])" in sql
    assert "ORDER BY task.project_id, task.id" in sql
    descending = list_query.shaped_select(
        "postgresql", Task, (("project_id", False),), "id", True, False, False, caller, context
    )
    assert "ORDER BY task.project_id DESC, task.id DESC" in str(descending)
