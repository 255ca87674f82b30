"""Stored exports: zips kept under export.dir and served again while younger than a max age.

Domain code, no HTTP. PYBOSSA pre-generates its export zips, hourly for pro owners' projects and
daily for the others (`updated_exports`, behavior.md 10 and 12). Here a project whose primary
owner does not get `updated_exports` is served the zip stored by an earlier download or by
`crowdnest export --refresh-stale` while it is younger than `export.max_age` seconds; the
others' zips live `export.pro_max_age` seconds, 0 (the default) meaning built for every
download. Drafts are always built: only their owners export them, and their data are tests.

A zip is stored as `<export.dir>/<project id>/<short_name>_<type>_<format>.zip`, written to a
temporary file beside it while it streams and renamed over it once complete: a reader never
sees half a file, and two builds of one export at once simply both rename. A file's
modification time is when its build began, before its rows were read: its age is its data's.
"""

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from sqlalchemy import select

from core.db import get_engine
from core.inputs import ascii_digits
from core.models import Project, User
from core.plugins import get_plugin_manager
from core.services import pro
from core.services.export import FORMATS, TYPES, ExportTarget, export_zip

log = logging.getLogger(__name__)

FEATURE = "updated_exports"
TEMP_SUFFIX = ".part"
# Files in export.dir that no project needs are removed by the refresh once this old (seconds):
# a temporary file being written is younger, since every chunk written touches it.
ORPHAN_AGE = 3600


def gets_updated_exports(settings: dict, owner_pro: bool | None) -> bool:
    """Whether a project's exports follow `updated_exports` (core.services.pro), for any caller
    but an admin: the rule is about the project, so its primary owner decides."""
    return pro.enabled(settings, FEATURE, owner_pro=owner_pro)


def max_age(settings: dict, updated: bool) -> int:
    """Seconds a stored zip may be served; 0 means built for every download (`updated` only
    when updated_exports is on: its plugin declares export.pro_max_age)."""
    return settings["export.pro_max_age"] if updated else settings["export.max_age"]


def stored_path(export_dir: str, target: ExportTarget) -> str:
    return os.path.join(export_dir, str(target.project_id), target.zip_name)


def iso_time(epoch: float) -> str:
    """An epoch in the models' timestamp format (ISO 8601, UTC, no offset)."""
    moment = datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


@dataclass
class StoredExport:
    """A stored zip, opened: `built` is when its build began (epoch seconds)."""

    file: BinaryIO
    size: int
    built: float


def stored_time(export_dir: str, target: ExportTarget) -> float | None:
    """When the stored zip of `target` was built (epoch seconds); None when there is none."""
    try:
        return os.stat(stored_path(export_dir, target)).st_mtime
    except OSError:
        return None


def stored_age(export_dir: str, target: ExportTarget, now: float | None = None) -> float | None:
    """Seconds since the stored zip of `target` was built; None when there is none."""
    built = stored_time(export_dir, target)
    if built is None:
        return None
    return (time.time() if now is None else now) - built


def open_fresh(
    export_dir: str, target: ExportTarget, limit: int, now: float | None = None
) -> StoredExport | None:
    """The stored zip of `target`, opened, if it is younger than `limit` seconds."""
    if limit <= 0:
        return None
    try:
        stored = open(stored_path(export_dir, target), "rb")
    except OSError:
        return None
    # Judged on the opened file: a rename over it from now on does not change what is sent.
    status = os.fstat(stored.fileno())
    if (time.time() if now is None else now) - status.st_mtime >= limit:
        stored.close()
        return None
    return StoredExport(stored, status.st_size, status.st_mtime)


def store_while_streaming(
    export_dir: str, target: ExportTarget, chunks: Iterable[bytes]
) -> Generator[bytes, None, bool]:
    """The chunks, also written to the stored zip of `target` once they are all through.

    The stream never fails because of the store: a file that cannot be written is logged and
    left out. A stream stopped early (the client went away, the export failed) stores nothing.
    Returns (StopIteration.value) whether the zip was stored.
    """
    started = time.time()
    temporary = _temporary_file(export_dir, target)
    try:
        for chunk in chunks:
            if temporary is not None:
                temporary = _write(temporary, chunk)
            yield chunk
        if temporary is None:
            return False
        stored = _install(temporary, stored_path(export_dir, target), started)
        temporary = None
        return stored
    finally:
        if temporary is not None:
            _discard(temporary)
        close = getattr(chunks, "close", None)
        if close is not None:
            # The export's own connection goes back at once, not when the generator is freed.
            close()


def build(
    engine,
    export_dir: str,
    target: ExportTarget,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Build and store the zip of `target` now; the number of bytes stored (0 if it failed)."""
    written = 0
    chunks = export_zip(engine, target, batch_size, progress)
    stream = store_while_streaming(export_dir, target, chunks)
    while True:
        try:
            written += len(next(stream))
        except StopIteration as end:
            return written if end.value else 0


def remove_project(export_dir: str, project_id: int) -> None:
    """Forget every stored zip of a project (once it is deleted)."""
    shutil.rmtree(os.path.join(export_dir, str(project_id)), ignore_errors=True)


# --- writing a zip beside the stored one ---------------------------------------------------------


@dataclass
class _Temporary:
    path: str
    file: BinaryIO


def _temporary_file(export_dir: str, target: ExportTarget) -> _Temporary | None:
    folder = os.path.dirname(stored_path(export_dir, target))
    try:
        os.makedirs(folder, exist_ok=True)
        handle, path = tempfile.mkstemp(prefix=".", suffix=TEMP_SUFFIX, dir=folder)
    except OSError:
        log.exception("cannot store exports under %s", folder)
        return None
    return _Temporary(path, os.fdopen(handle, "wb"))


def _write(temporary: _Temporary, chunk: bytes) -> _Temporary | None:
    try:
        temporary.file.write(chunk)
    except OSError:
        log.exception("cannot write the stored export %s", temporary.path)
        _discard(temporary)
        return None
    return temporary


def _install(temporary: _Temporary, path: str, built: float) -> bool:
    try:
        temporary.file.flush()
        # On disk before the rename makes it visible: a crash never leaves an empty zip.
        os.fsync(temporary.file.fileno())
        temporary.file.close()
        os.utime(temporary.path, (built, built))
        os.replace(temporary.path, path)
    except OSError:
        log.exception("cannot store the export %s", path)
        _discard(temporary)
        return False
    return True


def _discard(temporary: _Temporary) -> None:
    temporary.file.close()
    try:
        os.remove(temporary.path)
    except OSError:
        pass


# --- the refresh: `crowdnest export --refresh-stale`, or the job ---------------------------------


@dataclass
class RefreshReport:
    """What a refresh did: exports rebuilt, found fresh, failed; orphan files removed."""

    rebuilt: list[str] = field(default_factory=list)
    fresh: int = 0
    failed: list[str] = field(default_factory=list)
    removed: int = 0

    @property
    def summary(self) -> str:
        return (
            f"refresh: {len(self.rebuilt)} export(s) rebuilt, {self.fresh} fresh, "
            f"{len(self.failed)} failed, {self.removed} old file(s) removed"
        )


def stored_projects(engine, settings: dict) -> list[tuple[int, str, int]]:
    """(id, short_name, max age) of every published project whose exports are stored."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(Project.id, Project.short_name, User.pro)
            .outerjoin(User, User.id == Project.owner_id)
            .where(Project.published)
            .order_by(Project.id)
        ).all()
    found = []
    for project_id, short_name, owner_pro in rows:
        limit = max_age(settings, gets_updated_exports(settings, owner_pro))
        if limit > 0:
            found.append((project_id, short_name, limit))
    return found


def refresh_stale(
    settings: dict,
    interval: int = 0,
    missing: bool = False,
    now: float | None = None,
    say: Callable[[str], None] = log.info,
) -> RefreshReport:
    """Rebuild every stored export that is older than its max age or will be `interval`
    seconds from now (the time to the next run); with `missing`, also the ones never stored.

    Then remove the files no project needs any more (deleted projects, renamed ones, exports
    that are built live now, temporary files left by a killed process). `say` gets a line per
    export rebuilt.
    """
    now = time.time() if now is None else now
    # The enabled plugins' settings (export.pro_max_age is updated_exports'): a command's or
    # a test's settings come straight from the .ini.
    get_plugin_manager(settings)
    export_dir = settings["export.dir"]
    report = RefreshReport()
    # DEFERRED: long reads must not hold SQLite's write lock.
    engine = get_engine(settings, sqlite_begin="DEFERRED")
    try:
        projects = stored_projects(engine, settings)
        for project_id, short_name, limit in projects:
            for kind in TYPES:
                for fmt in FORMATS:
                    target = ExportTarget(project_id, short_name, kind, fmt)
                    age = stored_age(export_dir, target, now)
                    if age is None and not missing:
                        continue
                    if age is not None and age + interval < limit:
                        report.fresh += 1
                        continue
                    _rebuild(engine, settings, target, age, report, say)
    finally:
        engine.dispose()
    report.removed = sweep(export_dir, projects, now)
    return report


def _rebuild(engine, settings, target: ExportTarget, age, report: RefreshReport, say) -> None:
    name = f"{target.short_name} {target.type} {target.format}"
    started = time.monotonic()
    try:
        written = build(engine, settings["export.dir"], target, settings["export.batch_size"])
    except Exception:
        log.exception("export %s failed", name)
        written = 0
    if not written:
        report.failed.append(name)
        say(f"{name}: failed")
        return
    was = "never stored" if age is None else f"stored {age / 3600:.1f} h ago"
    seconds = time.monotonic() - started
    say(f"{name}: rebuilt ({was}), {written / (1024 * 1024):.1f} MiB in {seconds:.1f} s")
    report.rebuilt.append(name)


def sweep(export_dir: str, projects: list[tuple[int, str, int]], now: float) -> int:
    """Remove the zips (and temporary files) no project in `projects` needs; how many.

    Only what this module writes is looked at: `<digits>/<name>.zip` and `<digits>/.*.part`,
    so a mistaken export.dir never loses anything else.
    """
    wanted = {
        (str(project_id), ExportTarget(project_id, short_name, kind, fmt).zip_name)
        for project_id, short_name, _ in projects
        for kind in TYPES
        for fmt in FORMATS
    }
    kept_folders = {str(project_id) for project_id, _, _ in projects}
    removed = 0
    try:
        folders = [name for name in os.listdir(export_dir) if ascii_digits(name)]
    except OSError:
        return removed
    for folder in folders:
        path = os.path.join(export_dir, folder)
        try:
            names = os.listdir(path)
        except OSError:
            continue
        for name in names:
            ours = name.endswith(".zip") or (name.startswith(".") and name.endswith(TEMP_SUFFIX))
            if not ours or (folder, name) in wanted:
                continue
            try:
                if now - os.stat(os.path.join(path, name)).st_mtime >= ORPHAN_AGE:
                    os.remove(os.path.join(path, name))
                    removed += 1
            except OSError:
                continue
        if folder not in kept_folders:
            try:
                # Only when empty: a build may be writing there right now.
                os.rmdir(path)
            except OSError:
                pass
    return removed


def refresh_stale_job(settings: dict, interval: int = 0, missing: bool = False) -> None:
    """The refresh as a background job (core/jobs.py): `crowdnest export --refresh-stale
    --enqueue`, or jobs.enqueue(settings, refresh_stale_job, queue=settings["export.queue"])."""
    report = refresh_stale(settings, interval=interval, missing=missing)
    log.info("%s", report.summary)
