"""The lean task-delivery path: newtask and answers without Pyramid's per-request cost.

Handing out tasks and storing answers are the requests a crowdsourcing server answers most, and
neither can be cached. Through Pyramid each costs a router, four tweens, a zope transaction, an
ORM session and several ORM statements: 7 to 20 ms of CPU here. This WSGI middleware answers
the common cases itself, in front of the application, in a fraction of that:

* `GET /api/project/<id>/newtask` (and `/api/<id>/newtask`): the scheduler's lean form
  (`scheduler.lean`, docs/plugins.md) runs on a bare pooled connection in autocommit mode, its
  statements compiled once per shape from the same SQLAlchemy queries the Pyramid view runs
  (plugins/schedulers/base.py), so the two paths cannot drift apart: one statement for a
  project served before (CarryCaller: the project and the caller read along), two otherwise;
  then the contributions-guard stamps (core.services.guard). `locked` admits the caller
  between its statement and its Lua call (CarryCaller.admit), where it counts, reserves and
  stamps (Counting).
* `POST /api/taskrun` with a plain JSON answer (`project_id`, `task_id`, `info`): one statement
  reads the task, its project and the caller; one Redis call counts the request and reads the
  hand-out's stamp (under `locked`, also the caller's hold, kept while the answer is stored);
  then, in one transaction, the run is inserted and counted on its task, its project's
  `updated` and figures (core.services.stats.answer_counted) and, when the answer completes the
  task or comes after, the task's state and a new result version — on PostgreSQL one
  statement in autocommit mode when the answer leaves its task short of n_answers (the common
  case, as the first statement read it), else one round trip
  (psycopg's pipeline mode, BEGIN to COMMIT, a third of a millisecond of CPU more), rows locked
  in the application's order (task, project, project_stats, result) so the two paths do not
  deadlock. After the commit the stamp is consumed, the caches invalidated as a session's
  commit would (core.generations, core.cache), under `locked` the hold released, and a
  completion announced to the task_completed hook with the objects the application passes.

Every rule either path applies (admission, attribution, counting and completion, new volunteers,
result versions, payloads, the announcement) is core.services.answers', and so is the sequence
that stores an answer (record_answer, run here on the stores _Steps and _Folded); the guard's
Redis commands are core.services.guard's Lua, which the scripts here call; an answer's body is
read by the API's schema. This module only decides how to run the statements built from them
(which round trips, which Redis calls) and when to hand over.

Both count the rate limit with core.ratelimit's key, once whichever path answers. Anything else
goes to the application unchanged, before anything is written: other methods or paths, a session
cookie or an Origin header (sessions, CSRF and CORS belong to Pyramid), parameters or bodies the
view would refuse or that carry more (files, `external_uid` answers), an unknown project, task or
api key, anonymous callers of projects that refuse them, a project token the view would refuse,
a scheduler without a lean form or whose lean form hands the request over (`locked` when its
passes do not settle it: its reservations made by then are the volunteer's, given back first),
an unrequested task or, under `locked`, one the caller does not hold, a second answer (the
unique index refuses it; the application then answers with PYBOSSA's message), a refused rate
limit (the count is handed over, so the refusal comes in the API's error shape), and any error
before the commit. It runs only with Redis: without it, stamps live in the database and belong
in the application's transaction. So while Redis is unreachable (core.redis: paused after a
failure) every request goes to the application, which serves it without Redis; a failure met
here is recorded there (logged once per outage, not per request) and the application answers.
"""

import io
import logging
import os
import re
import threading
import time
import weakref
from contextlib import contextmanager
from functools import cache as memoised
from types import SimpleNamespace

import colander
import orjson
from psycopg.pq import TransactionStatus
from sqlalchemy import (
    Integer,
    Text,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import ClauseElement, Select
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import replacement_traverse

from core import cache, generations, ratelimit, streams, wire
from core.db import get_engine, utcnow
from core.errors import DomainError
from core.hookspecs import Counting, Volunteer
from core.inputs import ascii_digits, check_document
from core.models import Project, ProjectStats, Result, Task, TaskRun, User, internal_columns
from core.ratelimit import client_key, ratelimit_headers
from core.redis import UNREACHABLE, attempt, available, failed, script
from core.renderers import OPTIONS
from core.schemas import body_schema
from core.security import address_of, may_carry_session, pseudonymise_ip, query_pairs
from core.services import answers, guard, scheduling, stats, uploads
from core.services import result as results
from core.services.permissions import project_readable
from core.services.task_run import Participant

log = logging.getLogger(__name__)

# At most this many projects' hints per process (then forgotten at once and relearnt).
HINTS = 10_000
# The paths of the newtask services (core.api.newtask); core.api runs them without pyramid_tm.
NEWTASK_PATH = re.compile(r"/api/(?:project/([^/]+)|([0-9]+))/newtask")
# A connection a thread keeps between requests goes back to the pool after this many seconds
# (there it is recycled after pool_recycle, core.db).
KEEP_SECONDS = 60
IDLE = TransactionStatus.IDLE


class Statements:
    """Queries compiled once per shape, run on a bare DBAPI connection in autocommit mode
    (on PostgreSQL through libpq: core.wire)."""

    def __init__(self, engine):
        self.engine = engine
        self.dialect = engine.dialect
        self.postgresql = engine.dialect.name == "postgresql"
        self._compiled = {}
        # Each thread's connection between two requests (checkout, checkin): taking one from
        # SQLAlchemy's pool and giving it back cost a tenth of an answer's CPU.
        self._kept = threading.local()
        _STATEMENTS.add(self)

    def give_back_kept(self) -> None:
        """The connection this thread keeps, back to the pool (idle apps, tests)."""
        holder = getattr(self._kept, "holder", None)
        if holder is not None:
            _give_back(holder)

    def _compile(self, query) -> list:
        """[compiled, SQL text, column names, column types, result processors (set later),
        bind processors, the statement as core.wire sends it (PostgreSQL; else None)]."""
        compiled = query.compile(dialect=self.dialect)
        columns = getattr(query, "selected_columns", None)
        if columns is None:  # INSERT/UPDATE ... RETURNING
            columns = query.exported_columns
        # The JSON columns' serializers, as SQLAlchemy's own execution applies them.
        binds = compiled._bind_processors
        names = [c.key for c in columns]
        sql = str(compiled)
        # On PostgreSQL the statement is run through libpq (core.wire), prepared once.
        sent = wire.Statement(sql) if self.postgresql else None
        return [compiled, sql, names, [c.type for c in columns], None, binds, sent]

    def processors(self, entry, types) -> list:
        """The columns' result processors (JSON on SQLite...), known once the driver answered
        (`types`: the result columns' type codes, None for a statement without rows)."""
        if entry[4] is None and types is None:
            entry[4] = False
        elif entry[4] is None:
            entry[4] = [
                kind.dialect_impl(self.dialect).result_processor(self.dialect, code)
                for kind, code in zip(entry[3], types, strict=True)
            ]
        return entry[4]

    def connect(self):
        return _Connection(self)

    def checkout(self) -> tuple:
        """(a pooled connection, when it left the pool): on PostgreSQL the one this thread
        kept after its last request when it is idle, out of the pool for less than
        KEEP_SECONDS, and this process's (not a parent's, inherited by a fork)."""
        holder = getattr(self._kept, "holder", None)
        kept = holder and holder[0]
        if kept:
            holder[0] = None
            raw, pid, since = kept
            if pid == os.getpid():
                idle = raw.driver_connection.info.transaction_status == IDLE
                if idle and time.monotonic() - since < KEEP_SECONDS:
                    return raw, since
                raw.close()  # back to the pool, which recycles and resets it
        return self.engine.raw_connection(), time.monotonic()

    def checkin(self, raw, since: float, clean: bool) -> None:
        """The connection kept for this thread's next request when the statements ended
        cleanly on PostgreSQL, else returned to the pool."""
        holder = self._holder() if clean and self.postgresql else None
        if holder is not None and holder[0] is None:
            holder[0] = (raw, os.getpid(), since)
        else:
            raw.close()

    def _holder(self) -> list:
        """This thread's [kept connection or None]; given back to the pool when the thread
        has ended (or at exit), not left to the garbage collector."""
        holder = getattr(self._kept, "holder", None)
        if holder is None:
            holder = self._kept.holder = [None]
            weakref.finalize(threading.current_thread(), _give_back, holder)
        return holder


# Every Statements of this process, for give_back_kept_connections.
_STATEMENTS: "weakref.WeakSet" = weakref.WeakSet()


def give_back_kept_connections() -> None:
    """The connections this thread keeps for the lean path, back to their pools."""
    for statements in list(_STATEMENTS):
        statements.give_back_kept()


def _give_back(holder: list) -> None:
    kept, holder[0] = holder[0], None
    if kept and kept[1] == os.getpid():
        kept[0].close()


class _Connection:
    """One pooled connection for the statements of one request (a context manager)."""

    def __init__(self, statements: Statements):
        self.statements = statements
        self.raw = None
        # PostgreSQL: the next batch opens the transaction (core.wire sends its BEGIN).
        self.begin = False

    def __enter__(self):
        self.raw, self.since = self.statements.checkout()
        self.postgresql = self.statements.postgresql
        driver = self.raw.driver_connection
        if self.postgresql and not driver.autocommit:
            # Each statement its own transaction: no BEGIN/COMMIT round trips for reads. The
            # pool is the lean path's own (core.db, generic_plans): its connections stay so.
            driver.autocommit = True
        return self

    def __exit__(self, kind, *exc_info):
        self.statements.checkin(self.raw, self.since, kind is None)

    @contextmanager
    def transaction(self):
        """The statements of the block in one transaction: committed, or rolled back on error."""
        driver = self.raw.driver_connection
        if self.postgresql:
            self.begin = True
        else:  # pysqlite runs in autocommit mode here (core.db): begin as the application does
            driver.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            wire.end(driver, commit=False) if self.postgresql else driver.execute("ROLLBACK")
            raise
        else:
            wire.end(driver, commit=True) if self.postgresql else driver.execute("COMMIT")
        finally:
            self.begin = False

    def rows(self, key, build, params: dict) -> list[dict]:
        """Rows of the query `build()` makes (compiled once for `key`), as dicts."""
        return self.batch([(key, build, params)])[0]

    @staticmethod
    def project(project):
        """The project as read (the lean store's protocol): the one the form was given."""
        return project

    @staticmethod
    def admit(participant):
        """The volunteer, admitted before the scheduler ran (the lean store's protocol)."""
        return participant

    def batch(self, statements, commit: bool = False) -> list[list[dict]]:
        """Rows of each (key, build, params) statement, run in order; on PostgreSQL they travel
        together (libpq's pipeline mode, core.wire): one round trip instead of one each, with
        the transaction's BEGIN and, with `commit`, its COMMIT."""
        prepared = [self._prepare(*statement) for statement in statements]
        if self.postgresql:
            begin, self.begin = self.begin, False
            sent = [(entry[6], entry[6].arguments(values)) for entry, _sql, values in prepared]
            found = wire.execute(self.raw.driver_connection, sent, begin, commit)
            return [
                self._dicts(entry, *(rows or ((), None)))
                for (entry, _sql, _values), rows in zip(prepared, found, strict=True)
            ]
        cursors = [self.raw.cursor() for _ in prepared]
        try:
            for cursor, (_entry, sql, values) in zip(cursors, prepared, strict=True):
                cursor.execute(sql, values)
            return [self._fetch(c, e) for c, (e, _s, _v) in zip(cursors, prepared, strict=True)]
        finally:
            for cursor in cursors:
                cursor.close()

    def _prepare(self, key, build, params: dict):
        """(cache entry, SQL text, driver parameters) of one statement."""
        entry = self.statements._compiled.get(key)
        if entry is None:
            entry = self.statements._compiled[key] = self.statements._compile(build())
        compiled, sql = entry[:2]
        values = compiled.construct_params(params)
        for name, process in entry[5].items():
            if values.get(name) is not None:
                values[name] = process(values[name])
        if compiled.positiontup is not None:
            values = [values[name] for name in compiled.positiontup]
        return entry, sql, values

    def _fetch(self, cursor, entry) -> list[dict]:
        description = cursor.description
        types = None if description is None else [found[1] for found in description]
        return self._dicts(entry, cursor.fetchall() if types else (), types)

    def _dicts(self, entry, found, types) -> list[dict]:
        """The rows `found` as dicts (`types`: their columns' type codes, None for none)."""
        processors = entry[4]
        if processors is None:  # the first run of this statement: learn its result's types
            processors = self.statements.processors(entry, types)
        if processors is False:  # a statement without rows (an UPDATE without RETURNING)
            return []
        names = entry[2]
        return [
            {
                name: value if process is None else process(value)
                for name, process, value in zip(names, processors, row, strict=True)
            }
            for row in found
        ]


def _user_by_key():
    """The id of the user whose api key is :api_key (NULL for none)."""
    return select(User.id).where(User.api_key == bindparam("api_key")).scalar_subquery()


def _with_caller(columns: list, with_key: bool) -> list:
    """The columns, the project's anonymity rule and scheduler, and with an api key (:api_key)
    the caller's user id: what both paths read before deciding whether they may answer."""
    columns += [
        Project.published,
        Project.allow_anonymous_contributors,
        Project.info["sched"].as_string().label("sched"),
    ]
    if with_key:
        columns.append(_user_by_key().label("user_id"))
    return columns


# What newtask needs of the project: read by _project_query, or as sub-selects of the project
# :project_id that a scheduler's query carries along (CarryCaller; one statement instead of two).
CARRIED = {
    "short_name": Project.short_name,
    "secret_key": Project.secret_key,
    "published": Project.published,
    "allow_anonymous_contributors": Project.allow_anonymous_contributors,
    "sched": Project.info["sched"].as_string(),
    "pending_ttl": Project.info["pending_ttl"].as_string(),
}
# Labels no task column has.
CARRIED_PREFIX = "carried_"


def _project_query(by_id: bool, with_key: bool):
    """The project (what newtask needs of it) and, with an api key, the caller's user id."""
    columns = [Project.id, *(column.label(name) for name, column in CARRIED.items())]
    if with_key:
        columns.append(_user_by_key().label("user_id"))
    reference = Project.id if by_id else Project.short_name
    return select(*columns).where(reference == bindparam("ref"))


def _carried_columns(with_key: bool) -> list:
    columns = [
        select(column)
        .where(Project.id == bindparam("project_id"))
        .scalar_subquery()
        .label(CARRIED_PREFIX + name)
        for name, column in CARRIED.items()
    ]
    if with_key:
        columns.append(_user_by_key().label(CARRIED_PREFIX + "user_id"))
    return columns


def _who_is_the_key_owner(element):
    """replacement_traverse: the volunteer (:who) becomes the owner of the api key."""
    if isinstance(element, BindParameter) and element.key == "who":
        return _user_by_key()
    return None


class CarryCaller:
    """The store a lean scheduler gets when its project is known from an earlier request: its
    first query also reads the project and the caller (the api key's owner standing in for
    :who), so newtask takes one statement. What it read is checked before it is used: after
    the scheduler returns, or when it asks (`admit`) because it is about to write (`locked`)."""

    def __init__(self, connection, api_key: str | None, settle):
        self.connection, self.api_key = connection, api_key
        # settle(carried): (project, volunteer) when this path may answer, else None.
        self._settle = settle
        self.carried, self.settled = None, None

    def admit(self, participant):
        """The volunteer as the carried columns show them, once these are checked; None when
        the application must answer (a lean form asks before it writes anything)."""
        settled = self.settle()
        return None if settled is None else settled[1]

    def project(self, project):
        """The project as the first query carried it, once settled; else `project`."""
        return self.settled[0] if self.settled else project

    def settle(self):
        """(project, volunteer) from what the first query carried, checked once; or None."""
        if self.settled is None and self.carried:
            self.settled = self._settle(self.carried) or False
        return self.settled or None

    def batch(self, statements) -> list[list[dict]]:
        """A lean form's later statements (the first one carried), as they are."""
        return self.connection.batch(statements)

    def rows(self, key, build, params: dict) -> list[dict]:
        if self.carried is not None:  # a scheduler's second query: as it is
            return self.connection.rows(key, build, params)
        with_key = self.api_key is not None

        def carrying():
            query = build()
            if not isinstance(query, Select):
                return query
            query = query.add_columns(*_carried_columns(with_key))
            return replacement_traverse(query, {}, _who_is_the_key_owner) if with_key else query

        found = self.connection.rows(
            ("carrying", with_key, *key), carrying, {**params, "api_key": self.api_key}
        )
        # The same in every row: read from the first, taken out of all.
        names = [name for name in found[0] if name.startswith(CARRIED_PREFIX)] if found else []
        self.carried = {name[len(CARRIED_PREFIX) :]: found[0][name] for name in names}
        for row in found:
            for name in names:
                del row[name]
        return found


# -- answers ---------------------------------------------------------------------------------

# The fields of a body the lean path stores itself; a body with any other (files, external_uid,
# reserved or unknown keys) goes to the application. Their values are read by the API's own
# schema for them (core.schemas.body_schema: one node per column, the taskrun view's) and info
# by the API's own rule (uploads.client_info): what either refuses goes to the application too.
ANSWER_FIELDS = ("project_id", "task_id", "info")
LARGEST_BODY = 1 << 20
# An integer literal of 19 digits or more: orjson reads one beyond 64 bits as a float, which
# the application's parser (json) keeps an integer and refuses when out of range.
LONG_NUMBER = re.compile(rb"[0-9]{19}")
# What storing an answer writes, for the caches (core.generations, core.cache).
ANSWER_TABLES = ("task_run", "task", "project_stats", "project")
RUN_SHOWN = tuple(c for c in TaskRun.__table__.columns if c.key not in internal_columns(TaskRun))


def _answer_fields(body: bytes, max_depth: int) -> dict | None:
    """The answer's fields, as the API reads them, when the body is a plain JSON answer with
    its task and project ids; else None."""
    if LONG_NUMBER.search(body):
        return None  # the application reads it as it is
    try:
        data = check_document(orjson.loads(body), max_depth)
    except (orjson.JSONDecodeError, DomainError):
        return None
    if not isinstance(data, dict) or not data.keys() <= set(ANSWER_FIELDS):
        return None
    if isinstance(data.get("info"), dict):
        data["info"] = uploads.client_info(data["info"])
    try:
        data = body_schema(TaskRun, ANSWER_FIELDS).deserialize(data)
    except colander.Invalid:
        return None
    if not all(type(data.get(key)) is int for key in ("project_id", "task_id")):
        return None  # missing or null: the application refuses it in its words
    return data


def _answer_context_query(with_key: bool):
    """The task, its project and, with an api key, the caller's user id: one statement.
    `short`: with one more run the task needs none of the steps that take a transaction of
    their own (_Folded.alone), and the caller (the key's user, else :user_ip) answered in the
    project before, as the one statement requires; _store_answer tries it for that case only."""
    kind, who = ("user_id", _user_by_key()) if with_key else ("user_ip", bindparam("user_ip"))
    known = answers.earlier_answer_in_project(kind, Task.project_id, who)
    alone = _Folded.alone(Task.n_task_runs + 1, Task.n_answers, Task.state)
    short = (alone & known).label("short")
    columns = _with_caller([Task.project_id, short, Project.short_name], with_key)
    return (
        select(*columns)
        .join(Project, Project.id == Task.project_id)
        .where(Task.id == bindparam("task_id"))
    )


def _run_values(kind: str) -> dict:
    """{column: its bind parameter} of a run the lean path writes; `kind`, the column naming
    its author (answers.author), is its own bind parameter."""
    columns = TaskRun.__table__.c
    names = ("created", "project_id", "task_id", kind, "finish_time", "info")
    return {key: bindparam(key, type_=columns[key].type) for key in names}


def _answer_insert(kind: str):
    """INSERT the run, RETURNING what the API shows."""
    return insert(TaskRun).values(**_run_values(kind)).returning(*RUN_SHOWN)


def _result_insert():
    """The new latest result of the task, with its runs' ids (answers.result_version)."""
    version = answers.result_version(
        bindparam("project_id"),
        bindparam("task_id"),
        bindparam("task_run_ids", type_=Result.task_run_ids.type),
        created=bindparam("result_created"),
    )
    return insert(Result).values(**version).returning(Result.id)


# What the completion announcement reads: each model's columns, labelled <table>__<attribute>;
# the hook's arguments they become.
ANNOUNCED = (Project, Task, Result)  # answers.ANNOUNCED's models


@memoised
def _columns_of(model) -> tuple:
    """(attribute key, table column) of the model's mapped table columns."""
    table = model.__table__
    return tuple(
        (attribute.key, attribute.columns[0])
        for attribute in model.__mapper__.column_attrs
        if getattr(attribute.columns[0], "table", None) is table
    )


def _announced_query():
    """The project, task and result rows of a completion (:task_id, :result_id)."""
    return _announced_rows().where(Result.id == bindparam("result_id"))


def _announced_written():
    """The same rows read in the transaction that wrote the result (_store_answer's pipeline):
    the task's latest result when it is the one written there (:result_created); none when
    the answer wrote no result."""
    return _announced_rows().where(
        Result.last_version.is_(True), Result.created == bindparam("result_created")
    )


def _announced_rows():
    columns = [
        column.label(f"{model.__tablename__}__{key}")
        for model in ANNOUNCED
        for key, column in _columns_of(model)
    ]
    return (
        select(*columns)
        .join(Task, Task.project_id == Project.id)
        .join(Result, Result.task_id == Task.id)
        .where(Task.id == bindparam("task_id"))
    )


def _columns_in(row: dict, model, keys) -> dict:
    """{key: value} of the model's columns `keys` (those it has) in an announced row."""
    prefix = f"{model.__tablename__}__"
    return {key: row[prefix + key] for key in keys if prefix + key in row}


def _loaded(db, model, row: dict):
    """The model's object from its columns in `row`, as a query would have loaded it into
    `db`: no attribute history, relationships loaded when first used."""
    instance = model.__mapper__.class_manager.new_instance()
    for key, _column in _columns_of(model):
        set_committed_value(instance, key, row[f"{model.__tablename__}__{key}"])
    make_transient_to_detached(instance)
    db.add(instance)
    return instance


# -- the answer stores (answers.AnswerStore) -------------------------------------------------


class _Steps:
    """The lean path's answer store on SQLite (no statements inside WITH): each step its
    statement on the prepared-statement connection, in the transaction _store_answer opened,
    the decisions taken here on the values the count returned."""

    def __init__(self, connection, values: dict):
        self.connection, self.values = connection, values
        self.result_id = None

    def _run(self, key, build) -> list[dict]:
        return self.connection.rows(key, build, self.values)

    def run_inserted(self, kind: str) -> None:
        self.kind = kind
        self.run = self._run(("answer insert", kind), lambda: _answer_insert(kind))[0]

    def counted_on_task(self) -> None:
        row = self._run(("answer count",), answers.count_on_task)[0]
        self.counted = (row["n_task_runs"], row["n_answers"], row["state"])

    def project_touched(self) -> None:
        self._run(("answer project",), answers.project_touched)

    def counted_on_project(self, completed, new_volunteer) -> None:
        completes = int(completed(*self.counted))
        self._run(
            ("answer stats", self.kind, completes),
            lambda: stats.answer_counted(completes, new_volunteer(self.kind)),
        )

    def task_completed(self, when) -> None:
        if when(*self.counted):
            self._run(("task completed",), answers.task_completed)

    def result_versioned(self, when) -> None:
        if when(*self.counted):
            self._run(("result uncounted",), stats.superseded_result_uncounted)
            self._run(("result superseded",), results.result_superseded)
            found = self._run(("runs of task",), results.runs_of_task)
            self.values["task_run_ids"] = [row["id"] for row in found]
            self.result_id = self._run(("result insert",), _result_insert)[0]["id"]


# On PostgreSQL the sequence is folded, once per shape, into statements that travel together.
# The steps up to the project's figures become one statement (CTEs, each waiting for the one
# before it, rows locked in the sequence's order); the task's completion folds into its count
# (one UPDATE of a row per statement). The result's steps are statements of their own in the
# same transaction and pipeline: two snapshots are needed. The first statement locks the task
# row; the later ones run after it (READ COMMITTED: each statement its own snapshot), so they
# see every run and result that earlier answers to the task committed before the lock was
# granted. A later statement's condition reads the task as the first one left it.
#
# An answer for which no condition of a step holds (not completing, no result: the common
# case) takes one statement in autocommit mode (`alone`): the task row locked first, and the
# run written only when the locked row shows that is still so.
#
# Locking the task before inserting the run (the other way round in the transaction) cannot
# deadlock with another answer: the run's insert takes a key-share lock on the task, which the
# no-key-update lock does not block. Only two answers of one volunteer to one task, one on each
# path at once, may (one waiting on the other's unique index entry): PostgreSQL then refuses
# one, which the application answers.


class _Folded:
    """The lean path's answer store on PostgreSQL, as statements: answers.record_answer run
    once per shape (`of`) records its steps, then `statements` folds them. `alone`: the one
    statement of an answer for which no step's condition holds (it writes nothing otherwise)."""

    def __init__(self, alone: bool):
        self.is_alone = alone
        self.steps = []  # (step, its arguments), in the sequence's order
        self.conditions = []  # the `when` of each conditional step

    def run_inserted(self, kind: str) -> None:
        self.kind = kind
        self.steps.append(("run", ()))

    def counted_on_task(self) -> None:
        self.steps.append(("count", ()))

    def project_touched(self) -> None:
        self.steps.append(("touched", ()))

    def counted_on_project(self, completed, new_volunteer) -> None:
        self.steps.append(("figures", (completed, new_volunteer)))

    def task_completed(self, when) -> None:
        self.conditions.append(when)
        self.steps.append(("completed", (when,)))

    def result_versioned(self, when) -> None:
        self.conditions.append(when)
        self.steps.append(("versioned", (when,)))

    @classmethod
    def of(cls, kind: str, alone: bool = False) -> "_Folded":
        folded = cls(alone)
        answers.record_answer(folded, kind)
        return folded

    @classmethod
    def alone(cls, n_runs, n_answers, state):
        """SQL: no step's condition holds for the task with this answer."""
        return ~or_(*(when(n_runs, n_answers, state) for when in cls.of("user_id").conditions))

    def statements(self) -> list:
        """[the folded statement (the run's row and `task_runs`), the later statements...]."""
        task = Task.__table__
        locked = select(task.c.id, task.c.n_task_runs, task.c.n_answers, task.c.state)
        volunteers = [args[1] for step, args in self.steps if step == "figures"]
        if self.is_alone:
            # Only when the locked row shows no condition holds. FOR NO KEY UPDATE, the lock
            # the UPDATE takes: it does not wait for the key-share locks other answers'
            # inserts hold on the task (a FOR UPDATE would deadlock with them). And only for a
            # volunteer the snapshot shows answering in the project before: a first answer
            # takes the transaction, whose volunteer count is a statement of its own
            # (stats.volunteer_counted: this statement's snapshot predates its lock waits).
            no_condition = self.alone(task.c.n_task_runs + 1, task.c.n_answers, task.c.state)
            known = [new_volunteer(self.kind) == 0 for new_volunteer in volunteers]
            before = locked.where(task.c.id == bindparam("task_id"), no_condition, *known)
            before = before.with_for_update(key_share=True).cte("before")
        ctes, later = [], []
        for step, arguments in self.steps:
            if step == "run":
                values = _run_values(self.kind)
                if self.is_alone:  # written only with the lock
                    values = {**values, "task_id": before.c.id}
                    run = insert(TaskRun).from_select(list(values), select(*values.values()))
                else:
                    run = insert(TaskRun).values(**values)
                run = run.returning(*RUN_SHOWN).cte("run")
            elif step == "count":
                if not self.is_alone:  # after the run's insert, as the application's order
                    before = locked.where(task.c.id == select(run.c.task_id).scalar_subquery())
                    before = before.with_for_update(key_share=True).cte("before")
                # The counted task as the decisions read it: its runs with this answer, its
                # n_answers, its state before this answer (locked: nothing changes it). One
                # UPDATE of the row per statement: the completion and what the figures read
                # fold into it (_fold).
                counted_as = (before.c.n_task_runs + 1, before.c.n_answers, before.c.state)
                sets, returned = self._fold(counted_as)
                counted = (
                    answers.count_on_task()
                    .where(Task.id == before.c.id)
                    .values(**sets)
                    .returning(Task.id, *returned)
                    .cte("counted")
                )
                ctes.append(counted)
            elif step == "touched":
                ctes.append(answers.project_touched().where(_after(ctes[-1])).cte("touched"))
            elif step == "figures":
                new_volunteer = arguments[1]
                completes = select(counted.c.completes).scalar_subquery()
                if self.is_alone:  # not a new volunteer (`known` above)
                    figures = stats.answer_counted(completes, 0)
                else:  # the volunteer counted first after this statement, its locks held
                    figures = stats.answer_counted(completes)
                    later.insert(0, stats.volunteer_counted(new_volunteer(self.kind)))
                figures = figures.where(_after(ctes[-1])).returning(ProjectStats.project_id)
                ctes.append(figures.cte("figures"))
            elif step == "versioned" and not self.is_alone:
                (when,) = arguments
                task_now = Task.n_task_runs, Task.n_answers, Task.state
                reached = exists(
                    select(Task.id).where(Task.id == bindparam("task_id"), when(*task_now))
                )
                later += [
                    stats.superseded_result_uncounted().where(reached),
                    results.result_superseded().where(reached),
                    _result_written(reached),
                ]
        runs = select(counted.c.n_task_runs).scalar_subquery().label("task_runs")
        return [select(*run.c, runs).add_cte(*ctes), *later]

    def _fold(self, counted_as) -> tuple[dict, list]:
        """(SET values, RETURNING columns) the count's UPDATE takes from the steps after it:
        the task's completion (left out alone: its condition never holds there) and whether
        the answer completes the task, which the figures read."""
        sets, returned = {}, []
        for step, arguments in self.steps:
            if step == "completed" and not self.is_alone:
                (when,) = arguments
                sets["state"] = case((when(*counted_as), answers.COMPLETED), else_=Task.state)
            elif step == "figures":
                completed, _new_volunteer = arguments
                returned.append(cast(completed(*counted_as), Integer).label("completes"))
        return sets, returned


def _after(cte):
    """WHERE: once the CTE has run (its rows read), which orders the locks."""
    return exists(select(next(iter(cte.c))))


def _result_written(reached):
    """When `reached`: a new latest result listing all the task's runs (answers.
    result_version, its runs' ids aggregated by result.runs_of_task)."""
    run_ids = results.runs_of_task(
        lambda ids, order: func.jsonb_agg(aggregate_order_by(ids, order))
    ).scalar_subquery()
    version = answers.result_version(
        bindparam("project_id", type_=Integer),
        bindparam("task_id", type_=Integer),
        run_ids,
        created=bindparam("result_created", type_=Text),
    )
    # The same values as SQL: Python's None and True as NULL and a literal.
    written = [
        value if isinstance(value, ClauseElement) else _sql_value(value)
        for value in version.values()
    ]
    return (
        insert(Result)
        .from_select(list(version), select(*written).where(reached))
        .returning(Result.id)
    )


def _sql_value(value):
    """A Python constant as SQL: None and True as NULL and TRUE, others as a literal."""
    if value is None:
        return null()
    return true() if value is True else literal(value)


# The rate-limit window's INCR (as core.ratelimit counts it), then, when the request is allowed,
# the guard's stamps (guard.LUA). KEYS: the counter, the stamps. ARGV: window expiry, limit,
# value, ttl.
COUNT_AND_STAMP = (
    guard.LUA
    + ratelimit.LUA
    + """
local count = window_count(KEYS[1], ARGV[1])
if count <= tonumber(ARGV[2]) then
  for i = 2, #KEYS do guard_stamp(KEYS[i], ARGV[3], ARGV[4]) end
end
return count
"""
)
# The rate-limit window's INCR, the guard's stamp of the task and, for a project whose
# scheduler gates answers (Scheduler.answers), the gate's read (gate_read: for `locked`, the
# caller's hold, kept while the answer is stored). KEYS: counter, stamp[, the gate's keys].
# ARGV: window expiry[, the gate's arguments]. Composed per gate (count_and_read).
COUNT_AND_READ = """
local count = window_count(KEYS[1], ARGV[1])
local gated = false
if #KEYS > 2 then gated = gate_read({unpack(KEYS, 3)}, {unpack(ARGV, 2)}) end
return {count, guard_read(KEYS[2]), gated}
"""


# After an answer's commit: its stamp consumed, the gate's release (gate_release: for `locked`,
# the hold released), the written tables' generations incremented. KEYS: the stamp[, the
# gate's keys], then the generations. ARGV: how many gate keys, then the gate's arguments.
DELETE_AND_INCREMENT = """
local first = 2 + tonumber(ARGV[1])
if first > 2 then gate_release({unpack(KEYS, 2, first - 1)}, {unpack(ARGV, 2)}) end
guard_consume(KEYS[1])
for i = first, #KEYS do redis.call('INCR', KEYS[i]) end
return #KEYS
"""

# Lua of a scheduler without a gate: never called (no gate keys are given).
NO_GATE_READ = "local function gate_read() return false end\n"
NO_GATE_RELEASE = "local function gate_release() end\n"


def answer_scripts(gate) -> tuple[str, str]:
    """COUNT_AND_READ and DELETE_AND_INCREMENT composed with the guard's Lua (guard.LUA) and
    the gate's (None: none)."""
    read, release = (NO_GATE_READ, NO_GATE_RELEASE)
    if gate is not None:
        read, release = gate.read_lua, gate.release_lua
    counted = guard.LUA + ratelimit.LUA + read + COUNT_AND_READ
    return counted, guard.LUA + release + DELETE_AND_INCREMENT


class LeanDelivery:
    """WSGI middleware answering the newtask and answer requests it can answer exactly, as the
    application would; see the module doc."""

    def __init__(self, app, registry):
        self.app = app
        # Tests and tools reach the application's registry through the WSGI app.
        self.registry = registry
        self.settings = registry.settings
        self.redis = registry["redis"]
        self.limiter = registry["ratelimiter"]
        self.schedulers = registry["schedulers"]
        engine = registry["db_engine"]
        if engine.dialect.name == "postgresql":  # its own pool: plans made once (core.db)
            engine = get_engine(self.settings, generic_plans=True)
        self.statements = Statements(engine)
        # Whether the application's commits bump table generations: the lean path's must too.
        self._tracked = generations.tracked(registry["db_engine"])
        # Each statement its own transaction (the completion announcement).
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._count_and_stamp = script(self.redis, COUNT_AND_STAMP)
        # Hints, each checked before use (_hinted): short name -> id, id -> scheduler's name.
        self._ids, self._schedulers_of = {}, {}
        # The lean forms' own hints (options.hints), checked by them before use.
        self._hints = {}
        # The answer's two Redis calls, composed once per scheduler's gate (answer_scripts).
        gates = {scheduler.answers for scheduler in self.schedulers.values()} | {None}
        self._answer_scripts = {
            gate: tuple(script(self.redis, source) for source in answer_scripts(gate))
            for gate in gates
        }

    def __call__(self, environ, start_response):
        answer = None
        match = _target(environ)
        if not available(self.redis):  # paused after a failure: the application serves it
            match = None
        if match is not None:
            try:
                answer = self.newtask(environ, match)
            except UNREACHABLE as error:  # recorded (and logged) once per outage
                failed(self.redis, error)
            except Exception:  # the application answers, in its own error shape
                log.exception("lean newtask failed; the application answers")
        elif available(self.redis) and _answer_target(environ):
            body = _read_body(environ)
            if body is not None:
                try:
                    answer = self.taskrun(environ, body)
                except UNREACHABLE as error:
                    failed(self.redis, error)
                except Exception:
                    log.exception("lean taskrun failed; the application answers")
        if answer is None:
            return self.app(environ, start_response)
        headers, body = answer
        start_response("200 OK", headers)
        return [body]

    def newtask(self, environ, match) -> tuple[list, bytes] | None:
        """(headers, body) of the answer, or None when the application must answer."""
        params = dict(query_pairs(environ))
        try:
            options = scheduling.newtask_options(params)
        except DomainError:
            return None
        asking = SimpleNamespace(
            api_key=_api_key(environ, params),
            external_uid=params.get("external_uid") or None,
            authorization=environ.get("HTTP_AUTHORIZATION"),
            address=address_of(environ, self.settings),
        )
        asking.user_ip = pseudonymise_ip(asking.address, self.settings["ip.pseudonym_key"])
        asking.match = match
        reference = match.group(2) or match.group(1)
        by_id = ascii_digits(reference)
        with self.statements.connect() as connection:
            found = self._hinted(connection, by_id, reference, asking, options)
            if found is None and options.counted is None:
                found = self._in_two_steps(connection, by_id, reference, asking, options)
        counted_by_lean = options.counted
        if found is None:
            if counted_by_lean is not None:  # counted once: the application reuses it
                environ["crowdnest.ratelimit"] = self.limiter.verdict(
                    counted_by_lean, options.counting.reset
                )
            return None
        project, volunteer, tasks = found
        # For the request's log line and metrics (core.requestlog, core.metrics).
        environ["crowdnest.user_id"] = volunteer.user.id if volunteer.user is not None else None
        environ["crowdnest.route"] = "newtask" if match.group(1) is not None else "newtask_short"
        environ["crowdnest.scheduler"] = scheduling.name_of(
            self.schedulers, project.sched, self.settings
        )
        if counted_by_lean is not None:  # the lean form counted and stamped (Counting)
            count, reset = counted_by_lean, options.counting.reset
        else:
            # The request is counted and, if allowed, its hand-outs stamped: one round trip.
            counter, reset = self._window(project, asking, match)
            stamps = [guard.stamp_key(volunteer.key, task["id"]) for task in tasks]
            count = self._count_and_stamp(
                keys=[counter, *stamps],
                args=[reset + 10, self.limiter.limit, utcnow(), self.settings["guard.ttl"]],
            )
        counted = self.limiter.verdict(int(count), reset)
        # Counted once: core.ratelimit reuses this count when the application answers (429).
        environ["crowdnest.ratelimit"] = counted
        if not counted[0]:
            return None
        payload = answers.newtask_payload(tasks)
        return self._json(payload, counted)

    def _window(self, project, asking, match) -> tuple[str, int]:
        """The rate-limit window's counter and reset epoch of this newtask (core.ratelimit)."""
        user_id = project.user_id
        client = client_key(user_id, asking.address)
        route = "newtask" if match.group(1) is not None else "newtask_short"
        return self.limiter.window(route, client)

    def _in_two_steps(self, connection, by_id: bool, reference: str, asking, options):
        """The project and caller first, then the scheduler's query: (project, volunteer,
        tasks), or None when the application must answer."""
        found = connection.rows(
            ("newtask project", by_id, asking.api_key is not None),
            lambda: _project_query(by_id, asking.api_key is not None),
            {"ref": int(reference) if by_id else reference, "api_key": asking.api_key},
        )
        if not found:
            return None
        project = SimpleNamespace(**{"user_id": None, **found[0]})
        lean = self._admitted(project, asking)
        if lean is None:
            return None
        self._remember(project)
        volunteer = self._volunteer(project.user_id, asking)
        self._hand_counting(lean, project, volunteer, asking, options)
        tasks = (
            lean(connection, project, volunteer, self._options(options)) if options.limit else []
        )
        if tasks is None:  # the scheduler hands this request to the application
            return None
        return project, volunteer, tasks

    def _hinted(self, connection, by_id: bool, reference: str, asking, options):
        """With the project's id and scheduler known from an earlier request (a hint, checked
        against what the statement reads), one statement: the scheduler's query carrying the
        project's and caller's columns. (project, volunteer, tasks), or None for two steps."""
        project_id = int(reference) if by_id else self._ids.get(reference)
        hint = self._schedulers_of.get(project_id)
        if hint is None or not options.limit:
            return None
        lean = scheduling.scheduler_named(self.schedulers, hint, self.settings).lean
        if lean is None or not lean.carries:
            return None  # its lean form may read the volunteer's id itself: two steps
        # The volunteer as the scheduler's query sees them; a user's id is read by the query.
        placeholder = 0 if asking.api_key is not None else None
        volunteer = self._volunteer(placeholder, asking)

        def settle(carried):
            if carried["sched"] != hint:
                return None  # its scheduler changed
            project = SimpleNamespace(id=project_id, **{"user_id": None, **carried})
            if not by_id and project.short_name != reference:
                return None  # renamed
            if self._admitted(project, asking) is None:
                return None
            volunteer = self._volunteer(project.user_id, asking)
            self._hand_counting(lean, project, volunteer, asking, options)
            return project, volunteer

        carry = CarryCaller(connection, asking.api_key, settle)
        project = SimpleNamespace(id=project_id, short_name=None, sched=hint)
        tasks = lean(carry, project, volunteer, self._options(options))
        settled = carry.settle()  # None: no task to carry the project along, or refused
        if tasks is None or settled is None:
            return None
        return (*settled, tasks)

    def _hand_counting(self, lean, project, volunteer, asking, options) -> None:
        """options.counting for a lean form that counts the request itself (lean.counts)."""
        if lean.counts:
            counter, reset = self._window(project, asking, asking.match)
            options.counting = Counting(
                (counter, reset + 10, self.limiter.limit),
                (guard.stamp_prefix(volunteer.key), utcnow(), self.settings["guard.ttl"]),
                reset,
            )

    def _admitted(self, project, asking):
        """The scheduler's lean form when this path may answer for this project and caller."""
        refusal = answers.admission(
            project,
            project.user_id,
            # A draft is refused here: the application knows its owners (decision 24).
            readable=project_readable(None, project),
            external_uid=asking.external_uid,
            authorization=asking.authorization,
            unknown_key=asking.api_key is not None and project.user_id is None,
        )
        if refusal is not None:
            return None  # the application refuses it in its words (or, a draft, admits)
        return scheduling.scheduler_named(self.schedulers, project.sched, self.settings).lean

    def forget_hints(self) -> None:
        self._ids.clear()
        self._schedulers_of.clear()
        self._hints.clear()

    def _remember(self, project) -> None:
        """Hints for the next request: the project's id by short name, its scheduler's name."""
        if len(self._schedulers_of) > HINTS:
            self.forget_hints()
        self._ids[project.short_name] = project.id
        self._schedulers_of[project.id] = project.sched

    def _volunteer(self, user_id, asking):
        user = SimpleNamespace(id=user_id) if user_id is not None else None
        key = Participant(user_id, asking.user_ip, asking.external_uid).key
        return Volunteer(user, asking.user_ip, asking.external_uid, key)

    def _options(self, options):
        options.redis, options.settings, options.hints = self.redis, self.settings, self._hints
        return options

    def taskrun(self, environ, body: bytes) -> tuple[list, bytes] | None:
        """(headers, body) of a stored answer, or None when the application must answer.

        None is returned only before anything is written; once the answer is committed the
        request is this path's to answer, whatever happens after (see _after_answer).
        """
        params = dict(query_pairs(environ))
        max_depth = self.settings["request.max_json_depth"]
        data = _answer_fields(body, max_depth) if set(params) <= {"api_key"} else None
        if data is None:
            return None
        api_key = _api_key(environ, params)
        address = address_of(environ, self.settings)
        user_ip = pseudonymise_ip(address, self.settings["ip.pseudonym_key"])
        with self.statements.connect() as connection:
            found = connection.rows(
                ("answer context", api_key is not None),
                lambda: _answer_context_query(api_key is not None),
                {"task_id": data["task_id"], "api_key": api_key, "user_ip": user_ip},
            )
            context = SimpleNamespace(**found[0]) if found else None
            if context is None or not answers.in_project(context.project_id, data["project_id"]):
                return None
            user_id = getattr(context, "user_id", None)
            refusal = answers.admission(
                context,
                user_id,
                # A draft is refused here: the application knows its owners (decision 24).
                readable=project_readable(None, context),
                answering=True,
                unknown_key=api_key is not None and user_id is None,
            )
            if refusal is not None:
                return None  # the application refuses it in its words (or, a draft, admits)
            scheduler = scheduling.scheduler_named(self.schedulers, context.sched, self.settings)
            gate = scheduler.answers
            participant = Participant(user_id, user_ip)
            # Counted, the hand-out read (not consumed yet) and, with a gate (`locked`), its
            # read (the caller's hold): one Redis round trip.
            client = client_key(user_id, address)
            counter, reset = self.limiter.window("collection_taskrun", client)
            keys = [counter, guard.stamp_key(participant.key, data["task_id"])]
            args = [reset + 10]
            if gate is not None:
                now = gate.now()
                gate_keys, gate_args = gate.read_call(data["task_id"], participant.key, now)
                keys += gate_keys
                args += gate_args
            count_and_read = self._answer_scripts[gate][0]
            count, handed_out, gated = count_and_read(keys=keys, args=args)
            counted = self.limiter.verdict(int(count), reset)
            environ["crowdnest.ratelimit"] = counted
            if not counted[0] or handed_out is None:
                return None
            if gate is not None and not gate.live(gated, now):
                return None  # the application refuses it in its words
            handed_out = handed_out.decode() if isinstance(handed_out, bytes) else handed_out
            kind, author = answers.author(user_id, user_ip)
            values = {
                "project_id": context.project_id,
                "stats_of": context.project_id,
                "task_id": data["task_id"],
                "created": handed_out,
                "finish_time": utcnow(),
                "info": data.get("info"),
                kind: author,
            }
            try:
                stored = self._store_answer(connection, kind, values, context.short)
                run, runs, result_id, announced = stored
            except self.statements.dialect.dbapi.IntegrityError:
                # A second answer (the unique indexes): the application says so, as PYBOSSA.
                return None
        # Committed: from here on nothing may send the request to the application again.
        # For the request's log line and metrics (core.requestlog, core.metrics).
        environ["crowdnest.user_id"] = user_id
        environ["crowdnest.route"] = "collection_taskrun"
        environ["crowdnest.scheduler"] = scheduling.name_of(
            self.schedulers, context.sched, self.settings
        )
        self._after_answer(participant, run, result_id, gate, runs, announced)
        return self._json(run, counted)

    def _after_answer(
        self,
        participant,
        run: dict,
        result_id,
        gate,
        runs: int,
        announced: dict | None,
    ) -> None:
        """After the commit: the stamp consumed, the caches told, with a gate its release (under
        `locked`, the hold released; the task now has `runs` runs), the answer published to the
        project's streams and a completion announced (with `announced`, its rows when the
        transaction read them)."""
        tables = (*ANSWER_TABLES, "result") if result_id is not None else ANSWER_TABLES
        released = ([], [])
        if gate is not None:
            project_id, task_id = run["project_id"], run["task_id"]
            released = gate.release_call(project_id, task_id, participant.key, runs, self.settings)
        stamp = guard.stamp_key(participant.key, run["task_id"])
        bump = self._answer_scripts[gate][1]
        steps = [
            (attempt, self.redis, lambda _: self._consume_and_bump(bump, stamp, tables, released)),
            (cache.bump_written, self.registry["cache"], tables),
        ]
        if self.registry["streams"] is not None:  # sse.enabled
            steps.append((streams.publish_answer, self.registry, run))
        if result_id is not None:
            steps.append((self._announce, run, result_id, announced))
        for fn, *args in steps:
            try:
                fn(*args)
            except Exception:
                log.exception("after storing an answer: %s failed", fn.__name__)

    def _consume_and_bump(self, bump, stamp: str, tables, released) -> None:
        """The stamp consumed, the gate's release made (`released`: its keys and arguments)
        and the tables' generations bumped: one Redis call (`bump`, answer_scripts' second)."""
        bumped = [generations.key(table) for table in sorted(tables)] if self._tracked else []
        gate_keys, gate_args = released
        bump(keys=[stamp, *gate_keys, *bumped], args=[len(gate_keys), *gate_args])

    def _announce(self, run: dict, result_id: int, announced: dict | None) -> None:
        """The completion announced (answers.announce_completion, as the application's path
        does), with the objects that path passes: their rows
        (`announced`, read by the transaction that wrote the result; else read here) in one
        compiled statement (an ORM query cost about 3 ms of CPU here, as much as the whole
        answer), made into ORM objects as a query would (no history, relationships loaded on
        use) in a session kept open for the hook; only those an implementation names."""
        hook = self.registry["plugins"].hook.crowdnest_task_completed
        published = self.registry["streams"] is not None  # sse.enabled: the streams hear of it
        if not hook.get_hookimpls() and not published:
            return
        if announced is None:
            with self.statements.connect() as connection:
                announced = connection.rows(
                    ("announced",),
                    _announced_query,
                    {"task_id": run["task_id"], "result_id": result_id},
                )[0]
        named = (
            SimpleNamespace(**_columns_in(announced, model, ("id", "short_name")))
            for model in ANNOUNCED
        )
        result = _columns_in(announced, Result, [key for key, _ in _columns_of(Result)])

        def publish(payload):
            streams.publish_completion(self.registry, payload, result)

        models = dict(zip(answers.ANNOUNCED, ANNOUNCED, strict=True))
        # pluggy gives each implementation only the arguments it names: objects none of them
        # names are not made (webhooks names the project alone; about 60 µs an object).
        with Session(self._reader) as db:
            answers.announce_completion(
                hook,
                self.settings,
                tuple(named),
                publish=publish if published else None,
                made=lambda name: _loaded(db, models[name], announced),
            )

    def _store_answer(
        self, connection, kind: str, values: dict, short: bool
    ) -> tuple[dict, int, int | None, dict | None]:
        """The run stored and counted (answers.record_answer, on this path's stores),
        committed; (run, the task's run count after it, new result id or None, the
        completion's rows when read in the transaction, else None). `short`: no step's
        condition held for this answer when its context was read (_Folded.alone; it may have
        been answered since).

        Rows are locked in the sequence's order, the application's, so the two never deadlock.
        """
        values = {**values, "of_task": values["task_id"], "result_created": utcnow()}
        if not connection.postgresql:
            with connection.transaction():
                store = _Steps(connection, values)
                answers.record_answer(store, kind)
                return store.run, store.counted[0], store.result_id, None
        if short:
            # Autocommit: one statement, its own transaction (it writes nothing when the task
            # has changed since). A completing or later answer goes straight to the transaction
            # below: trying the statement first cost it a round trip and a second wait on the
            # task's lock.
            (statement,) = self._folded(kind, alone=True)
            found = connection.rows(*statement, values)
            if found:
                run = found[0]
                return run, run.pop("task_runs"), None, None
        # BEGIN, the folded statements, the completion's rows read (for its announcement: no
        # round trip after the commit) and COMMIT in one pipeline.
        with connection.transaction():
            written, *later = self._folded(kind, alone=False)
            found = connection.batch(
                [
                    (*written, values),
                    *((*statement, values) for statement in later),
                    (("announced written",), _announced_written, values),
                ],
                commit=True,
            )
        run = found[0][0]
        runs = run.pop("task_runs")
        result = found[-2] if later else None
        if not result:
            return run, runs, None, None
        announced = found[-1]
        return run, runs, result[0]["id"], announced[0] if announced else None

    def _folded(self, kind: str, alone: bool) -> list[tuple]:
        """[(key, build)] of the folded answer's statements (_Folded), made once per shape
        and kept with the compiled statements (so a test's changed rule makes them anew)."""
        kept = self.statements._compiled
        key = ("answer folded", kind, alone)
        folded = kept.get(key)
        if folded is None:
            made = _Folded.of(kind, alone).statements()
            folded = kept[key] = [
                ((key, index), lambda statement=statement: statement)
                for index, statement in enumerate(made)
            ]
        return folded

    def _json(self, payload, counted) -> tuple[list, bytes]:
        """JSON headers and body as the application's renderer and rate limiter give them."""
        body = orjson.dumps(payload, option=OPTIONS)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
            *ratelimit_headers(self.limiter, counted).items(),
        ]
        return headers, body


def _api_key(environ, params) -> str | None:
    """The raw Authorization header replaces ?api_key= (core.security.api_key_of)."""
    authorization = environ.get("HTTP_AUTHORIZATION")
    if authorization and not authorization.lower().startswith("bearer "):
        return authorization.strip()
    return params.get("api_key") or None


def _plain_caller(environ) -> bool:
    """No Origin (CORS) and no session cookie (sessions, CSRF): both belong to Pyramid."""
    return "HTTP_ORIGIN" not in environ and not may_carry_session(environ)


def _answer_target(environ) -> bool:
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and environ.get("PATH_INFO") == "/api/taskrun"
        and environ.get("CONTENT_TYPE", "").split(";")[0].strip() == "application/json"
        and _plain_caller(environ)
    )


def _read_body(environ) -> bytes | None:
    """The request body, put back for the application; None when too large to handle here."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= LARGEST_BODY:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _target(environ):
    """The path match of a newtask request the lean path may answer, else None."""
    if environ.get("REQUEST_METHOD") != "GET" or not _plain_caller(environ):
        return None
    return NEWTASK_PATH.fullmatch(environ.get("PATH_INFO", ""))


def wrap(app, router):
    """The application behind the lean path when Redis is configured and delivery.lean is on."""
    registry = router.registry
    if registry.get("redis") is None or not registry.settings["delivery.lean"]:
        return app
    return LeanDelivery(app, registry)


def includeme(config):
    # Innermost: newtask and answers it can answer exactly, as the application would.
    config.add_wsgi_middleware(wrap, order=10)
