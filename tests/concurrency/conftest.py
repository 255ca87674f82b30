"""Fixtures of the concurrency proof: its own PostgreSQL database, Redis db 14, gunicorn -w 4.

Runs only where CROWDNEST_TEST_DATABASE_URL names a PostgreSQL server and Redis answers at
REDIS_URL; elsewhere every test here is skipped. The database is `<that name>_concurrency`,
created when missing and emptied here, so the one the rest of the suite uses is never touched.
CROWDNEST_CONCURRENCY_DATABASE_URL names another database instead (emptied too),
CROWDNEST_CONCURRENCY_REDIS_URL another Redis db (flushed).
"""

import os

import psycopg
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db import get_engine, get_session_factory
from core.migrate import upgrade
from core.models import Category, User
from tests.concurrency.crowd import Gunicorn, Volunteer

REDIS_URL = os.environ.get("CROWDNEST_CONCURRENCY_REDIS_URL", "redis://localhost:6379/14")
WORKERS = 4
# Held for the whole session: two runs on one machine take turns instead of emptying each
# other's database and Redis db.
ADVISORY_LOCK = 0x63726F77


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "concurrency: gunicorn -w 4 over PostgreSQL and Redis under a crowd of volunteers "
        "(`make concurrency`; skipped without CROWDNEST_TEST_DATABASE_URL and Redis)",
    )


def pytest_collection_modifyitems(config, items):
    """Minutes, not seconds: run only when asked for (`-m concurrency`, `make concurrency`)."""
    if "concurrency" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="the concurrency proof runs with -m concurrency")
    for item in items:
        if "concurrency" in item.keywords:
            item.add_marker(skip)


def _libpq(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def concurrency_db_url():
    """A migrated, empty `<test database>_concurrency` database."""
    base = os.environ.get("CROWDNEST_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        pytest.skip("needs CROWDNEST_TEST_DATABASE_URL naming a PostgreSQL database")
    base_url = make_url(base)
    url = base_url.set(database=f"{base_url.database}_concurrency")
    if os.environ.get("CROWDNEST_CONCURRENCY_DATABASE_URL"):
        url = base_url = make_url(os.environ["CROWDNEST_CONCURRENCY_DATABASE_URL"])
    try:
        admin = psycopg.connect(_libpq(base_url), autocommit=True, connect_timeout=3)
        admin.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK,))
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)
        ).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{url.database}"')
    except psycopg.Error as error:
        pytest.skip(f"PostgreSQL at CROWDNEST_TEST_DATABASE_URL unusable: {error}")
    rendered = url.render_as_string(hide_password=False)
    engine = get_engine({"sqlalchemy.url": rendered})
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(rendered)
    yield rendered
    admin.close()


@pytest.fixture(scope="session")
def concurrency_redis():
    """Redis db 14, flushed: no reservation or guard stamp of an earlier run survives."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"needs Redis at {REDIS_URL}: {error}")
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def concurrency_engine(concurrency_db_url):
    engine = get_engine({"sqlalchemy.url": concurrency_db_url})
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def volunteers(concurrency_engine) -> list[Volunteer]:
    """The volunteers (users with api keys), plus the projects' `owner` and a category."""
    count = int(os.environ.get("CROWDNEST_CONCURRENCY_VOLUNTEERS", "64"))
    session = get_session_factory(concurrency_engine)()
    owner = User(email_addr="owner@example.org", name="owner", fullname="Project Owner")
    users = [
        User(
            email_addr=f"volunteer{n}@example.org", name=f"volunteer{n}", fullname=f"Volunteer {n}"
        )
        for n in range(1, count + 1)
    ]
    category = Category(name="Science", short_name="science", description="Science")
    session.add_all([owner, *users, category])
    session.commit()
    crowd = [Volunteer(user.id, user.api_key) for user in users]
    session.close()
    return crowd


def server_overrides(db_url: str, **settings: str) -> dict[str, str]:
    """The environment of a gunicorn of the proof: that database, REDIS_URL, no rate limit,
    then `settings` (CROWDNEST_* variables: CROWDNEST_SCHEDULER_PENDING_TTL="2")."""
    overrides = {
        "CROWDNEST_SQLALCHEMY_URL": db_url,
        "CROWDNEST_REDIS_URL": REDIS_URL,
        "CROWDNEST_RATELIMIT_LIMIT": "100000000",
        # production.ini refuses default or short secrets (decision 18).
        "CROWDNEST_SESSION_SECRET": "concurrency-test-session-secret-of-32-bytes-or-more",
        "CROWDNEST_IP_PSEUDONYM_KEY": "concurrency-test-ip-pseudonym-key-of-32-bytes-or-more",
        "CROWDNEST_SITE_URL": "http://127.0.0.1",
    }
    return {**overrides, **settings}


@pytest.fixture(scope="session")
def server(concurrency_db_url, concurrency_redis, tmp_path_factory):
    """gunicorn --paste production.ini -w 4 on loopback, over that database and Redis db 14."""
    overrides = server_overrides(concurrency_db_url)
    log_path = str(tmp_path_factory.mktemp("gunicorn") / "gunicorn.log")
    gunicorn = Gunicorn(overrides, WORKERS, log_path)
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()
