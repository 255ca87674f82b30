"""What volunteers do: the update feed, the community page, the projects of a profile.

Domain code: knows nothing of HTTP. Every list here is built with a fixed number of queries,
whatever its length (no query per row).

Update feed entries (newest first) all carry `action_updated` and `updated`:
  - "User": a new account (`name`, `fullname`, `info`);
  - "Project": a published project (`short_name`, `name`, `info`);
  - "UserContribution": an answer (`name`, `fullname` of its author, or null for anonymous
    volunteers, `short_name`, `project_name` of the project);
  - "Blog": a blog post (`title`, `short_name`, `project_name`).
Only published projects appear, and restricted accounts never do.
"""

from datetime import UTC, datetime

from sqlalchemy import exists, func, select

from core.models import Blogpost, Project, ProjectOwner, ProjectStats, TaskRun, User

USER_PUBLIC_INFO = ("avatar", "container", "extra", "avatar_url")
PROJECT_PUBLIC_INFO = ("container", "thumbnail", "thumbnail_url")
FEED_SIZE = 100
STATS_KEYS = ("n_tasks", "n_volunteers", "overall_progress")


def public_info(info, keys=USER_PUBLIC_INFO) -> dict:
    return {key: info[key] for key in keys if isinstance(info, dict) and key in info}


def shown_person(user) -> dict:
    """A user's fullname and info as anyone may see them: in privacy mode the name stands for
    the full name and no info shows (behavior.md 1.5; the leaderboard's rows do the same)."""
    if user.privacy_mode:
        return {"fullname": user.name, "info": {}}
    return {"fullname": user.fullname, "info": public_info(user.info)}


def time_ago(timestamp: str | None, now: datetime | None = None) -> str | None:
    """ "3 days ago" for an ISO timestamp (UTC, as the models store it)."""
    if not timestamp:
        return None
    try:
        then = datetime.fromisoformat(timestamp).replace(tzinfo=None)
    except ValueError:
        return None
    now = now or datetime.now(UTC).replace(tzinfo=None)
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


# --- the community page ---------------------------------------------------------------------


def contributors_page(db, page: int, per_page: int) -> tuple[list[dict], int]:
    """One page of the accounts with at least one answer, newest first, and their count."""
    has_answered = exists().where(TaskRun.user_id == User.id)
    wanted = select(User).where(has_answered, User.restrict.is_(False))
    count = db.scalar(select(func.count()).select_from(wanted.subquery()))
    users = list(
        db.scalars(
            wanted.order_by(User.created.desc(), User.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    answers = dict(
        db.execute(
            select(TaskRun.user_id, func.count())
            .where(TaskRun.user_id.in_([user.id for user in users]))
            .group_by(TaskRun.user_id)
        ).all()
    )
    accounts = [
        {
            "created": None if user.privacy_mode else user.created,
            **shown_person(user),
            "locale": user.locale,
            "name": user.name,
            "rank": None,
            "registered_ago": None if user.privacy_mode else time_ago(user.created),
            "score": None,
            "task_runs": answers.get(user.id, 0),
        }
        for user in users
    ]
    return accounts, count


# --- the projects of a profile --------------------------------------------------------------


def _project_rows(db, query, full: bool) -> list[dict]:
    rows = db.execute(
        query.add_columns(*(getattr(ProjectStats, key) for key in STATS_KEYS))
        .outerjoin(ProjectStats, ProjectStats.project_id == Project.id)
        .order_by(Project.id)
    ).all()
    projects = []
    for project, *figures in rows:
        entry = {
            "id": project.id,
            "name": project.name,
            "short_name": project.short_name,
            "description": project.description,
            "published": project.published,
            "info": public_info(project.info, PROJECT_PUBLIC_INFO),
        }
        if full:
            entry["owner_id"] = project.owner_id
        entry.update({key: value or 0 for key, value in zip(STATS_KEYS, figures, strict=True)})
        projects.append(entry)
    return projects


def contributed_projects(db, user_id: int, published_only: bool = True) -> list[dict]:
    """The projects the account has answered tasks of."""
    answered = select(TaskRun.project_id).where(TaskRun.user_id == user_id)
    query = select(Project).where(Project.id.in_(answered))
    if published_only:
        query = query.where(Project.published.is_(True))
    return _project_rows(db, query, full=False)


def owned_projects(db, user_id: int) -> list[dict]:
    """The projects the account owns or co-owns, drafts included."""
    owned = select(ProjectOwner.project_id).where(ProjectOwner.user_id == user_id)
    return _project_rows(db, select(Project).where(Project.id.in_(owned)), full=True)


# --- the update feed ------------------------------------------------------------------------


def update_feed(db, size: int = FEED_SIZE) -> list[dict]:
    """The `size` latest actions on the server, newest first."""
    entries = []
    for user in db.scalars(
        select(User).where(User.restrict.is_(False)).order_by(User.id.desc()).limit(size)
    ):
        entries.append(
            {
                "action_updated": "User",
                "updated": user.created,
                "id": user.id,
                "name": user.name,
                **shown_person(user),
            }
        )
    published = Project.published.is_(True)
    for project in db.scalars(
        select(Project).where(published).order_by(Project.id.desc()).limit(size)
    ):
        entries.append(
            {
                "action_updated": "Project",
                "updated": project.created,
                "id": project.id,
                "name": project.name,
                "short_name": project.short_name,
                "info": public_info(project.info, PROJECT_PUBLIC_INFO),
            }
        )
    contributions = db.execute(
        select(TaskRun.id, TaskRun.finish_time, Project.short_name, Project.name, User)
        .join(Project, Project.id == TaskRun.project_id)
        .outerjoin(User, User.id == TaskRun.user_id)
        .where(published)
        .order_by(TaskRun.id.desc())
        .limit(size)
    ).all()
    for run_id, finished, short_name, project_name, author in contributions:
        visible = author is not None and not author.restrict
        entries.append(
            {
                "action_updated": "UserContribution",
                "updated": finished,
                "id": run_id,
                "name": author.name if visible else None,
                **(shown_person(author) if visible else {"fullname": None, "info": {}}),
                "short_name": short_name,
                "project_name": project_name,
            }
        )
    posts = db.execute(
        select(Blogpost.id, Blogpost.created, Blogpost.title, Project.short_name, Project.name)
        .join(Project, Project.id == Blogpost.project_id)
        .where(published, Blogpost.published.is_(True))
        .order_by(Blogpost.id.desc())
        .limit(size)
    ).all()
    for post_id, created, title, short_name, project_name in posts:
        entries.append(
            {
                "action_updated": "Blog",
                "updated": created,
                "id": post_id,
                "title": title,
                "short_name": short_name,
                "project_name": project_name,
            }
        )
    entries.sort(key=lambda entry: entry["updated"] or "", reverse=True)
    return entries[:size]
