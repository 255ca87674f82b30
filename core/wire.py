"""The task-delivery path's statements on PostgreSQL, sent through libpq (psycopg.pq).

psycopg's cursor spends about 75 µs of Python per statement here (its query conversion,
prepared-statement bookkeeping, result selection, cursor objects) around a round trip whose
own CPU is about 40 µs. The delivery path (core.delivery) runs one to three compiled statements
a request, always the same few: this module prepares each once per connection, under a name
made from its text, and runs it with libpq's own calls. Parameters are dumped and rows loaded
by psycopg's Transformer (its C adapters, with the connection's loaders: the values are those
a cursor gives).

Statements of one batch travel in libpq's pipeline mode: one round trip, one implicit
transaction (as psycopg's pipeline in autocommit mode), or with `begin` an explicit one that
`commit` ends in the same trip.
"""

import hashlib
import re

from psycopg import errors, generators, waiting
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import ConnStatus, ExecStatus, TransactionStatus

PLACEHOLDER = re.compile(r"%\(([^)]+)\)s|%%")
# Raised when a prepared statement is missing (DEALLOCATE ALL, DISCARD ALL, a pooler between):
# the batch is prepared again and run once more.
MISSING = errors.InvalidSqlStatementName
ROWS, DONE = ExecStatus.TUPLES_OK, ExecStatus.COMMAND_OK
IDLE = TransactionStatus.IDLE
# How long a wait for the server sleeps before looking again (as psycopg's connections):
# psycopg's default, 0, polls without sleeping and spends a core while the server works.
WAIT_INTERVAL = 0.1


class Statement:
    """A compiled statement's text in libpq's numbered form ($1...), its name when prepared
    and its parameters' names in their numbers' order."""

    __slots__ = ("name", "names", "sql")

    def __init__(self, sql: str):
        """`sql`: the statement as psycopg's SQLAlchemy dialect compiles it (%(name)s, %%)."""
        names: list[str] = []

        def number(match) -> str:
            name = match.group(1)
            if name is None:
                return "%"
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        self.sql = PLACEHOLDER.sub(number, sql).encode()
        # Named by its text: the same name on a connection is always the same statement.
        self.name = b"crowdnest_" + hashlib.sha1(self.sql).hexdigest()[:24].encode()
        self.names = tuple(names)

    def arguments(self, values: dict) -> list:
        return [values[name] for name in self.names]


class _State:
    """What one connection has prepared, and its Transformer (kept on the connection)."""

    __slots__ = ("prepared", "transformer")

    def __init__(self, driver):
        self.prepared: set[bytes] = set()
        self.transformer = Transformer(driver)


def execute(driver, statements, begin: bool = False, commit: bool = False) -> list:
    """For each (Statement, arguments): its rows as tuples and its result columns' type oids,
    or None for a statement without rows. `begin`: the batch opens a transaction (BEGIN);
    `commit`: it ends with COMMIT. Raises psycopg's error for the first statement that failed
    (a transaction opened here is then left failed: the caller rolls back)."""
    state = driver.__dict__.get("_crowdnest_wire")
    if state is None:
        state = driver.__dict__["_crowdnest_wire"] = _State(driver)
    try:
        return _execute(driver, state, statements, begin, commit)
    except MISSING:
        state.prepared.clear()
        if driver.pgconn.transaction_status != IDLE:
            _check(driver, driver.pgconn.exec_(b"ROLLBACK"))
        return _execute(driver, state, statements, begin, commit)


def end(driver, commit: bool) -> None:
    """The transaction `execute(begin=True)` opened committed (or rolled back), unless the
    batch's COMMIT ended it; a failed one is always rolled back."""
    status = driver.pgconn.transaction_status
    if status != IDLE:
        command = b"COMMIT" if commit and status == TransactionStatus.INTRANS else b"ROLLBACK"
        _check(driver, driver.pgconn.exec_(command))


def _execute(driver, state, statements, begin: bool, commit: bool) -> list:
    pgconn, transformer = driver.pgconn, state.transformer
    for statement, _arguments in statements:
        if statement.name not in state.prepared:
            try:
                _check(driver, pgconn.prepare(statement.name, statement.sql))
            except errors.DuplicatePreparedStatement:
                pass  # prepared on this server session already (a pooler between): same text
            state.prepared.add(statement.name)
    if len(statements) == 1 and not (begin or commit):
        statement, arguments = statements[0]
        dumped = transformer.dump_sequence(arguments, [PyFormat.TEXT] * len(arguments))
        result = _check(driver, pgconn.exec_prepared(statement.name, dumped))
        return [_rows(transformer, result)]
    results = _pipelined(driver, transformer, statements, begin, commit)
    for result in results:  # the first failure is the cause; later ones were skipped
        _check(driver, result)
    found = results[1:] if begin else results
    return [_rows(transformer, result) for result in found[: len(statements)]]


def _pipelined(driver, transformer, statements, begin: bool, commit: bool) -> list:
    """The batch's results (BEGIN's and COMMIT's included), sent and read in one trip."""
    pgconn = driver.pgconn
    # Dumped before anything is sent: a value psycopg cannot adapt raises with nothing queued.
    dumped = [
        (statement.name, transformer.dump_sequence(arguments, [PyFormat.TEXT] * len(arguments)))
        for statement, arguments in statements
    ]
    pgconn.enter_pipeline_mode()
    try:
        if begin:
            pgconn.send_query_params(b"BEGIN", None)
        for name, values in dumped:
            pgconn.send_query_prepared(name, values)
        if commit:
            pgconn.send_query_params(b"COMMIT", None)
        pgconn.pipeline_sync()
        if pgconn.flush():  # not all sent yet (the connection is non-blocking)
            waiting.wait(generators.send(pgconn), pgconn.socket, interval=WAIT_INTERVAL)
        results = [_last_result(pgconn) for _ in range(begin + len(statements) + commit)]
        if pgconn.status == ConnStatus.BAD:
            raise errors.OperationalError(pgconn.get_error_message())
        synced = _result(pgconn)
        if synced is None or synced.status != ExecStatus.PIPELINE_SYNC:
            raise errors.OperationalError("the pipeline did not end with its sync")
    finally:
        if pgconn.status != ConnStatus.BAD:
            pgconn.exit_pipeline_mode()
    return results


def _last_result(pgconn):
    """One statement's result in the pipeline (read up to the None that ends it)."""
    last = None
    while (result := _result(pgconn)) is not None:
        last = result
    return last


def _result(pgconn):
    """libpq's next result, waited for with the GIL released."""
    # pq's get_result() would wait inside libpq holding the GIL: a statement waiting for a
    # row lock held by another thread of this process would then freeze the whole process.
    if not pgconn.is_busy():  # already read: libpq does not wait (the cheaper way)
        return pgconn.get_result()
    return waiting.wait(generators.fetch(pgconn), pgconn.socket, interval=WAIT_INTERVAL)


def _check(driver, result):
    if result is not None and result.status in (ROWS, DONE):
        return result
    lost = driver.pgconn.status == ConnStatus.BAD
    if lost or result is None or result.status != ExecStatus.FATAL_ERROR:
        message = driver.pgconn.get_error_message() or "the statement was not run"
        raise errors.OperationalError(message)
    raise errors.error_from_result(result, encoding=driver.info.encoding)


def _rows(transformer, result):
    if result.status != ROWS:
        return None
    transformer.set_pgresult(result)
    types = [result.ftype(index) for index in range(result.nfields)]
    return transformer.load_rows(0, result.ntuples, tuple), types
