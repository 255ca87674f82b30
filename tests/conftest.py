"""Fixtures: one migrated database per run, emptied after each test; WebTest apps; factories.

The database is SQLite by default; set CROWDNEST_TEST_DATABASE_URL to a PostgreSQL URL to run
the same suite there (the README's test command does both).
"""

import os
import uuid

import pytest
import transaction
import webtest
from sqlalchemy import text

from core import db as db_module
from core import main
from core.cache import bump_all
from core.db import get_engine, get_session_factory
from core.delivery import give_back_kept_connections
from core.migrate import upgrade
from core.models import Base
from core.redis import reset_breakers
from core.services.pending import book_of
from tests import factories

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("CROWDNEST_TEST_DATABASE_URL")
    if url:
        return url
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"sqlite:///{tmp_path_factory.mktemp('db')}/crowdnest-{worker}.sqlite"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = _database_url(tmp_path_factory)
    engine = get_engine({"sqlalchemy.url": url})
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade(url)
    # Every test starts from empty tables (see _empty), so the default category the migrations
    # add goes too; tests/unit/core/test_migrate.py checks it is there after an upgrade.
    _empty(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def engine(database_url):
    engine = get_engine({"sqlalchemy.url": database_url}, sqlite_begin="DEFERRED")
    yield engine
    engine.dispose()


def _empty(engine):
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{name}"' for name in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                connection.execute(text(f'DELETE FROM "{name}"'))


@pytest.fixture
def db(engine):
    """A session for arranging and inspecting data; every table is emptied after the test."""
    session = get_session_factory(engine)()
    factories.bind(session)
    yield session
    session.close()
    _empty(engine)


BASE_SETTINGS = {
    "session.secret": "test-secret",
    # Redis pub/sub channels are server-wide: the streams of each test process apart.
    "sse.channel_prefix": f"test-{uuid.uuid4().hex[:8]}",
    "ratelimit.limit": "100000",
    "ratelimit.credentials.limit": "100000",
    "ratelimit.credentials.address_limit": "100000",
    "redis.url": "",
}


@pytest.fixture(scope="session")
def app_settings(database_url, tmp_path_factory):
    uploads = str(tmp_path_factory.mktemp("uploads"))
    exports = str(tmp_path_factory.mktemp("exports"))
    return {
        **BASE_SETTINGS,
        "sqlalchemy.url": database_url,
        "upload.dir": uploads,
        "export.dir": exports,
    }


@pytest.fixture(scope="module", autouse=True)
def _idle_connections_closed():
    """After each module, the connections the built apps keep idle are closed: on PostgreSQL
    a run's hundred apps would otherwise hold more than its connection slots."""
    yield
    give_back_kept_connections()
    for engine in list(db_module._ENGINES):
        engine.dispose()


@pytest.fixture(scope="session")
def _built_apps():
    """WSGI apps by settings, built once per run: building one costs seconds."""
    built = {}
    yield built
    for application in built.values():
        application.registry["db_engine"].dispose()


@pytest.fixture
def make_app(app_settings, db, _built_apps):
    """A WebTest app with extra settings, as the .ini would give them (fresh cookies, fresh
    rate-limit counters)."""

    def make(**overrides):
        settings = {**app_settings, **{k.replace("__", "."): v for k, v in overrides.items()}}
        key = tuple(sorted(settings.items()))
        application = _built_apps.get(key)
        if application is None:
            application = _built_apps[key] = main({"here": HERE}, **settings)
        application.registry["ratelimiter"].counter.reset()
        # Hand-outs of an earlier test, kept by the process without Redis: its tasks are gone.
        book_of(application.registry.settings).clear()
        # Cached pages of an earlier test: its data was written behind the cache's back.
        bump_all(application.registry["cache"])
        return webtest.TestApp(application, extra_environ={"REMOTE_ADDR": "10.0.0.1"})

    return make


@pytest.fixture(autouse=True)
def _redis_answers_again():
    """Each test starts with every Redis trusted (core.redis's breakers are per process)."""
    reset_breakers()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def tm():
    return transaction.manager


def _worker_redis_url() -> str:
    """A Redis database of this xdist worker's own (13 for the first, 12 for the next...)."""
    url = os.environ.get("CROWDNEST_TEST_REDIS_URL")
    if url:
        return url
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    number = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return f"redis://localhost:6379/{13 - number % 8}"


@pytest.fixture(scope="session")
def redis_url():
    """The Redis URL tests may empty at will; skips the test when no Redis answers."""
    return _worker_redis_url()


@pytest.fixture
def redis_client(redis_url):
    """A client on this worker's emptied Redis database, or a skip when none answers."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {redis_url}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()
