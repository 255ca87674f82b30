"""Importing tasks: records from an importer plugin become tasks of a project, in batches.

Domain code: knows nothing of HTTP (the URL fetching below is the importers' outbound HTTP, not
the request's). An importer (core/hookspecs.py `crowdnest_importers`) yields records, one dict
per task; `import_tasks` validates them with the API's task schema, skips those whose `info` a
task of the project already has, and inserts the rest in batches, all inside one savepoint: an
error anywhere leaves the project as it was. Memory stays constant in the number of records,
except for one 20-byte digest per task of the project (the duplicate check).
"""

import hashlib
import http.client
import io
import ipaddress
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit

import colander
from sqlalchemy import insert, select

from core.db import utcnow
from core.models import Project, Task
from core.schemas import body_schema
from core.services import stats

# Record keys that become columns of the task; every other key goes into `info`. `state` is
# derived from the task runs (decision 7), so an imported `state` is ignored.
TASK_FIELDS = ("quorum", "calibration", "priority_0", "n_answers", "user_pref")
IGNORED_FIELDS = ("state",)
BATCH_SIZE = 500
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


def _info_text(info) -> str:
    """One canonical JSON text per `info` value, whatever its key order."""
    return json.dumps(info, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _info_key(info) -> bytes:
    return hashlib.sha1(_info_text(info).encode("utf-8"), usedforsecurity=False).digest()


def _existing_keys(db, project_id: int) -> set[bytes]:
    rows = db.execute(
        select(Task.info).where(Task.project_id == project_id).execution_options(yield_per=1000)
    )
    return {_info_key(info) for (info,) in rows}


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
        if "n_answers" in fields and fields["n_answers"] < 1:
            raise ImporterError(f"Record {number}: n_answers must be at least 1.")
    fields["info"] = info
    return fields


def import_tasks(
    db, project: Project, records: Iterable[dict], batch_size: int = BATCH_SIZE
) -> ImportReport:
    """Create a task per new record; all or nothing (raises ImporterError, nothing kept)."""
    report = ImportReport()
    with db.begin_nested():
        seen = _existing_keys(db, project.id)
        batch: list[dict] = []
        for number, record in enumerate(records, start=1):
            values = _task_values(record, number)
            text = _info_text(values["info"])
            # PostgreSQL's JSONB cannot store NUL characters.
            if "\\u0000" in text:
                raise ImporterError(f"Record {number}: NUL characters are not allowed.")
            key = hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).digest()
            if key in seen:
                report.skipped += 1
                continue
            seen.add(key)
            values["project_id"] = project.id
            batch.append(values)
            if len(batch) >= batch_size:
                report.created += _insert(db, batch)
                batch = []
        if batch:
            report.created += _insert(db, batch)
        if report.created:
            stats.bump(db, project.id, n_tasks=report.created)
            project.updated = utcnow()
    return report


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


def _public_host(host: str, port: int) -> bool:
    try:
        addresses = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return True  # the fetch itself reports the unknown host
    for *_, sockaddr in addresses:
        address = ipaddress.ip_address(sockaddr[0])
        if not address.is_global:
            return False
    return True


def open_url(url: str, settings: dict, field: str, content_types: tuple[str, ...]) -> IO[bytes]:
    """GET `url` for an importer: a size-limited binary stream, or ImporterError for `field`.

    Loopback and private addresses are refused unless `importer.allow_private_urls` is on.
    """
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImporterError("Please give a valid http:// or https:// URL.", field)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not settings["importer.allow_private_urls"] and not _public_host(parts.hostname, port):
        raise ImporterError("This URL points to a private network address.", field)
    request = urllib.request.Request(url, headers={"User-Agent": "Crowdnest importer"})
    try:
        response = urllib.request.urlopen(request, timeout=settings["importer.timeout"])
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            message = "Oops! It looks like you don't have permission to access that file"
        else:
            message = f"The URL answered HTTP {error.code}."
        raise ImporterError(message, field) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise ImporterError(f"The URL could not be fetched: {reason}", field) from None
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
