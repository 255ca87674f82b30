"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

import logging
import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from core.db import JSONType, get_engine, get_session_factory
from core.migrate import alembic_config
from core.models import Base, Category, Project, User
from core.models.task import digest_of
from core.services.importer import import_tasks
from core.services.project import create_project


def _ignore_fts(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and name.startswith("info_fts"))


def test_head_matches_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": _ignore_fts, "compare_type": True}
        )
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


def test_head_is_the_last_revision(engine):
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()

    assert current == head


# --- 0008: task.info_digest, filled in for the tasks already there ------------------------------

LEGACY_TASK = sa.table(
    "task",
    *(sa.column(name) for name in ("created", "project_id", "state", "quorum", "calibration")),
    *(sa.column(name) for name in ("priority_0", "n_answers", "n_task_runs")),
    sa.column("info", JSONType),
)
INFOS = [
    {"b": 1, "a": "é"},
    {"nested": {"z": [1, 2.5, None], "a": True}, "url": "https://x/1.jpg"},
    None,
    ["a", "list"],
    "a plain string",
]


@pytest.fixture
def scratch_url(engine, tmp_path):
    """An empty database of the test database's kind: a file, or a PostgreSQL schema."""
    if engine.dialect.name != "postgresql":
        yield f"sqlite:///{tmp_path}/scratch.sqlite"
        return
    schema = f"scratch_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = engine.url.update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


# The user table before 0010 (no session_epoch), its columns' defaults kept.
LEGACY_USER = sa.Table(
    "user",
    sa.MetaData(),
    *(column._copy() for column in User.__table__.columns if column.key != "session_epoch"),
)


def _project_with_tasks(scratch, infos) -> int:
    """A project at revision 0007 (no info_digest yet), its tasks inserted as they were then."""
    with get_session_factory(scratch)() as db, db.begin():
        owner_id = db.execute(
            LEGACY_USER.insert().values(
                name="owner", fullname="Owner", email_addr="owner@example.org"
            )
        ).inserted_primary_key[0]
        category = Category(name="Nature", short_name="nature", description="All")
        db.add(category)
        db.flush()
        project = Project(
            name="Birds",
            short_name="birds",
            description="d",
            owner_id=owner_id,
            category_id=category.id,
        )
        db.add(project)
        db.flush()
        common = {"created": "2026-01-01T00:00:00.000000", "state": "ongoing", "quorum": 0}
        common.update(calibration=0, priority_0=0.0, n_answers=30, n_task_runs=0)
        db.execute(
            LEGACY_TASK.insert(),
            [{**common, "project_id": project.id, "info": info} for info in infos],
        )
        return project.id


def _digests(scratch) -> list:
    with scratch.connect() as connection:
        rows = connection.execute(sa.text("SELECT info_digest FROM task ORDER BY id"))
        return [None if digest is None else bytes(digest) for (digest,) in rows]


def test_0008_fills_in_the_digest_of_existing_tasks(scratch_url):
    from alembic import command

    command.upgrade(alembic_config(scratch_url), "0007")
    scratch = get_engine({"sqlalchemy.url": scratch_url})
    try:
        project_id = _project_with_tasks(scratch, INFOS)

        command.upgrade(alembic_config(scratch_url), "head")
        digests = _digests(scratch)
        # Rows filled in by the migration and rows the importer writes agree.
        with get_session_factory(scratch)() as db, db.begin():
            project = db.get(Project, project_id)
            report = import_tasks(db, project, [{"a": "é", "b": 1}, {"a": "new"}])
    finally:
        scratch.dispose()

    assert digests == [digest_of(info) for info in INFOS]
    assert digests[2] is None
    assert (report.created, report.skipped) == (1, 1)


def test_0008_backfills_in_batches_and_reports_progress(scratch_url, monkeypatch, caplog):
    from alembic import command

    command.upgrade(alembic_config(scratch_url), "head")
    scratch = get_engine({"sqlalchemy.url": scratch_url})
    migration = ScriptDirectory.from_config(alembic_config(scratch_url)).get_revision("0008")
    monkeypatch.setattr(migration.module, "BATCH", 2)
    monkeypatch.setattr(migration.module, "PROGRESS_EVERY", 0.0)
    infos = [{"n": n} for n in range(7)]
    try:
        _project_with_tasks(scratch, infos)
        with scratch.begin() as connection:
            connection.execute(sa.text("UPDATE task SET info_digest = NULL"))
            with caplog.at_level(logging.INFO, "alembic.runtime.migration"):
                seen = migration.module.backfill(connection)
        digests = _digests(scratch)
    finally:
        scratch.dispose()

    assert seen == 7
    assert digests == [digest_of(info) for info in infos]
    assert "task.info_digest: 2/7 tasks (28 %)" in caplog.text
    assert "task.info_digest: 7/7 tasks (100 %)" in caplog.text


def test_0008_downgrades(scratch_url):
    from alembic import command

    command.upgrade(alembic_config(scratch_url), "head")
    command.downgrade(alembic_config(scratch_url), "0007")
    scratch = get_engine({"sqlalchemy.url": scratch_url})
    try:
        columns = {column["name"] for column in sa.inspect(scratch).get_columns("task")}
        if scratch.dialect.name == "sqlite":
            with scratch.connect() as connection:
                triggers = connection.scalars(
                    sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                ).all()
            # The full-text triggers of 0002 outlive the column's removal.
            assert "task_info_fts_update" in triggers
    finally:
        scratch.dispose()

    assert "info_digest" not in columns
    assert "info" in columns


# --- 0011: a default category on a site that has none --------------------------------------------


def _categories(scratch) -> list:
    with scratch.connect() as connection:
        return connection.execute(sa.text("SELECT name, short_name FROM category")).all()


def test_0011_adds_the_default_category_to_an_empty_site(scratch_url):
    from alembic import command

    command.upgrade(alembic_config(scratch_url), "head")
    scratch = get_engine({"sqlalchemy.url": scratch_url})
    try:
        categories = _categories(scratch)
        with get_session_factory(scratch)() as db, db.begin():
            owner = User(name="owner", fullname="Owner", email_addr="owner@example.org")
            db.add(owner)
            db.flush()
            project = create_project(
                db, owner, {"name": "B", "short_name": "b", "description": "d"}
            )
            first = db.scalar(sa.select(Category.id).order_by(Category.id))
            in_first = project.category_id == first
    finally:
        scratch.dispose()

    assert categories == [("General", "general")]
    assert in_first


def test_0011_leaves_a_site_with_categories_alone(scratch_url):
    from alembic import command

    command.upgrade(alembic_config(scratch_url), "0010")
    scratch = get_engine({"sqlalchemy.url": scratch_url})
    try:
        with get_session_factory(scratch)() as db, db.begin():
            db.add(Category(name="Art", short_name="art", description="Paintings"))
        command.upgrade(alembic_config(scratch_url), "head")
        categories = _categories(scratch)
    finally:
        scratch.dispose()

    assert categories == [("Art", "art")]


# --- 0012: the dead `webhook` table is dropped ---------------------------------------------


def _tables(scratch_url) -> set:
    scratch = get_engine({"sqlalchemy.url": scratch_url})
    try:
        return set(sa.inspect(scratch).get_table_names())
    finally:
        scratch.dispose()


def test_0012_drops_the_webhook_table_and_its_downgrade_restores_it(scratch_url):
    from alembic import command

    command.upgrade(alembic_config(scratch_url), "0011")
    assert {"webhook", "webhook_delivery"} <= _tables(scratch_url)

    command.upgrade(alembic_config(scratch_url), "head")
    assert "webhook" not in _tables(scratch_url)
    assert "webhook_delivery" in _tables(scratch_url)

    command.downgrade(alembic_config(scratch_url), "0011")
    assert "webhook" in _tables(scratch_url)
