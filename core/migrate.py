"""Bring the schema to alembic's head at start-up when db.auto_migrate is on (development)."""

import logging
import os

from alembic.config import Config

from alembic import command

log = logging.getLogger(__name__)
HERE = os.path.dirname(os.path.abspath(__file__))


def migrations_dir() -> str:
    """The alembic scripts: installed as core/migrations by `pip install .`, else the checkout's
    alembic/ (editable installs and PYTHONPATH runs)."""
    installed = os.path.join(HERE, "migrations")
    if os.path.isfile(os.path.join(installed, "env.py")):
        return installed
    return os.path.join(os.path.dirname(HERE), "alembic")


ALEMBIC_DIR = migrations_dir()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", ALEMBIC_DIR)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, engine=None) -> None:
    """`alembic upgrade head` against `url` (creating the SQLite folder when needed)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        folder = os.path.dirname(url[len("sqlite:///") :])
        if folder:
            os.makedirs(folder, exist_ok=True)
    config = alembic_config(url)
    if engine is not None:
        with engine.connect() as connection:
            # Migrations rebuild SQLite tables (0013): with foreign keys on, SQLite's DROP TABLE
            # would run the cascades of the rows it drops. Set outside any transaction (inside
            # one SQLite ignores it), as alembic's own engine (env.py) has them.
            driver = connection.connection.driver_connection if _is_sqlite(engine) else None
            if driver is not None:
                driver.execute("PRAGMA foreign_keys=OFF")
            try:
                with connection.begin():
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
            finally:
                if driver is not None:
                    driver.execute("PRAGMA foreign_keys=ON")
    else:
        command.upgrade(config, "head")


def _is_sqlite(engine) -> bool:
    return engine.dialect.name == "sqlite"


def includeme(config):
    settings = config.get_settings()
    if settings["db.auto_migrate"]:
        log.info("upgrading the database schema to head")
        upgrade(settings["sqlalchemy.url"], config.registry["db_engine"])
