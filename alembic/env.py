"""Alembic environment: the URL comes from the .ini's app settings or CROWDNEST_SQLALCHEMY_URL."""

import os

from sqlalchemy import engine_from_config, pool

from alembic import context
from core.models import Base
from core.settings import load_settings

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):
    """Leave SQLite's FTS5 index (revision 0002, no model of its own) out of comparisons."""
    return not (type_ == "table" and name.startswith("info_fts"))


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url and config.config_file_name:
        # Run as `alembic -c production.ini upgrade head`: read the app section's settings.
        from pyramid.paster import get_appsettings

        here = os.path.dirname(os.path.abspath(config.config_file_name))
        settings = load_settings(get_appsettings(config.config_file_name), here=here)
        url = settings["sqlalchemy.url"]
    return os.environ.get("CROWDNEST_SQLALCHEMY_URL", url)


def run_migrations_offline():
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        {"sqlalchemy.url": database_url()},
        "sqlalchemy.",
        poolclass=pool.NullPool,
        # Data migrations carry users' data: errors never show it (as core.db.get_engine).
        hide_parameters=True,
    )
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
