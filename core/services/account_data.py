"""An account's own data: the personal-data export (GDPR) and self-service deletion.

Domain code: knows nothing of HTTP. Both run as background jobs (core.jobs: RQ when Redis is
configured, in-process otherwise) and mail the account's address once their work is committed.

The export holds what the account may see of itself and what it made: its account fields
(never the password hash, the API key, the CKAN key nor the session epoch), the projects it
owns or co-owns (without `info` and secret keys, which co-owners share with others), its task
runs and its favourites, each as JSON and as CSV (cells neutralised, decision 20), in one zip.

Deletion keeps everything but the person: the account's task runs stay, re-attributed to a
random anonymous pseudonym (an IP-shaped one, as anonymous answers carry), so task states,
results and counts are unchanged; favourites and co-ownerships go; blog posts and
announcements lose their author. An account that is still the primary owner of a project is
not deleted (nothing else may be lost): it transfers or deletes those projects first.
"""

import csv
import io
import logging
import secrets
import zipfile

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from core.errors import DomainError
from core.jobs import database
from core.mail import send_now
from core.models import (
    Favorite,
    Project,
    ProjectOwner,
    TaskRequest,
    TaskRun,
    User,
)
from core.plugins import get_plugin_manager, schedulers_of
from core.security import pseudonymise_ip
from core.services import auditlog
from core.services.answers import participant_key
from core.services.export import csv_cell, neutralise
from core.services.scheduling import applied

log = logging.getLogger(__name__)

ACCOUNT_FIELDS = (
    "id",
    "name",
    "fullname",
    "email_addr",
    "created",
    "locale",
    "admin",
    "pro",
    "privacy_mode",
    "restrict",
    "valid_email",
    "subscribed",
    "consent",
    "ldap",
    "info",
    "user_pref",
)
PROJECT_FIELDS = (
    "id",
    "short_name",
    "name",
    "description",
    "long_description",
    "created",
    "updated",
    "published",
    "category_id",
    "owner_id",
)
TASK_RUN_FIELDS = (
    "id",
    "project_id",
    "task_id",
    "created",
    "finish_time",
    "external_uid",
    "media_url",
    "info",
)
# What the admins' export of every account holds (behavior.md 9.8): no credential.
USERS_EXPORT_FIELDS = (
    "id",
    "name",
    "fullname",
    "email_addr",
    "created",
    "locale",
    "admin",
    "consent",
    "restrict",
)
PSEUDONYM_ATTEMPTS = 3
STILL_OWNER = "You still own projects: transfer or delete them first"


def _rows(db, statement, fields) -> list[dict]:
    return [{field: getattr(row, field) for field in fields} for row in db.scalars(statement)]


def personal_data(db, user: User) -> dict[str, list[dict]]:
    """The account's own data by part: account, projects, task_runs, favorites."""
    owned = select(ProjectOwner.project_id).where(ProjectOwner.user_id == user.id)
    projects = select(Project).where(Project.id.in_(owned)).order_by(Project.id)
    runs = select(TaskRun).where(TaskRun.user_id == user.id).order_by(TaskRun.id)
    favorites = select(Favorite).where(Favorite.user_id == user.id).order_by(Favorite.task_id)
    return {
        "account": [{field: getattr(user, field) for field in ACCOUNT_FIELDS}],
        "projects": _rows(db, projects, PROJECT_FIELDS),
        "task_runs": _rows(db, runs, TASK_RUN_FIELDS),
        "favorites": _rows(db, favorites, ("task_id", "created")),
    }


def csv_bytes(records: list[dict]) -> bytes:
    """The records as CSV (header from the first), every cell neutralised (decision 20)."""
    header = list(records[0]) if records else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(name) for name in header])
    for record in records:
        writer.writerow([csv_cell(record[name]) for name in header])
    return buffer.getvalue().encode()


def personal_zip(name: str, data: dict[str, list[dict]]) -> bytes:
    """The zip of the export: `<name>_<part>.json` and `.csv` for each part."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for part, records in data.items():
            archive.writestr(f"{name}_{part}.json", orjson.dumps(records))
            archive.writestr(f"{name}_{part}.csv", csv_bytes(records))
    return buffer.getvalue()


def all_accounts(db) -> list[dict]:
    """Every account, for the admins' export: USERS_EXPORT_FIELDS only, in id order."""
    return _rows(db, select(User).order_by(User.id), USERS_EXPORT_FIELDS)


def primary_projects(db, user: User) -> list[str]:
    """Short names of the projects whose primary owner is the account."""
    return list(db.scalars(select(Project.short_name).where(Project.owner_id == user.id)))


def check_deletable(db, user: User) -> None:
    """Refuse to delete an account that is still a project's primary owner."""
    if primary_projects(db, user):
        raise DomainError("Conflict", STILL_OWNER)


def delete_account(db, user: User, pseudonym_key: str, gates=()) -> int:
    """Delete the account, its answers kept under a fresh pseudonym; the runs re-attributed.
    `gates`: the enabled schedulers' AnswerGates, each forgetting what it holds for it."""
    check_deletable(db, user)
    moved = _reattribute_runs(db, user, pseudonym_key)
    db.execute(delete(Favorite).where(Favorite.user_id == user.id))
    # The account's pending requests and what schedulers hold for it (`locked`'s reservations)
    # no longer keep tasks for anybody.
    participant = participant_key(user.id, None, None)
    db.execute(delete(TaskRequest).where(TaskRequest.participant == participant))
    for gate in gates:
        gate.forget(db, participant)
    coowned = select(ProjectOwner.project_id).where(ProjectOwner.user_id == user.id)
    for project in db.scalars(select(Project).where(Project.id.in_(coowned))):
        before = list(project.owners_ids)
        project.set_owners([owner for owner in before if owner != user.id])
        # Every change of owners_ids is audit-logged (decision 23).
        auditlog.record_owner_deleted(db, project, user, before)
    db.flush()
    db.delete(user)
    db.flush()
    return moved


def _reattribute_runs(db, user: User, pseudonym_key: str) -> int:
    """Move the account's runs to a random pseudonym, one no anonymous run of theirs holds."""
    for _attempt in range(PSEUDONYM_ATTEMPTS):
        # A random pseudonym of its own: unlinkable to the account, to any address, to other
        # deleted accounts. The keyed hash keeps the look (and width) of anonymous answers' IPs.
        pseudonym = pseudonymise_ip(f"deleted:{secrets.token_hex(16)}", pseudonym_key)
        try:
            with db.begin_nested():
                return db.execute(
                    update(TaskRun)
                    .where(TaskRun.user_id == user.id)
                    .values(user_id=None, user_ip=pseudonym)
                    .execution_options(synchronize_session=False)
                ).rowcount
        except IntegrityError:
            # An anonymous answer to one of the same tasks has that pseudonym (1 in 2^32).
            continue
    raise DomainError("DBIntegrityError", "No free pseudonym for the account's answers")


# --- the jobs ----------------------------------------------------------------------------------


def export_account_job(settings: dict, user_id: int) -> None:
    """Build the account's export and mail it to the account's address as a zip."""
    with database(settings) as db:
        user = db.get(User, user_id)
        if user is None:
            return
        archive = personal_zip(user.name, personal_data(db, user))
        address, fullname, name = user.email_addr, user.fullname, user.name
    text = (
        f"Hello {fullname},\n\nAttached is a copy of your data on {settings['brand']}: your "
        "account, your projects, your answers and your favourites, as JSON and CSV files.\n"
    )
    send_now(
        settings,
        address,
        "Your personal data",
        text,
        attachment=(f"{name}_personal_data.zip", "application/zip", archive),
    )


def answer_gates(settings: dict) -> set:
    """The AnswerGates of the schedulers these settings enable (Scheduler.answers)."""
    schedulers = applied(schedulers_of(get_plugin_manager(settings))).values()
    return {scheduler.answers for scheduler in schedulers} - {None}


def delete_account_job(settings: dict, user_id: int) -> None:
    """Delete the account (see delete_account) and tell its address once it is gone."""
    with database(settings) as db:
        user = db.get(User, user_id)
        if user is None:
            return
        address, fullname = user.email_addr, user.fullname
        try:
            moved = delete_account(db, user, settings["ip.pseudonym_key"], answer_gates(settings))
        except DomainError as error:
            # Made a project's primary owner since asking: kept, and told why.
            refused = error.message
        else:
            refused = None
    if refused is not None:
        log.warning("account %s not deleted: %s", user_id, refused)
        text = f"Hello {fullname},\n\nYour account could not be deleted: {refused}.\n"
        send_now(settings, address, "Your account is not deleted", text)
        return
    log.info("account %s deleted; %s task runs kept anonymously", user_id, moved)
    text = (
        f"Hello {fullname},\n\nYour account on {settings['brand']} is deleted. Your answers "
        "stay with the projects you helped, no longer linked to you.\n"
    )
    send_now(settings, address, "Your account is deleted", text)
