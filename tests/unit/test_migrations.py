"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.models import Base


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
    from alembic.script import ScriptDirectory

    from core.migrate import alembic_config

    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()

    assert current == head
