"""The database: declarative Base, portable column types, engine, and request.dbsession."""

import logging
import os
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache

import orjson
import transaction
import zope.sqlalchemy
from pyramid.httpexceptions import HTTPNotFound
from pyramid.tweens import EXCVIEW
from pyramid_retry import mark_error_retryable
from sqlalchemy import JSON, Boolean, Float, Integer, MetaData, String, engine_from_config, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, make_transient_to_detached, sessionmaker

from core import generations
from core.inputs import check_text, storable
from core.redis import get_redis

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# `info` and other JSON documents: JSON on SQLite, JSONB on PostgreSQL.
JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def json_loads(value):
    """A stored JSON document; a bare number comes back as one from SQLite, already decoded.

    SQLite gives a column declared JSON numeric affinity: the text `5` is stored as the
    integer 5, which orjson.loads refuses (every list holding that row would fail).
    """
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


def utcnow() -> str:
    """PYBOSSA's timestamp format: ISO 8601, UTC, microseconds, no offset."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection, _record):
    # Let SQLAlchemy, not pysqlite, emit BEGIN, so SAVEPOINTs work (SQLAlchemy's recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# Every engine built here, so that a forked child can leave its parent's connections alone.
_ENGINES: "weakref.WeakSet" = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    """In a forked child (gunicorn's workers under preload_app): the pools start empty. The
    connections pooled before the fork are the parent's: disposed without closing them, as a
    close would end the parent's sessions too (the sockets are shared)."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


# The sessions of the task-delivery path (get_engine's `generic_plans`), as libpq options.
GENERIC_PLANS = "-c plan_cache_mode=force_generic_plan -c jit=off"


def get_engine(
    settings: dict,
    prefix: str = "sqlalchemy.",
    sqlite_begin: str = "IMMEDIATE",
    generic_plans: bool = False,
):
    """Build the engine for the configured URL; SQLite gets WAL and foreign keys.

    `generic_plans` (PostgreSQL): the sessions plan each prepared statement once
    (plan_cache_mode), for the task-delivery path's few statements, whose best plan does not
    depend on their parameters (core.delivery); PostgreSQL would otherwise plan them again at
    every execution, half of its work there. They never compile a plan with JIT.

    The application's SQLite transactions begin IMMEDIATE: a request that reads then writes
    holds the write lock from the start instead of failing with "database is locked" when
    another request wrote in between. Tests inspect with DEFERRED sessions that never block.
    """
    options = {
        "json_serializer": lambda obj: orjson.dumps(obj).decode(),
        "json_deserializer": json_loads,
        # An error's message (logged) never shows bound parameters: they hold api keys,
        # password hashes and e-mail addresses.
        "hide_parameters": True,
    }
    url = settings[prefix + "url"]
    if url.startswith("postgresql"):
        # Recycle rather than ping: a ping is one more round trip on every request.
        options.update(pool_size=10, max_overflow=20, pool_recycle=3600)
        if generic_plans:
            # Without JIT: a generic plan guesses LIMIT $n at a tenth of the rows, so its cost
            # grows with the tables. At 1,000,000 tasks `locked`'s read passed jit_above_cost
            # and spent 40 ms compiling itself at every execution (benchmarks/contribute.py).
            options["connect_args"] = {"options": GENERIC_PLANS}
    config = {prefix + "url": url, prefix + "echo": settings.get(prefix + "echo", False)}
    engine = engine_from_config(config, prefix, **options)
    event.listen(engine, "before_cursor_execute", _refuse_unstorable_text)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        begin = f"BEGIN {sqlite_begin}"
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
    if settings.get("redis.url") and settings.get("api.cache") and not generic_plans:
        # Committed writes bump their tables' generations (core.generations, core.apicache).
        generations.track(engine, get_redis(settings["redis.url"], settings), Base.metadata)
    event.listen(engine, "handle_error", _retry_when_disconnected)
    _ENGINES.add(engine)
    return engine


def _retry_when_disconnected(context) -> None:
    """A lost connection (a restarted server, a terminated session) makes the request retryable
    (pyramid_retry runs it again, on a new connection: the pool replaced them all); when every
    attempt fails, core.errors answers 503."""
    if context.is_disconnect and context.sqlalchemy_exception is not None:
        mark_error_retryable(context.sqlalchemy_exception)


def _refuse_unstorable_text(conn, cursor, statement, parameters, context, executemany):
    """415 for text a database cannot store (NUL, lone surrogates), whatever brought it here.

    Requests are checked where they are read (core.inbound, core.inputs); this is the net
    under them: PostgreSQL would refuse such text with an error, never a client's answer.
    """
    # One row (a dict or a tuple), or several (executemany; a batch of insertmanyvalues may
    # also come flat): look one level down whatever the shape.
    rows = parameters.values() if isinstance(parameters, dict) else parameters or ()
    for row in rows:
        values = row.values() if isinstance(row, dict) else row
        for value in values if isinstance(values, (list, tuple)) else (values,):
            if isinstance(value, str) and not storable(value):
                check_text(value, "value")


PENDING = "crowdnest.after_commit"


def after_commit(session, fn, *args) -> None:
    """Call fn(*args) once the session's transaction commits; forget it on a rollback.

    For side effects outside the database (Redis) that must not happen for a transaction that
    is rolled back or retried. Errors are logged, never raised: the commit has happened.
    """
    pending = session.info.get(PENDING)
    if pending is None:
        pending = session.info[PENDING] = []
        event.listen(session, "after_commit", _run_pending)
        event.listen(session, "after_soft_rollback", _drop_pending)
    pending.append((fn, args))


def _run_pending(session) -> None:
    pending, session.info[PENDING] = session.info.get(PENDING) or [], []
    for fn, args in pending:
        try:
            fn(*args)
        except Exception:
            log.exception("after-commit step %s failed", getattr(fn, "__name__", fn))


def _drop_pending(session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info[PENDING] = []


# session.info keys: the session has begun a transaction on a connection; the session's
# factory keeps CONNECTED up to date (get_session_factory; see reads_alone).
CONNECTED = "crowdnest.connected"
TRACKED = "crowdnest.tracked"


def _connected(session, _transaction, _connection) -> None:
    session.info[CONNECTED] = True


def _transaction_ended(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(CONNECTED, None)


def get_session_factory(engine):
    factory = sessionmaker(bind=engine, expire_on_commit=False, info={TRACKED: True})
    event.listen(factory, "after_begin", _connected)
    event.listen(factory, "after_transaction_end", _transaction_ended)
    return factory


def reads_alone(session) -> bool:
    """Whether a read may leave the session: PostgreSQL, no connection of the session in a
    transaction and nothing to flush, so a statement of its own sees what the session would."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    if not session.info.get(TRACKED):
        # A session from elsewhere: alone only before it has begun anything.
        return not session.in_transaction()
    return not session.info.get(CONNECTED) and not (
        session.new or session.dirty or session.deleted
    )


# Column types whose values psycopg hands over exactly as SQLAlchemy would (no processors).
PLAIN_TYPES = (Integer, String, Boolean, Float, JSON)


@lru_cache(maxsize=512)
def plain_sql(dialect, statement) -> tuple[str, tuple] | None:
    """The SQL text and result column names of a SELECT built once (cached by its builder), if
    psycopg can run it as is, with the same values and results as SQLAlchemy's execution."""
    columns = statement.selected_columns
    if not all(isinstance(column.type, PLAIN_TYPES) for column in columns):
        return None
    compiled = statement.compile(dialect=dialect)
    if compiled.post_compile_params or compiled.literal_execute_params:
        return None
    for bind in compiled.binds.values():
        if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
            return None
    names = tuple(column.name for column in columns)
    if len(set(names)) != len(names):
        return None
    return compiled.string, names


def read(session, statement, values: dict, built_once: bool = True) -> tuple[list, list]:
    """(column names, rows) of a Core SELECT with its bound `values`.

    With reads_alone(), outside the session: in autocommit (one round trip instead of BEGIN,
    SELECT, COMMIT), and, for a statement `built_once` and reused, straight through psycopg
    when it allows (SQLAlchemy's execution machinery costs more than a small query; psycopg
    prepares it server-side after a few runs; its SQL text is cached by the statement).
    """
    if not reads_alone(session):
        result = session.connection().execute(statement, values)
        return list(result.keys()), result.all()
    bind = session.get_bind()
    plain = plain_sql(bind.dialect, statement) if built_once else None
    if plain is None:
        with bind.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            result = connection.execute(statement, values)
            return list(result.keys()), result.all()
    sql, names = plain
    lost = bind.dialect.dbapi.OperationalError
    try:
        pooled = bind.raw_connection()
    except lost:
        pooled = None  # no connection to be had: SQLAlchemy's connect below says so
    if pooled is not None:
        driver = pooled.driver_connection
        try:
            driver.autocommit = True
            return list(names), driver.execute(sql, values).fetchall()
        except lost:
            # A lost connection (a restarted server, a terminated session): the read is run
            # again below through SQLAlchemy, whose disconnect handling replaces the pool and
            # makes the request retryable (_retry_when_disconnected), as for any statement.
            pooled.invalidate()
        finally:
            if pooled.dbapi_connection is not None:
                try:
                    driver.autocommit = False
                except Exception:
                    # A broken connection must not go back to the pool.
                    pooled.invalidate()
            pooled.close()
    with bind.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        result = connection.execute(statement, values)
        return list(result.keys()), result.all()


def loaded(session, model, values: dict):
    """An object of `model` from its row's column `values` read outside the session (read()),
    made part of the session as if the session had loaded it, without a database round trip."""
    mapper = model.__mapper__
    key = mapper.identity_key_from_primary_key([values[c.name] for c in mapper.primary_key])
    known = session.identity_map.get(key)
    if known is not None:
        return known
    obj = mapper.class_manager.new_instance()
    # As the ORM's own loading does: straight into the instance's dict, no change events.
    obj.__dict__.update(
        (attribute.key, values[attribute.columns[0].name]) for attribute in mapper.column_attrs
    )
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


# session.info key: the request's session is outside pyramid_tm (untracked_tween ends it).
UNTRACKED = "crowdnest.untracked"
# registry key: the paths whose GET and HEAD run without pyramid_tm (transaction_wanted).
UNTRACKED_GETS = "crowdnest.untracked_gets"
# environ keys: pyramid_tm left the request alone (transaction_wanted); the session
# untracked_tween ends.
UNTRACKED_REQUEST = "crowdnest.untracked_request"
UNTRACKED_SESSION = "crowdnest.untracked_session"


def transaction_wanted(request) -> bool:
    """pyramid_tm's activate hook: every request but a GET or HEAD of a path registered in
    UNTRACKED_GETS (core.api: the lists, single objects and newtask), which untracked_tween
    ends instead."""
    if request.method not in ("GET", "HEAD"):
        return True
    paths = request.registry.get(UNTRACKED_GETS)
    if paths is None or paths.fullmatch(request.path_info) is None:
        return True
    request.environ[UNTRACKED_REQUEST] = True
    return False


def _join_zope(factory) -> None:
    """zope.sqlalchemy's listeners on the factory, skipped for an untracked session: joined, it
    would begin a zope transaction nobody ends (the thread's next request aborts it), holding
    its connection in a transaction until then, and refuse the session's own commit."""
    ext = zope.sqlalchemy.ZopeTransactionEvents(transaction_manager=transaction.manager)

    def after_begin(session, transaction, connection):
        if not session.info.get(UNTRACKED):
            ext.after_begin(session, transaction, connection)

    def after_attach(session, instance):
        if not session.info.get(UNTRACKED):
            ext.after_attach(session, instance)

    def after_flush(session, flush_context):
        if not session.info.get(UNTRACKED):
            ext.after_flush(session, flush_context)

    def after_bulk_update(update_context):
        if not update_context.session.info.get(UNTRACKED):
            ext.after_bulk_update(update_context)

    def after_bulk_delete(delete_context):
        if not delete_context.session.info.get(UNTRACKED):
            ext.after_bulk_delete(delete_context)

    def before_commit(session):
        if not session.info.get(UNTRACKED):
            ext.before_commit(session)

    def do_orm_execute(orm_execute_state):
        if not orm_execute_state.session.info.get(UNTRACKED):
            ext.do_orm_execute(orm_execute_state)

    for listener in (
        after_begin,
        after_attach,
        after_flush,
        after_bulk_update,
        after_bulk_delete,
        before_commit,
        do_orm_execute,
    ):
        event.listen(factory, listener.__name__, listener)


# PostgreSQL's SQLSTATEs worth another attempt of the request, as zope.sqlalchemy says for
# the requests pyramid_tm manages: a serialization failure, a deadlock.
RETRYABLE_STATES = ("40001", "40P01")


def _mark_retryable(error) -> None:
    if getattr(getattr(error, "orig", None), "sqlstate", None) in RETRYABLE_STATES:
        mark_error_retryable(error)


def untracked_tween_factory(handler, registry):
    """Ends the session of a request pyramid_tm left alone (transaction_wanted): committed when
    the request succeeded (a read commits nothing; a read that wrote keeps its write, with its
    after-commit steps), rolled back on an error, and closed, its connection back in the pool."""

    def untracked_tween(request):
        if not request.environ.get(UNTRACKED_REQUEST):
            return handler(request)
        try:
            response = handler(request)
        except Exception as error:
            _mark_retryable(error)
            try:
                _end(request, commit=False)
            except Exception:
                # The request's own error is the one to answer (a rollback on a lost
                # connection fails too); the pool discards such a connection.
                log.exception("rolling back an untracked request's session failed")
            raise
        # An error an exception view answered (request.exc_info) is rolled back, as pyramid_tm.
        try:
            _end(request, commit=getattr(request, "exc_info", None) is None)
        except Exception:
            exc_info = sys.exc_info()
            _mark_retryable(exc_info[1])
            try:
                return request.invoke_exception_view(exc_info)
            except HTTPNotFound:
                raise exc_info[1] from None
            finally:
                del exc_info
        return response

    return untracked_tween


def _end(request, commit: bool) -> None:
    session = request.environ.pop(UNTRACKED_SESSION, None)
    if session is None:
        return
    try:
        if not (
            session.info.get(CONNECTED)
            or session.new
            or session.dirty
            or session.deleted
            or session.info.get(PENDING)
        ):
            pass  # no connection in a transaction, nothing to flush or run after: a read
        elif commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


def includeme(config):
    """Expose request.dbsession, joined to request.tm but for API reads (untracked_tween)."""
    settings = config.get_settings()
    # pyramid_tm would otherwise resolve the caller (a database read) before the transaction
    # begins, outside the error views: a lost connection there escaped as the server's bare 500.
    settings["tm.annotate_user"] = False
    settings["tm.activate_hook"] = transaction_wanted
    config.include("pyramid_tm")
    config.include("pyramid_retry")
    config.add_tween(
        "core.db.untracked_tween_factory", under="pyramid_tm.tm_tween_factory", over=EXCVIEW
    )
    engine = get_engine(settings)
    session_factory = get_session_factory(engine)
    # Joined to the (thread-local) transaction manager pyramid_tm drives, once for the factory:
    # registering every new session instead costs event-listener set-up on each request.
    _join_zope(session_factory)
    config.registry["dbsession_factory"] = session_factory
    config.registry["db_engine"] = engine

    def dbsession(request):
        dbsession = request.environ.get("app.dbsession")
        if dbsession is None:
            info = {"request": request}
            if request.environ.get(UNTRACKED_REQUEST):
                # pyramid_tm left this request alone: untracked_tween ends its session.
                info[UNTRACKED] = True
            dbsession = request.registry["dbsession_factory"](info=info)
            if UNTRACKED in info:
                request.environ[UNTRACKED_SESSION] = dbsession
        return dbsession

    config.add_request_method(dbsession, reify=True)


@contextmanager
def own_session(settings, prepare=None) -> Iterator:
    """A session of its own (a job's, a command's) in one transaction, on an engine of its own:
    committed when the block ends normally, rolled back otherwise. `prepare(factory)` may set up
    the session factory first."""
    engine = get_engine(settings)
    factory = get_session_factory(engine)
    if prepare is not None:
        prepare(factory)
    try:
        with factory() as db, db.begin():
            yield db
    finally:
        engine.dispose()


def unique_violation(error) -> bool:
    """Whether an IntegrityError broke a unique rule (not a foreign key or NOT NULL), on either
    database: PostgreSQL's SQLSTATE 23505, SQLite's message."""
    orig = getattr(error, "orig", error)
    state = getattr(orig, "sqlstate", None)
    if state is not None:
        return state == "23505"
    return "UNIQUE constraint failed" in str(orig)
