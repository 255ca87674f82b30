"""The autoimporter: a project's importer form, stored, re-run on a schedule for new items only.

Domain code: knows nothing of HTTP. The owner saves an importer's form in
`project.info["autoimporter"]` ({"type": importer name, <field>: <value>...}, see
core/web/autoimporter.py); `run_autoimports(settings)`, called by `crowdnest autoimport` (cron,
or its --loop), imports every such project's source again. `import_tasks` skips the records
whose `info` a task already has, so only new items become tasks. Each project runs in a
transaction of its own and records its outcome in `info["autoimporter"]["last_run"]`: one
project's failure neither stops the others nor leaves half an import.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice

from sqlalchemy import select

from core.db import utcnow
from core.jobs import database
from core.models import Project, User
from core.plugins import get_plugin_manager
from core.services import pro
from core.services.importer import ImporterError, enabled_importers, import_tasks

log = logging.getLogger(__name__)

INFO_KEY = "autoimporter"
FEATURE = "autoimporter"
# How many records the form's dry read pulls: enough to prove the source answers and parses.
DRY_READ_RECORDS = 5
UNEXPECTED = "The import failed unexpectedly."


@dataclass
class AutoimportOutcome:
    """One project's run: the figures, or the error that left its tasks unchanged."""

    project_id: int
    short_name: str
    created: int = 0
    skipped: int = 0
    error: str | None = None


# --- Which importers and which owners ----------------------------------------------------------


def schedulable(importer) -> bool:
    """An importer can be re-run when a field other than an upload names its source.

    An uploaded file cannot be read again later, so "file" fields are left out of the stored
    form; an importer may also opt out with `schedulable = False`.
    """
    if not getattr(importer, "schedulable", True):
        return False
    return any(field.kind != "file" for field in importer.fields)


def schedulable_importers(importers: dict) -> dict:
    """The subset of {name: importer} the autoimporter offers, in the same order."""
    return {name: importer for name, importer in importers.items() if schedulable(importer)}


def stored_fields(importer) -> list[str]:
    """The importer's fields an autoimporter keeps (every one but uploads)."""
    return [field.name for field in importer.fields if field.kind != "file"]


def owner_may_autoimport(settings: dict, owner: User | None) -> bool:
    """Whether the primary owner may have an autoimporter (it imports on their behalf)."""
    return pro.enabled(settings, FEATURE, caller=owner)


def autoimporter_of(project: Project) -> dict | None:
    return (project.info or {}).get(INFO_KEY)


def _values(importer, stored: dict) -> dict:
    """The form values an importer's `records` expects: stored text, no upload."""
    return {field.name: stored.get(field.name) for field in importer.fields}


# --- The owner's form --------------------------------------------------------------------------


def check_source(importer, values: dict, settings: dict) -> None:
    """Read the first records of the source, or raise ImporterError: nothing is imported."""
    records = importer.records(_values(importer, values), settings)
    try:
        list(islice(records, DRY_READ_RECORDS))
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()


def set_autoimporter(project: Project, importer, values: dict) -> dict:
    """Store the importer's form (a new source forgets the previous source's last run)."""
    stored = {"type": importer.name}
    stored.update({name: values.get(name) for name in stored_fields(importer)})
    project.info = {**(project.info or {}), INFO_KEY: stored}
    return stored


def remove_autoimporter(project: Project) -> bool:
    """Forget the project's autoimporter; False when it had none."""
    info = dict(project.info or {})
    if INFO_KEY not in info:
        return False
    del info[INFO_KEY]
    project.info = info
    return True


def clear_autoimporter(project: Project) -> bool:
    """Set the project's autoimporter to None (the audit log sees the change); False if none."""
    if not autoimporter_of(project):
        return False
    project.info = {**project.info, INFO_KEY: None}
    return True


# --- The schedule ------------------------------------------------------------------------------


def _record_run(project: Project, outcome: AutoimportOutcome) -> None:
    stored = autoimporter_of(project)
    if stored is None:
        return
    last_run = {
        "time": utcnow(),
        "created": outcome.created,
        "skipped": outcome.skipped,
        "error": outcome.error,
    }
    project.info = {**project.info, INFO_KEY: {**stored, "last_run": last_run}}


def _projects_with_autoimporter(db) -> list[int]:
    # Filtered in Python: a JSON key test reads differently on SQLite and PostgreSQL, and only
    # the ids and the one key are kept.
    rows = db.execute(select(Project.id, Project.info).order_by(Project.id)).yield_per(500)
    return [project_id for project_id, info in rows if (info or {}).get(INFO_KEY)]


def _import_one(db, settings: dict, importers: dict, project: Project) -> AutoimportOutcome:
    """Run the project's autoimporter in `db`'s transaction; ImporterErrors become the outcome."""
    outcome = AutoimportOutcome(project.id, project.short_name)
    stored = autoimporter_of(project)
    importer = importers.get(stored.get("type"))
    try:
        if importer is None or not schedulable(importer):
            raise ImporterError(f"The importer {stored.get('type')!r} is not available any more.")
        records = importer.records(_values(importer, stored), settings)
        report = import_tasks(db, project, records)
    except ImporterError as error:
        outcome.error = error.message
    else:
        outcome.created, outcome.skipped = report.created, report.skipped
    _record_run(project, outcome)
    return outcome


def run_project(settings: dict, importers: dict, project_id: int) -> AutoimportOutcome | None:
    """One project's autoimport in a transaction of its own; None when it is not due to run."""
    try:
        with database(settings) as db:
            # Row-locked (PostgreSQL) so two overlapping runs never import the same items twice:
            # the second one skips a project the first one is importing.
            project = db.scalars(
                select(Project).where(Project.id == project_id).with_for_update(skip_locked=True)
            ).first()
            if project is None or not autoimporter_of(project):
                return None
            if not owner_may_autoimport(settings, db.get(User, project.owner_id)):
                return None
            return _import_one(db, settings, importers, project)
    except Exception:
        # The transaction was rolled back: record the failure in a new one.
        log.exception("autoimport of project %s failed", project_id)
        with database(settings) as db:
            project = db.get(Project, project_id)
            if project is None:
                return None
            outcome = AutoimportOutcome(project.id, project.short_name, error=UNEXPECTED)
            _record_run(project, outcome)
            return outcome


def run_autoimports(
    settings: dict, project_ids: Iterable[int] | None = None
) -> list[AutoimportOutcome]:
    """Run the autoimporter of every project that has one and whose owner may use it; none
    when the feature is switched off.

    `project_ids` limits the run to those projects. Returns one outcome per project run.
    """
    if not pro.switched_on(settings, FEATURE):
        # The feature's plugin is not in plugins.pro: its job does not run.
        return []
    importers = enabled_importers(get_plugin_manager(settings))
    if project_ids is None:
        with database(settings) as db:
            project_ids = _projects_with_autoimporter(db)
    outcomes = []
    for project_id in project_ids:
        try:
            outcome = run_project(settings, importers, project_id)
        except Exception:
            # Even recording the failure failed (the database went away?): go on with the next.
            log.exception("could not record the failed autoimport of project %s", project_id)
            continue
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes
