"""Project exports: tasks, task runs or results as a zipped JSON or CSV file, streamed.

Domain code, no HTTP: `export_zip()` yields the bytes of the zip file a little at a time, from
its own read-only transaction, so a web response or a file on disk is written with constant
memory whatever the size of the project. Rows hold the fields the API shows (behavior.md 1,
without `link`/`links`), in id order; CSV flattens JSON objects (`info`) into `info_<key>`
columns, nested keys joined with `_` (`info_a_b`). `crowdnest export` is
core/cli/exports.py.
"""

import csv
import io
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import orjson
from sqlalchemy import (
    Integer,
    Text,
    any_,
    bindparam,
    column,
    exists,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from core.inputs import ascii_digits
from core.models import Favorite, Project, Result, Task, TaskRun, internal_columns

MODELS = {"task": Task, "task_run": TaskRun, "result": Result}
TYPES = tuple(MODELS)
FORMATS = ("json", "csv")
# Columns holding JSON documents that CSV flattens when they are objects.
FLATTENED = {"task": ("info", "user_pref"), "task_run": ("info",), "result": ("info",)}
DEFAULT_BATCH_SIZE = 2000
# zlib's own default: most of the size saving of level 9 for a fraction of its time.
COMPRESS_LEVEL = 6

Progress = Callable[[int], None]


class ExportError(Exception):
    """An export nobody can make: an unknown type or format."""


@dataclass(frozen=True)
class ExportTarget:
    """What to export: a project's rows of one type, in one format."""

    project_id: int
    short_name: str
    type: str
    format: str

    def __post_init__(self):
        if self.type not in MODELS:
            raise ExportError(f"unknown export type {self.type!r}")
        if self.format not in FORMATS:
            raise ExportError(f"unknown export format {self.format!r}")

    @property
    def member_name(self) -> str:
        """The file inside the zip: `<short_name>_<type>.<format>`."""
        return f"{safe_name(self.short_name)}_{self.type}.{self.format}"

    @property
    def zip_name(self) -> str:
        """The zip file itself: `<short_name>_<type>_<format>.zip`."""
        return f"{safe_name(self.short_name)}_{self.type}_{self.format}.zip"


def safe_name(short_name: str) -> str:
    """The short name with anything but letters, digits, `-`, `_` and `.` made `_`."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", short_name).strip(".") or "project"


# --- rows ----------------------------------------------------------------------------------------


def _columns(kind: str) -> list:
    model = MODELS[kind]
    hidden = internal_columns(model)
    return [column for column in model.__table__.columns if column.key not in hidden]


def field_names(kind: str) -> list[str]:
    """The fields of each exported row, in the API's order."""
    names = [column.key for column in _columns(kind)]
    if kind == "task":
        names.append("fav_user_ids")
    return names


def _where(statement, kind: str, project_id: int):
    model = MODELS[kind]
    statement = statement.where(model.project_id == project_id)
    if model is Result:
        # The API lists the latest version of each result unless asked otherwise.
        statement = statement.where(Result.last_version)
    return statement


def count_rows(connection, kind: str, project_id: int) -> int:
    model = MODELS[kind]
    return connection.scalar(_where(select(func.count(model.id)), kind, project_id))


def _streamed(connection, statement, batch_size: int):
    """The statement's rows in lists of batch_size, through a server-side cursor on PostgreSQL."""
    # On the statement, not the connection: Connection.execution_options() changes it for good.
    statement = statement.execution_options(stream_results=True, yield_per=batch_size)
    return connection.execute(statement).partitions(batch_size)


def _favourites(connection, task_ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    if connection.dialect.name == "postgresql":
        wanted = Favorite.task_id == any_(bindparam("task_ids", task_ids, ARRAY(Integer)))
    else:
        wanted = Favorite.task_id.in_(task_ids)
    rows = connection.execute(
        select(Favorite.task_id, Favorite.user_id)
        .where(wanted)
        .order_by(Favorite.created, Favorite.user_id)
    )
    for task_id, user_id in rows:
        found.setdefault(task_id, []).append(user_id)
    return found


def iter_records(
    connection, kind: str, project_id: int, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[list[dict]]:
    """The project's rows of `kind` as API dicts, in id order, one batch at a time."""
    columns = _columns(kind)
    names = [column.key for column in columns]
    statement = _where(select(*columns), kind, project_id).order_by(MODELS[kind].id)
    for rows in _streamed(connection, statement, batch_size):
        records = [dict(zip(names, row, strict=True)) for row in rows]
        if kind == "task":
            favourites = _favourites(connection, [record["id"] for record in records])
            for record in records:
                record["fav_user_ids"] = favourites.get(record["id"])
        yield records


# --- JSON ----------------------------------------------------------------------------------------


def json_chunks(batches: Iterable[list[dict]]) -> Iterator[bytes]:
    """One JSON array of every record, one chunk per batch."""
    yield b"["
    first = True
    for records in batches:
        if not records:
            continue
        chunk = b",\n".join(orjson.dumps(record) for record in records)
        yield chunk if first else b",\n" + chunk
        first = False
    yield b"]\n"


# --- CSV -----------------------------------------------------------------------------------------


def flatten(prefix: str, value, into: dict) -> dict:
    """`{"a": {"b": 1}}` under `info` becomes `{"info_a_b": 1}`; empty objects vanish."""
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(f"{prefix}_{key}", item, into)
    else:
        into[prefix] = value
    return into


def flat_record(record: dict, flattened: Iterable[str]) -> dict:
    """The record with its JSON-object fields spread into `<field>_<key>` columns."""
    flat = dict(record)
    for field in flattened:
        value = flat.get(field)
        if isinstance(value, dict):
            del flat[field]
            for key, item in value.items():
                flatten(f"{field}_{key}", item, flat)
    return flat


def document_keys(kind: str, documents: Iterable[tuple]) -> tuple[dict[str, set], set]:
    """The flattened keys of each JSON-object field, and the fields holding other values too.

    `documents` yields, for each row, the values of the FLATTENED fields of `kind` in order.
    """
    fields = FLATTENED[kind]
    keys: dict[str, set] = {field: set() for field in fields}
    plain: set[str] = set()
    for values in documents:
        for field, value in zip(fields, values, strict=True):
            if isinstance(value, dict):
                keys[field].update(flat_record({field: value}, (field,)))
            elif value is not None:
                plain.add(field)
    return keys, plain


def csv_header(kind: str, keys: dict[str, set], plain: set) -> list[str]:
    """Every CSV column: the API fields, each JSON-object field replaced by its sorted keys.

    A JSON field keeps its own column only when some row holds something other than an object
    there (`plain`).
    """
    header = []
    for name in field_names(kind):
        if name not in keys:
            header.append(name)
            continue
        if name in plain:
            header.append(name)
        header.extend(sorted(keys[name]))
    return header


def _documents(connection, kind: str, project_id: int, batch_size: int) -> Iterator[tuple]:
    model = MODELS[kind]
    columns = [getattr(model, field) for field in FLATTENED[kind]]
    statement = _where(select(*columns), kind, project_id)
    for rows in _streamed(connection, statement, batch_size):
        yield from rows


def _jsonb_each(document, name: str):
    pairs = func.jsonb_each(document).table_valued(column("key", Text), column("value", JSONB))
    return pairs.lateral(name)


def _field_keys_in_sql(connection, kind: str, project_id: int, field: str) -> tuple[set, bool]:
    """document_keys() of one field, computed by PostgreSQL without sending the documents."""
    model = MODELS[kind]
    document = getattr(model, field)
    top = _jsonb_each(document, "top")
    anchor = _where(
        select((literal(f"{field}_", Text) + top.c.key).label("path"), top.c.value)
        .select_from(model)
        .join(top, true())
        .where(func.jsonb_typeof(document) == "object"),
        kind,
        project_id,
    )
    # Walk down nested objects: each step appends `_<key>` to the path.
    walk = anchor.cte("walk", recursive=True)
    below = _jsonb_each(walk.c.value, "below")
    walk = walk.union_all(
        select(walk.c.path + literal("_", Text) + below.c.key, below.c.value)
        .select_from(walk)
        .join(below, true())
        .where(func.jsonb_typeof(walk.c.value) == "object")
    )
    leaves = select(walk.c.path).where(func.jsonb_typeof(walk.c.value) != "object").distinct()
    others = _where(select(model.id), kind, project_id).where(
        func.jsonb_typeof(document).not_in(["object", "null"])
    )
    return set(connection.scalars(leaves)), bool(connection.scalar(select(exists(others))))


def _csv_header(connection, kind: str, project_id: int, batch_size: int) -> list[str]:
    if connection.dialect.name != "postgresql":
        documents = _documents(connection, kind, project_id, batch_size)
        return csv_header(kind, *document_keys(kind, documents))
    keys, plain = {}, set()
    for field in FLATTENED[kind]:
        keys[field], has_plain = _field_keys_in_sql(connection, kind, project_id, field)
        if has_plain:
            plain.add(field)
    return csv_header(kind, keys, plain)


# A spreadsheet reads a cell starting with one of these as a formula (decision 20).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """`text` made inert for spreadsheets: a leading `'` when it could start a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_cell(value):
    """A cell: JSON for lists and objects; the csv module writes null as empty, others as str.

    Text is neutralised; numbers stay numbers (a JSON -5 is written -5, the text "-5" as '-5).
    """
    if isinstance(value, (list, dict)):
        return orjson.dumps(value).decode()
    if isinstance(value, str):
        return neutralise(value)
    return value


def csv_chunks(header: list[str], kind: str, batches: Iterable[list[dict]]) -> Iterator[bytes]:
    """The header line, then one chunk of CSV lines per batch of records, in UTF-8."""
    flattened = FLATTENED[kind]
    buffer = io.StringIO()
    # CRLF (RFC 4180): the writer then quotes cells holding a carriage return, which a
    # spreadsheet would otherwise take for a new row (a formula could start it).
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(name) for name in header])
    yield buffer.getvalue().encode()
    for records in batches:
        buffer.seek(0)
        buffer.truncate()
        for record in records:
            flat = flat_record(record, flattened)
            writer.writerow([csv_cell(flat.get(name)) for name in header])
        yield buffer.getvalue().encode()


# --- the zip -------------------------------------------------------------------------------------


class _Drain:
    """A write-only file zipfile writes into; what it holds is taken away after each chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def zip_stream(member_name: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """A zip of one file made of `chunks`, yielded as it is compressed (never held whole)."""
    drain = _Drain()
    # Not seekable: zipfile writes sizes and CRC in a data descriptor after the data. Zip64
    # from the start, because the size is unknown until the end and may pass 4 GiB.
    with zipfile.ZipFile(drain, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as zf:
        info = zipfile.ZipInfo(member_name, date_time=time.localtime()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with zf.open(info, "w", force_zip64=True) as member:
            # The local header leaves at once, before the first rows are even read.
            yield drain.take()
            for chunk in chunks:
                member.write(chunk)
                data = drain.take()
                if data:
                    yield data
    yield drain.take()


def export_zip(
    engine,
    target: ExportTarget,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> Iterator[bytes]:
    """The zip file of `target`, chunk by chunk, read in one snapshot of the database.

    `progress(n)` is called with the number of rows written so far after each batch.
    """
    with _snapshot(engine) as connection:
        batches = iter_records(connection, target.type, target.project_id, batch_size)
        if progress is not None:
            batches = _counted(batches, progress)
        if target.format == "json":
            chunks = json_chunks(batches)
        else:
            header = _csv_header(connection, target.type, target.project_id, batch_size)
            chunks = csv_chunks(header, target.type, batches)
        yield from zip_stream(target.member_name, chunks)


@contextmanager
def _snapshot(engine) -> Iterator:
    """A read-only connection whose reads all see one state of the database."""
    options = {}
    if engine.dialect.name == "postgresql":
        # CSV reads the rows twice (header, then lines): both passes must agree.
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect() as connection:
        connection.execution_options(**options)
        # Never committed: closing the connection rolls the read back.
        connection.begin()
        yield connection


def _counted(batches: Iterable[list[dict]], progress: Progress) -> Iterator[list[dict]]:
    done = 0
    for records in batches:
        yield records
        done += len(records)
        progress(done)


def find_project(connection, name: str):
    """The project's (id, short_name, zip_download) by short name, or by id when numeric."""
    columns = (Project.id, Project.short_name, Project.zip_download)
    row = connection.execute(select(*columns).where(Project.short_name == name)).first()
    if row is None and ascii_digits(name):
        row = connection.execute(select(*columns).where(Project.id == int(name))).first()
    return row
