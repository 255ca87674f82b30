"""Who may create, read, update and delete each domain object (one ownership model).

Domain code: knows nothing of HTTP. `owners_ids` (primary owner plus co-owners) is the only
notion of ownership, for every object that belongs to a project.
"""

from sqlalchemy import exists, false, or_, select, true

from core.models import (
    Announcement,
    Blogpost,
    Category,
    HelpingMaterial,
    Page,
    Project,
    ProjectStats,
    Result,
    Task,
    TaskRun,
    User,
)
from core.models.clauses import owned_project_ids


def is_admin(user) -> bool:
    return user is not None and bool(user.admin)


def owns(user, project) -> bool:
    return user is not None and project is not None and user.id in project.owners_ids


def owns_or_admin(user, project) -> bool:
    return is_admin(user) or owns(user, project)


def project_readable(user, project) -> bool:
    """Published projects are everyone's; drafts, and all they hold, their owners' and
    admins' (decision 24)."""
    return project is not None and (bool(project.published) or owns_or_admin(user, project))


def _project_of(db, obj):
    return db.get(Project, obj.project_id) if obj.project_id is not None else None


def _latest_result_run_ids(db, task_id) -> list[int]:
    ids = db.scalars(
        select(Result.task_run_ids).where(Result.task_id == task_id, Result.last_version)
    ).first()
    return ids or []


def can(db, user, action: str, obj) -> bool:
    """May `user` (None = anonymous) do `action` (create|read|update|delete) on `obj`?"""
    model = type(obj)
    if model is Project:
        if action == "create":
            return user is not None
        if action == "read":
            return project_readable(user, obj)
        return owns_or_admin(user, obj)
    if model in (Category, Announcement):
        if action == "read":
            return model is Category or bool(obj.published) or is_admin(user)
        return is_admin(user)
    if model is Task:
        project = _project_of(db, obj)
        if action == "read":
            return project_readable(user, project)
        if action == "delete" and not is_admin(user):
            has_result = db.scalar(select(exists().where(Result.task_id == obj.id)))
            return owns(user, project) and not has_result
        return owns_or_admin(user, project)
    if model is TaskRun:
        if action == "read":
            return project_readable(user, _project_of(db, obj))
        if action == "create":
            return True  # the task-run service applies its own, ordered rules
        if user is None:
            return False
        if obj.id is not None and obj.id in _latest_result_run_ids(db, obj.task_id):
            return False
        if obj.user_id is None:
            return is_admin(user)
        return is_admin(user) or obj.user_id == user.id
    if model is Result:
        if action == "read":
            return project_readable(user, _project_of(db, obj))
        if action == "update":
            return owns_or_admin(user, _project_of(db, obj))
        return False
    if model is User:
        if action == "read":
            return not obj.restrict or (user is not None and user.id == obj.id)
        if action == "update":
            return user is not None and (user.id == obj.id or user.admin)
        return False
    if model is Blogpost:
        project = _project_of(db, obj)
        if action == "read":
            visible = bool(obj.published) and project is not None and bool(project.published)
            return visible or owns_or_admin(user, project)
        return owns_or_admin(user, project)
    if model in (HelpingMaterial, Page):
        project = _project_of(db, obj)
        if action == "read":
            return project_readable(user, project)
        return owns_or_admin(user, project)
    if model is ProjectStats:
        return action == "read" and project_readable(user, _project_of(db, obj))
    return False


def readable_clause(model, user):
    """The SQL form of can(read) for lists, so a page holds exactly `limit` readable items."""
    if model is User:
        # Restricted users are never listed, not even to admins.
        return User.restrict == false()
    if is_admin(user):
        return true()
    owned = owned_project_ids(user) if user is not None else None
    published = select(Project.id).where(Project.published)
    if model is Project:
        clause = Project.published
        return or_(clause, Project.id.in_(owned)) if owned is not None else clause
    if model is Announcement:
        return Announcement.published
    if model is Blogpost:
        clause = Blogpost.published & Blogpost.project_id.in_(published)
        return or_(clause, Blogpost.project_id.in_(owned)) if owned is not None else clause
    if model in (HelpingMaterial, Page, Task, TaskRun, Result, ProjectStats):
        clause = model.project_id.in_(published)
        return or_(clause, model.project_id.in_(owned)) if owned is not None else clause
    return true()
