"""Projects: the rules shared by the API and the web pages.

Domain code: knows nothing of HTTP.
"""

import html
import re
import uuid

from sqlalchemy import delete, exists, func, null, select, update

from core.models import (
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
    WebhookDelivery,
)
from core.models.category import DEFAULT_CATEGORY
from core.passwords import hash_password
from core.services import stats, uploads
from core.services.query import participant_clause

# Short names that would shadow a route.
RESERVED_SHORT_NAMES = {"new", "category", "page", "search", "static", "api"}
DESCRIPTION_LENGTH = 255
TAGS = re.compile(r"<[^>]*>")
MARKUP = re.compile(r"[#*_`>\[\]]+")


def publish_blocker(db, project: Project, presenter_disabled: bool) -> str | None:
    """Why the project cannot be published yet, or None."""
    if not presenter_disabled and not (project.info or {}).get("task_presenter"):
        return "You must add a task presenter before publishing the project"
    if db.scalar(select(Task.id).where(Task.project_id == project.id).limit(1)) is None:
        return "You must add at least one task before publishing the project"
    return None


def publish(db, project: Project) -> None:
    """Publish and forget the draft answers (they were tests)."""
    # The tasks first: their row locks wait for the answers in flight, and the deletions'
    # later snapshots then see those answers (else a run stays with its task's count at 0).
    db.execute(
        update(Task)
        .where(Task.project_id == project.id)
        .values(state="ongoing", n_task_runs=0)
        .execution_options(synchronize_session=False)
    )
    for model in (Result, TaskRun, WebhookDelivery):
        db.execute(
            delete(model)
            .where(model.project_id == project.id)
            .execution_options(synchronize_session=False)
        )
    project.published = True
    db.flush()
    stats.recompute(db, project.id)


def default_category_id(db) -> int:
    """The first category; a fresh site gets one so that projects can be created at once."""
    category_id = db.scalar(select(Category.id).order_by(Category.id).limit(1))
    if category_id is None:
        category = Category(**DEFAULT_CATEGORY)
        db.add(category)
        db.flush()
        category_id = category.id
    return category_id


def only_category_left(db) -> bool:
    """True when at most one category remains: projects need one, so it cannot be deleted."""
    return db.scalar(select(func.count()).select_from(Category)) <= 1


def derive_description(long_description: str | None) -> str:
    """A plain-text description from the long one: tags and markup dropped, 255 characters."""
    text = MARKUP.sub("", TAGS.sub(" ", html.unescape(long_description or "")))
    return " ".join(text.split())[:DESCRIPTION_LENGTH]


def create_project(db, owner: User, values: dict) -> Project:
    """A draft project owned by `owner`, with its (empty) figures row."""
    project = Project(
        name=values["name"],
        short_name=values["short_name"],
        description=values.get("description") or derive_description(values["long_description"]),
        long_description=values.get("long_description") or "",
        category_id=values.get("category_id") or default_category_id(db),
        owner_id=owner.id,
        published=False,
        info={},
    )
    db.add(project)
    db.flush()
    project.set_owners([])
    db.add(ProjectStats(project_id=project.id))
    db.flush()
    return project


def stored_files(db, project: Project, upload_dir: str) -> list[str]:
    """Paths of every file the project's objects uploaded (to remove once it is deleted); a file
    counts only in the container its uploader's files go to (see uploads.stored_file)."""
    paths = []
    info = project.info or {}
    owners = {f"user_{owner_id}" for owner_id in project.owners_ids}
    for name in {info.get("avatar"), info.get("thumbnail")}:
        path = uploads.owned_path(upload_dir, info.get("container"), name, owners)
        if path:
            paths.append(path)
    admins = set(db.scalars(select(User.id).where(User.admin)))
    for model in (Blogpost, HelpingMaterial, Page, TaskRun):
        paths.extend(_files_of(db, model, project, upload_dir, owners, admins))
    return paths


def answer_files(db, project: Project, upload_dir: str, *where) -> list[str]:
    """Paths of the files the project's answers matching `where` uploaded (to remove once they
    are deleted)."""
    owners = {f"user_{owner_id}" for owner_id in project.owners_ids}
    admins = set(db.scalars(select(User.id).where(User.admin)))
    return _files_of(db, TaskRun, project, upload_dir, owners, admins, *where)


def _files_of(db, model, project, upload_dir, owners, admins, *where) -> list[str]:
    """The files rows of `model` uploaded, each in the container its uploader's files go to."""
    recorded = "user_id" in model.__table__.columns
    rows = db.execute(
        select(model.info, model.user_id if recorded else null())
        .where(model.project_id == project.id, *where)
        .execution_options(yield_per=1000)
    )
    paths = []
    for row_info, user_id in rows:
        if not recorded:
            containers = owners
        else:
            containers = uploads.uploader_containers(user_id, user_id in admins, project.owner_id)
        path = uploads.path_of(upload_dir, row_info, containers)
        if path:
            paths.append(path)
    return paths


def delete_project(db, project: Project) -> None:
    """Delete the project; its tasks, answers, results, posts and figures go with it."""
    # Bulk deletes first: cheaper than the ORM walking 100,000 tasks, and the same on every
    # database whether or not it enforces ON DELETE CASCADE.
    for model in (
        Result,
        TaskRun,
        Task,
        WebhookDelivery,
        Blogpost,
        HelpingMaterial,
        Page,
        ProjectStats,
    ):
        db.execute(
            delete(model)
            .where(model.project_id == project.id)
            .execution_options(synchronize_session=False)
        )
    db.delete(project)
    db.flush()


def reset_secret_key(project: Project) -> str:
    project.secret_key = str(uuid.uuid4())
    return project.secret_key


def is_protected(project: Project) -> bool:
    return bool((project.info or {}).get("passwd_hash"))


def set_password(project: Project, password: str | None) -> None:
    """Protect the project with a password (stored hashed), or remove the protection."""
    info = dict(project.info or {})
    if password:
        info["passwd_hash"] = hash_password(password)
    else:
        info.pop("passwd_hash", None)
    project.info = info


def set_avatar(project: Project, container: str, name: str, url: str) -> tuple | None:
    """Point the project at a new avatar; returns the (container, name) of the old one."""
    info = dict(project.info or {})
    old = (info.get("container"), info.get("avatar")) if info.get("avatar") else None
    info.update(container=container, avatar=name, thumbnail=name, thumbnail_url=url)
    project.info = info
    return old


def add_coowner(project: Project, user: User) -> bool:
    """Make `user` a co-owner; False when they already own the project."""
    if user.id in project.owners_ids:
        return False
    project.set_owners([*project.owners_ids, user.id])
    return True


def remove_coowner(project: Project, user: User) -> bool:
    """Take `user` off the owners; False when they are not a co-owner (the creator stays)."""
    if user.id == project.owner_id or user.id not in project.owners_ids:
        return False
    project.set_owners([owner for owner in project.owners_ids if owner != user.id])
    return True


def transfer_ownership(project: Project, user: User) -> None:
    """Make `user` the primary owner; the co-owners are dropped with the old owner, as PYBOSSA
    does: the new owner chooses their own."""
    project.owner_id = user.id
    project.set_owners([])


def contrib_button(
    db,
    project: Project,
    figures: ProjectStats | None,
    user,
    presenter_disabled: bool,
    user_ip: str | None = None,
) -> str:
    """What the caller can do with the project: draft, publish, completed, (cannot_)contribute.

    An anonymous caller's own answers are those of its (pseudonymised) address, as PYBOSSA's
    n_available_tasks counts them."""
    n_tasks = figures.n_tasks if figures else 0
    if figures is not None and n_tasks and figures.overall_progress >= 100:
        return "completed"
    if not project.published:
        has_presenter = presenter_disabled or bool((project.info or {}).get("task_presenter"))
        return "publish" if has_presenter and n_tasks else "draft"
    open_tasks = select(Task.id).where(Task.project_id == project.id, Task.state != "completed")
    if user is not None or user_ip is not None:
        answered = exists().where(
            TaskRun.task_id == Task.id, participant_clause(user, None, user_ip)
        )
        open_tasks = open_tasks.where(~answered)
    found = db.scalar(select(exists(open_tasks)))
    return "can_contribute" if found else "cannot_contribute"
