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
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    else:
        command.upgrade(config, "head")


def includeme(config):
    settings = config.get_settings()
    if settings["db.auto_migrate"]:
        log.info("upgrading the database schema to head")
        upgrade(settings["sqlalchemy.url"], config.registry["db_engine"])
