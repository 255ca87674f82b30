"""Importing tasks: records from an importer plugin become tasks of a project, in batches.

Domain code: knows nothing of HTTP (the URL fetching below is the importers' outbound HTTP, not
the request's). An importer (core/hookspecs.py `crowdnest_importers`) yields records, one dict
per task; `import_tasks` validates them with the API's task schema, skips those whose `info` a
task of the project already has, and inserts the rest in batches, all inside one savepoint: an
error anywhere leaves the project as it was. Memory stays constant in the number of records and
in the number of tasks the project has: duplicates are found by `task.info_digest` (the SHA1 of
the canonical info, core/models/task.py), one query per batch.
"""

import http.client
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, Any
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

import colander
from sqlalchemy import LargeBinary, bindparam, column, func, insert, select, true
from sqlalchemy.dialects.postgresql import ARRAY

from core import outbound
from core.db import utcnow
from core.errors import DomainError
from core.inputs import JSON_MAX_DEPTH, check_document
from core.jobs import database
from core.models import Project, Task
from core.models.task import info_text, text_digest
from core.plugins import get_plugin_manager
from core.redis import attempt, either, get_redis
from core.schemas import body_schema
from core.services import stats

log = logging.getLogger(__name__)

# Record keys that become columns of the task; every other key goes into `info`. `state` is
# derived from the task runs (decision 7), so an imported `state` is ignored.
TASK_FIELDS = ("quorum", "calibration", "priority_0", "n_answers", "user_pref")
IGNORED_FIELDS = ("state",)
BATCH_SIZE = 500
# Redirects an import URL may go through (each hop checked like the first).
MAX_REDIRECTS = 5
CHUNK = 64 * 1024


class ImporterError(Exception):
    """Bad input for an import; `field` names the form field to blame, if one is."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class ImportField:
    """One form field an importer needs: `kind` is "url", "file" or "text"."""

    name: str
    label: str
    kind: str = "text"
    help: str = ""


@dataclass
class ImportReport:
    """What an import did: tasks created, duplicates skipped, and the error that stopped it."""

    created: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """PYBOSSA's wording (behavior.md 10), with the skipped duplicates (decision 13)."""
        if self.created == 0:
            text = "It looks like there were no new records to import"
        elif self.created == 1:
            text = "1 new task was imported successfully"
        else:
            text = f"{self.created} new tasks were imported successfully"
        if self.skipped == 1:
            text += " (1 duplicate skipped)"
        elif self.skipped:
            text += f" ({self.skipped} duplicates skipped)"
        return text

    def as_dict(self) -> dict:
        return {"created": self.created, "skipped": self.skipped, "errors": list(self.errors)}


# --- The importers the plugin manager provides -----------------------------------------------


def enabled_importers(plugin_manager) -> dict[str, Any]:
    """{name: importer} of every enabled importer plugin, in the order the .ini lists them."""
    found: dict[str, Any] = {}
    for provided in reversed(plugin_manager.hook.crowdnest_importers()):
        found.update(provided or {})
    return found


# --- Records to tasks --------------------------------------------------------------------------


def _existing_digests(db, project_id: int, digests: Iterable[bytes]) -> set[bytes]:
    """The digests among `digests` that a task of the project already has (one query)."""
    statement = digest_lookup(db.get_bind().dialect.name, project_id, list(digests))
    return {bytes(digest) for (digest,) in db.execute(statement)}


def digest_lookup(dialect: str, project_id: int, digests: list[bytes]):
    """The SELECT of the digests among `digests` that a task of the project has."""
    if dialect == "postgresql":
        return _digest_probes(project_id, digests)
    # SQLite probes ix_task_info_digest_project once per digest, statistics or not.
    return select(Task.info_digest).where(
        Task.project_id == project_id, Task.info_digest.in_(digests)
    )


def _digest_probes(project_id: int, digests: list[bytes]):
    """PostgreSQL: one probe of ix_task_info_digest_project per digest, by a lateral join.

    The planner must not be left a choice: it plans from statistics that do not count the rows
    this import inserted (uncommitted), or that were taken while the table was empty, so the
    project looks tiny. With `project_id = :p AND info_digest IN (...)` it then reads every task
    of the project by an index on project_id and filters them, once per batch, and a large
    import grows quadratic (100,000 rows: minutes instead of seconds). So each digest is its own
    parameterized lookup (LIMIT 1, in a lateral subquery), and `project_id + 0` keeps the
    indexes on project_id out of it: the digest index is the only one that applies.
    """
    wanted = (
        func.unnest(bindparam("digests", digests, ARRAY(LargeBinary)))
        .table_valued(column("digest", LargeBinary))
        .render_derived(name="wanted")
    )
    found = (
        select(Task.info_digest)
        .where(Task.info_digest == wanted.c.digest, Task.project_id + 0 == project_id)
        .limit(1)
        .lateral("found")
    )
    return select(found.c.info_digest).select_from(wanted).join(found, true())


def _task_values(record: dict, number: int) -> dict:
    """The task columns of one record, checked as the API checks a POSTed task."""
    if not isinstance(record, dict):
        raise ImporterError(f"Record {number}: a task must be an object.")
    info = {}
    fields = {}
    for key, value in record.items():
        if key in TASK_FIELDS:
            if value != "" and value is not None:
                fields[key] = value
        elif key not in IGNORED_FIELDS:
            info[key] = value
    if fields:
        try:
            fields = body_schema(Task, TASK_FIELDS).deserialize(fields)
        except colander.Invalid as invalid:
            details = "; ".join(f"{k}: {v}" for k, v in sorted(invalid.asdict().items()))
            raise ImporterError(f"Record {number}: {details}") from None
    fields["info"] = info
    return fields


def import_tasks(
    db,
    project: Project,
    records: Iterable[dict],
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Create a task per new record; all or nothing (raises ImporterError, nothing kept).

    `progress(created, skipped)`, when given, is called after each batch is inserted.
    """
    report = ImportReport()
    with db.begin_nested():
        # Only the current batch is held: {digest: task values}, in record order. The rows of
        # earlier batches were inserted (Core, executed at once) in this same transaction, so
        # the next batch's lookup finds them.
        batch: dict[bytes, dict] = {}
        for number, record in enumerate(records, start=1):
            values = _task_values(record, number)
            try:
                # What the database stores: no NUL, no lone surrogate, 64-bit integers.
                check_document(values["info"], JSON_MAX_DEPTH, f"Record {number}")
            except DomainError as error:
                raise ImporterError(error.message) from None
            text = info_text(values["info"])
            digest = text_digest(text)
            if digest in batch:
                report.skipped += 1
                continue
            values["project_id"] = project.id
            values["info_digest"] = digest
            batch[digest] = values
            if len(batch) >= batch_size:
                _insert_new(db, project.id, batch, report)
                batch = {}
                if progress is not None:
                    progress(report.created, report.skipped)
        if batch:
            _insert_new(db, project.id, batch, report)
        if progress is not None:
            progress(report.created, report.skipped)
        if report.created:
            stats.bump(db, project.id, n_tasks=report.created)
            project.updated = utcnow()
    return report


def _insert_new(db, project_id: int, batch: dict[bytes, dict], report: ImportReport) -> None:
    """Insert the batch's tasks whose info no task of the project has yet."""
    existing = _existing_digests(db, project_id, batch)
    new = [values for digest, values in batch.items() if digest not in existing]
    report.skipped += len(batch) - len(new)
    if new:
        report.created += _insert(db, new)


def _insert(db, batch: list[dict]) -> int:
    # Every row names the same columns, so the batch is one executemany.
    now = utcnow()
    rows = [
        {
            "created": now,
            "state": "ongoing",
            "quorum": 0,
            "calibration": 0,
            "priority_0": 0.0,
            "n_answers": 30,
            "user_pref": None,
            "n_task_runs": 0,
            **values,
        }
        for values in batch
    ]
    db.execute(insert(Task), rows)
    return len(rows)


# --- Reading the sources: uploads and URLs --------------------------------------------------


class LimitedReader(io.RawIOBase):
    """A binary stream that raises ImporterError once more than `max_bytes` were read."""

    def __init__(self, stream: IO[bytes], max_bytes: int):
        super().__init__()
        self.stream = stream
        self.max_bytes = max_bytes
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        # Never ask for more than one byte past the limit: that byte proves the file too large.
        wanted = min(len(buffer), self.max_bytes + 1 - self.read_bytes)
        try:
            data = self.stream.read(max(wanted, 1))
        except (OSError, http.client.HTTPException) as error:
            raise ImporterError(f"The download failed: {error}") from None
        self.read_bytes += len(data)
        if self.read_bytes > self.max_bytes:
            megabytes = self.max_bytes / (1024 * 1024)
            raise ImporterError(f"The file is too large: the limit is {megabytes:g} MB.")
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.stream.close()
        super().close()


def _limited(stream: IO[bytes], settings: dict) -> IO[bytes]:
    return io.BufferedReader(LimitedReader(stream, settings["importer.max_bytes"]), CHUNK)


def _error_detail(error) -> str:
    """The message a JSON API put in its error answer, if any (the first 16 kB only)."""
    try:
        data = json.loads(error.read(16 * 1024))
    except (OSError, ValueError, http.client.HTTPException):
        return ""
    candidates = []
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict):
            candidates.append(inner.get("message"))
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            candidates.append(errors[0].get("message") or errors[0].get("title"))
        candidates += [data.get("message"), data.get("detail"), data.get("title"), inner]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()[:300]
    return ""


def open_url(
    url: str,
    settings: dict,
    field: str,
    content_types: tuple[str, ...],
    headers: dict | None = None,
) -> IO[bytes]:
    """GET `url` for an importer: a size-limited binary stream, or ImporterError for `field`.

    Loopback and private addresses are refused unless `importer.allow_private_urls` is on.
    """
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImporterError("Please give a valid http:// or https:// URL.", field)
    try:
        response = outbound.request(
            "GET",
            url,
            headers={"User-Agent": "Crowdnest importer", **(headers or {})},
            timeout=settings["importer.timeout"],
            allow_private=settings["importer.allow_private_urls"],
            redirects=MAX_REDIRECTS,
        )
    except outbound.Refused:
        raise ImporterError("This URL points to a private network address.", field) from None
    except (OSError, ValueError) as error:
        raise ImporterError(f"The URL could not be fetched: {error}", field) from None
    if response.status >= 400:
        if response.status in (401, 403):
            message = "Oops! It looks like you don't have permission to access that file"
        else:
            detail = _error_detail(response)
            message = f"The URL answered HTTP {response.status}" + (
                f": {detail}" if detail else "."
            )
        response.close()
        raise ImporterError(message, field)
    content_type = (response.headers.get("Content-Type") or "").lower()
    if content_types and not any(kind in content_type for kind in content_types):
        response.close()
        raise ImporterError(
            f"The URL does not serve {' or '.join(content_types)} (it serves "
            f"{content_type or 'no content type'}).",
            field,
        )
    return _limited(response, settings)


def open_upload(upload, settings: dict, field: str) -> IO[bytes]:
    """An uploaded file as a size-limited binary stream, or ImporterError for `field`."""
    stream = getattr(upload, "file", None)
    if stream is None:
        raise ImporterError("Please choose a file to upload.", field)
    return _limited(stream, settings)


def open_source(values: dict, settings: dict, url_field: str, file_field: str, types) -> IO:
    """The uploaded file if there is one, else the URL: exactly one is needed."""
    upload = values.get(file_field)
    url = values.get(url_field)
    # A file input left empty still sends a part, with no file name.
    if getattr(upload, "filename", None) and getattr(upload, "file", None) is not None:
        return open_upload(upload, settings, file_field)
    if url:
        return open_url(url.strip(), settings, url_field, types)
    raise ImporterError("Please give a URL or choose a file.", url_field)


# --- Web APIs: JSON and XML answers ---------------------------------------------------------

JSON_TYPES = ("application/json", "text/javascript", "text/plain", "+json")
XML_TYPES = ("xml",)


def api_url(base: str, path: str = "", **params) -> str:
    """`base` (a setting such as importer.flickr.api_url) + `path` + the non-empty `params`."""
    query = urlencode({key: value for key, value in params.items() if value not in (None, "")})
    url = base.rstrip("/") + "/" + path.lstrip("/") if path else base
    return f"{url}{'&' if '?' in url else '?'}{query}" if query else url


def fetch_json(url: str, settings: dict, field: str, service: str, headers=None) -> Any:
    """The JSON document at `url`; every failure is an ImporterError naming `service`."""
    try:
        stream = open_url(url, settings, field, JSON_TYPES, headers)
        with stream:
            return json.loads(stream.read())
    except ImporterError as error:
        raise ImporterError(f"{service}: {error.message}", field) from None
    except UnicodeDecodeError:
        raise ImporterError(f"{service} answered text that is not UTF-8.", field) from None
    except ValueError:
        raise ImporterError(f"{service} answered something that is not JSON.", field) from None


def fetch_xml(url: str, settings: dict, field: str, service: str) -> ElementTree.Element:
    """The root element of the XML document at `url`; failures are ImporterErrors."""
    try:
        stream = open_url(url, settings, field, XML_TYPES)
        with stream:
            # expat refuses external entities and bounds entity expansion; the size is limited.
            return ElementTree.fromstring(stream.read())
    except ImporterError as error:
        raise ImporterError(f"{service}: {error.message}", field) from None
    except ElementTree.ParseError:
        raise ImporterError(f"{service} answered something that is not XML.", field) from None


def setting(settings: dict, key: str, service: str, field: str | None = None) -> str:
    """A plugin setting the importer cannot work without (an API key, a token)."""
    value = settings.get(key) or ""
    if not value:
        raise ImporterError(
            f"The {service} importer is not configured on this server ({key} is empty).", field
        )
    return value


# --- Background imports: large ones run as a job (core/jobs.py) ------------------------------

STATUS_KEY = "import_status"
PROGRESS_TTL = 24 * 3600


def peek(records: Iterable[dict], threshold: int) -> tuple[list[dict], bool]:
    """The first records and whether there are more than `threshold` (a large import).

    A large import's records are dropped (its job reads the source again); a small one's are
    all there.
    """
    records = iter(records)
    head = list(islice(records, threshold + 1))
    if len(head) > threshold:
        close = getattr(records, "close", None)
        if close is not None:
            close()
        return head, True
    return head, False


@dataclass
class OpenedUpload:
    """A spooled upload opened again, shaped like webob's upload (`filename`, `file`)."""

    filename: str
    file: IO[bytes]


@dataclass(frozen=True)
class SpooledUpload:
    """An upload copied under importer.spool_dir, for a job in another process (it pickles)."""

    filename: str
    path: str

    def opened(self) -> OpenedUpload:
        return OpenedUpload(self.filename, open(self.path, "rb"))

    def delete(self) -> None:
        with suppress(FileNotFoundError):
            os.remove(self.path)


def spool_upload(upload, settings: dict) -> SpooledUpload:
    """Copy an upload (size-limited) to a file of its own under importer.spool_dir."""
    folder = settings["importer.spool_dir"]
    os.makedirs(folder, exist_ok=True)
    handle, path = tempfile.mkstemp(suffix=".upload", dir=folder)
    spooled = SpooledUpload(getattr(upload, "filename", "") or "upload", path)
    try:
        with os.fdopen(handle, "wb") as target, open_upload(upload, settings, "file") as source:
            while chunk := source.read(CHUNK):
                target.write(chunk)
    except BaseException:
        spooled.delete()
        raise
    return spooled


def _progress_key(project_id: int) -> str:
    return f"crowdnest:import-progress:{project_id}"


def set_status(db, project: Project, state: str, importer: str, **figures) -> dict:
    """Record the project's import status in `project.info` (with the caller's transaction)."""
    status = {"state": state, "importer": importer, "updated": utcnow(), **figures}
    project.info = {**(project.info or {}), STATUS_KEY: status}
    db.flush()
    return status


def import_status(settings: dict, project: Project) -> dict | None:
    """The last import's status; a running one with its live figures when Redis keeps them."""
    status = (project.info or {}).get(STATUS_KEY)
    if (
        status is None
        or status.get("state") not in ("queued", "running")
        or not settings["redis.url"]
    ):
        return status
    redis = get_redis(settings["redis.url"], settings)
    try:
        live = either(redis, lambda client: client.get(_progress_key(project.id)), lambda: None)
    finally:
        redis.close()
    return {**status, **json.loads(live)} if live else status


def _live_progress(settings: dict, project_id: int) -> Callable[[int, int], None] | None:
    """A progress callback writing the figures to Redis, which other transactions can read."""
    if not settings["redis.url"]:
        return None

    def progress(created: int, skipped: int) -> None:
        redis = get_redis(settings["redis.url"], settings)
        try:
            value = json.dumps({"state": "running", "created": created, "skipped": skipped})
            attempt(
                redis, lambda client: client.set(_progress_key(project_id), value, ex=PROGRESS_TTL)
            )
        finally:
            redis.close()

    return progress


def run_import(settings: dict, project_id: int, importer_name: str, values: dict) -> None:
    """The job of a large import: read the source again and import it, recording its status.

    `values` are the form's, with SpooledUploads for uploaded files (deleted once done).
    """
    spooled = [value for value in values.values() if isinstance(value, SpooledUpload)]
    try:
        with database(settings) as db:
            project = db.get(Project, project_id)
            if project is None:
                return
            set_status(db, project, "running", importer_name, created=0, skipped=0)
        try:
            importer = enabled_importers(get_plugin_manager(settings)).get(importer_name)
            if importer is None:
                raise ImporterError(f"The importer {importer_name!r} is not enabled any more.")
            opened = {
                name: value.opened() if isinstance(value, SpooledUpload) else value
                for name, value in values.items()
            }
            with database(settings) as db:
                project = db.get(Project, project_id)
                records = importer.records(opened, settings)
                report = import_tasks(
                    db, project, records, progress=_live_progress(settings, project_id)
                )
                set_status(
                    db,
                    project,
                    "done",
                    importer_name,
                    message=report.message,
                    **report.as_dict(),
                )
        except ImporterError as error:
            _failed(settings, project_id, importer_name, error.message)
        except Exception:
            _failed(settings, project_id, importer_name, "The import failed unexpectedly.")
            raise
    finally:
        for upload in spooled:
            upload.delete()
        if settings["redis.url"]:
            redis = get_redis(settings["redis.url"], settings)
            try:
                attempt(redis, lambda client: client.delete(_progress_key(project_id)))
            finally:
                redis.close()


def _failed(settings: dict, project_id: int, importer_name: str, message: str) -> None:
    with database(settings) as db:
        project = db.get(Project, project_id)
        if project is not None:
            set_status(db, project, "failed", importer_name, message=message, errors=[message])
