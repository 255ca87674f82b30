"""The audit log of project changes (behavior.md 1.12): one row per changed attribute.

Domain code: knows nothing of HTTP beyond reading who the caller is and which door they used.
"""

import json

from sqlalchemy import func, select

from core.models import Auditlog, Project

SECRET_INFO = {"passwd_hash"}
COLUMNS = [c.key for c in Project.__table__.columns if c.key not in ("updated", "secret_key")]


def _text(value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _caller(request) -> str:
    return "api" if request.path.startswith("/api") else "web"


def _row(request, project, action, attribute, old, new) -> Auditlog:
    user = request.user
    return Auditlog(
        project_id=project.id,
        project_short_name=project.short_name,
        user_id=user.id if user else None,
        user_name=user.name if user else None,
        action=action,
        caller=_caller(request),
        attribute=attribute,
        old_value=_text(old),
        new_value=_text(new),
    )


def snapshot(project: Project) -> dict:
    """The values an update is compared against."""
    data = {key: getattr(project, key) for key in COLUMNS}
    data["info"] = dict(project.info or {})
    return data


def record_create(db, request, project: Project) -> None:
    db.add(_row(request, project, "create", "project", None, project.short_name))


def record_delete(db, request, project: Project) -> None:
    db.add(_row(request, project, "delete", "project", project.short_name, None))


def record_update(db, request, project: Project, before: dict) -> None:
    after = snapshot(project)
    for key in COLUMNS:
        if key != "info" and before[key] != after[key]:
            db.add(_row(request, project, "update", key, before[key], after[key]))
    old_info, new_info = before["info"], after["info"]
    for key, value in new_info.items():
        if key in SECRET_INFO:
            continue
        if old_info.get(key) != value:
            db.add(_row(request, project, "update", key, old_info.get(key), value))


def record_owners(db, request, project: Project, before: list[int]) -> None:
    """One row when a co-owner was added or removed: the owner ids before and after."""
    after = list(project.owners_ids)
    if sorted(before) != sorted(after):
        db.add(_row(request, project, "update", "owners_ids", before, after))


def record_value(db, request, project: Project, attribute: str, old, new) -> None:
    """One "update" row for a change that is not a project column: the tasks' n_answers or
    priority_0 (old "N/A" when they differed from task to task, as PYBOSSA writes it)."""
    db.add(_row(request, project, "update", attribute, old, new))


def record_owner_deleted(db, project: Project, user, before: list[int]) -> None:
    """The row of a co-owner leaving with their deleted account (a job: no request)."""
    db.add(
        Auditlog(
            project_id=project.id,
            project_short_name=project.short_name,
            user_id=user.id,
            user_name=user.name,
            action="update",
            caller="web",
            attribute="owners_ids",
            old_value=_text(before),
            new_value=_text(list(project.owners_ids)),
        )
    )


def count_for(db, project_id: int) -> int:
    return db.scalar(
        select(func.count()).select_from(Auditlog).where(Auditlog.project_id == project_id)
    )


def page_for(db, project_id: int, limit: int, offset: int) -> list[Auditlog]:
    """A project's rows, newest first."""
    return list(
        db.scalars(
            select(Auditlog)
            .where(Auditlog.project_id == project_id)
            .order_by(Auditlog.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
