"""Table generations: a Redis counter per table, incremented after each commit that wrote it.

Caches of data read from the database (core.apicache) store the generations of the tables they
read and serve an entry only while those generations are unchanged. Every SQLAlchemy session
records the tables it wrote — unit-of-work flushes and bulk `insert/update/delete` statements
alike — and increments their counters once its transaction has committed (never before: a
reader could otherwise store old data under the new generation).

Tracking is switched on per engine by `core.db.get_engine` when Redis is configured, so the web
processes, the `crowdnest` command and background workers all take part. Other caches read the
same record: `written(session)` in an after_commit listener (core.cache does). Writes made outside
SQLAlchemy (psql, COPY) must call `bump_all` (the benchmarks' seeding does).

While Redis is unreachable commits cannot bump (core.redis.either skips it): when it answers
again, the process that sees it first bumps every table of its tracked engines, so that no
answer cached before the outage is served after it.
"""

import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from core.redis import attempt, breaker_of, on_recovery

log = logging.getLogger(__name__)

PREFIX = "crowdnest:gen:"
WRITTEN = "crowdnest_written_tables"
# engine -> Redis client, for the engines whose sessions are tracked.
_redis_of_engine: dict = {}
# engine -> the MetaData of its tables, bumped whole once Redis returns after an outage.
_metadata_of_engine: dict = {}


def key(table: str) -> str:
    return PREFIX + table


def track(engine, redis, metadata) -> None:
    """Bump generations for the sessions bound to `engine` (whose tables `metadata` lists)."""
    _redis_of_engine[engine] = redis
    _metadata_of_engine[engine] = metadata


def untrack(engine) -> None:
    _redis_of_engine.pop(engine, None)
    _metadata_of_engine.pop(engine, None)


def _note(session, tables) -> None:
    session.info.setdefault(WRITTEN, set()).update(tables)


@event.listens_for(Session, "after_flush")
def _after_flush(session, flush_context) -> None:
    written = {
        obj.__table__.name
        for obj in (*session.new, *session.dirty, *session.deleted)
        if hasattr(obj, "__table__")
    }
    if written:
        _note(session, written)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if table is not None:
            _note(state.session, {table.name})


def written(session) -> set[str]:
    """The tables the session's current transaction wrote so far (read it in after_commit)."""
    return session.info.get(WRITTEN, set())


@event.listens_for(Session, "after_commit")
def _after_commit(session) -> None:
    tables = written(session)
    if not tables or not _redis_of_engine:
        return
    redis = _redis_of_engine.get(session.get_bind())
    if redis is not None:
        bump(redis, tables)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session, transaction) -> None:
    # Forgotten only when the outermost transaction ends (committed: after every after_commit
    # listener, core.cache's among them, has read the set; rolled back: nothing is bumped). A
    # savepoint rolled back keeps its tables: at worst a cached entry is recomputed once.
    if transaction.parent is None:
        session.info.pop(WRITTEN, None)


def redis_of(engine):
    """The Redis client that keeps the generations of `engine`'s tables (None: untracked)."""
    return _redis_of_engine.get(engine)


def tracked(engine) -> bool:
    """Whether commits through `engine` bump generations (writes made on its bare connections,
    core.delivery's, must then bump them too)."""
    return engine in _redis_of_engine


def bump(redis, tables) -> None:
    """Increment the tables' generations; a Redis failure is recorded (core.redis), never
    raised (the commit has happened; every table is bumped once Redis answers again)."""

    def increment(client):
        pipe = client.pipeline(transaction=False)
        for table in sorted(tables):
            pipe.incr(key(table))
        pipe.execute()

    attempt(redis, increment)


def bump_all(redis, metadata) -> None:
    """After writes SQLAlchemy did not see: every table's cached reads become stale."""
    bump(redis, metadata.tables.keys())


def _bump_everything(url: str) -> None:
    """After an outage of Redis at `url`: every table of every engine it tracks is bumped."""
    for engine, redis in list(_redis_of_engine.items()):
        if breaker_of(redis).url == url:
            bump_all(redis, _metadata_of_engine[engine])


on_recovery(_bump_everything)
