"""Project lists by category, featured and draft, in PYBOSSA's ranking (behavior.md 9.4).

Domain code: knows nothing of HTTP. A list is read in one query (projects, their stats and
their owner's name) and ranked in Python; callers cache the ranked list and slice pages.
"""

from datetime import UTC, datetime

from sqlalchemy import func, select

from core.models import Category, Project, ProjectStats, TaskRun, User

PER_PAGE = 20
# Keys a caller may sort on (`?orderby=`); anything else keeps the default ranking.
ORDER_KEYS = frozenset(
    [
        "id",
        "name",
        "short_name",
        "description",
        "created",
        "updated",
        "owner",
        "featured",
        "last_activity",
        "last_activity_raw",
        "overall_progress",
        "n_tasks",
        "n_volunteers",
    ]
)
PUBLIC_INFO = ("container", "thumbnail", "thumbnail_url")
FEATURED = {
    "created": None,
    "description": "Featured projects",
    "id": None,
    "name": "Featured",
    "short_name": "featured",
}
DRAFT = {
    "created": None,
    "description": "Draft projects",
    "id": None,
    "name": "Draft",
    "short_name": "draft",
}
HISTORICAL = {
    "created": None,
    "description": "Projects you contributed to",
    "id": None,
    "name": "Historical Contributions",
    "short_name": "historical_contributions",
}


def category_dict(category: Category) -> dict:
    keys = ("created", "description", "id", "name", "short_name")
    return {key: getattr(category, key) for key in keys}


def public_info(info) -> dict:
    """The keys of a project's `info` a listing shows (its picture)."""
    if not isinstance(info, dict):
        return {}
    return {key: info[key] for key in PUBLIC_INFO if key in info}


def _parse(stamp: str | None) -> datetime | None:
    if not stamp or stamp == "0":
        return None
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None


def humanize(stamp: str | None, now: datetime) -> str:
    """ "just now", "3 hours ago", "2 years ago"; "never" when there was no activity."""
    moment = _parse(stamp)
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("year", 31536000), ("month", 2592000), ("week", 604800), ("day", 86400)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


def _band(value: int) -> int:
    for floor, points in ((100, 20), (50, 15), (20, 10), (10, 5), (0, 1)):
        if value > floor:
            return points
    return 0


def rank_score(project: dict, now: datetime) -> int:
    """The default ranking: unfinished, non-test, illustrated, busy and recent come first."""
    score = 0
    if (project["overall_progress"] or 0) < 100:
        score += 1000
    if "test" not in project["name"].lower() and "test" not in project["short_name"].lower():
        score += 500
    if project["info"].get("thumbnail"):
        score += 200
    score += _band(project["n_tasks"] or 0) + 2 * _band(project["n_volunteers"] or 0)
    latest = max(
        (m for m in (_parse(project["updated"]), _parse(project["last_activity_raw"])) if m),
        default=None,
    )
    if latest is not None:
        age = (now - latest).total_seconds() / 86400
        for days, points in ((1, 50), (2, 20), (3, 10), (4, 5)):
            if age < days:
                score += points
                break
    return score


def _rows(db, *where) -> list[dict]:
    query = (
        select(
            Project.id,
            Project.name,
            Project.short_name,
            Project.description,
            Project.info,
            Project.created,
            Project.updated,
            Project.featured,
            Project.category_id,
            User.fullname,
            ProjectStats.last_activity,
            ProjectStats.overall_progress,
            ProjectStats.n_tasks,
            ProjectStats.n_volunteers,
        )
        .join(User, User.id == Project.owner_id)
        .outerjoin(ProjectStats, ProjectStats.project_id == Project.id)
        .where(~User.restrict, *where)
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    projects = []
    for row in db.execute(query):
        last = row.last_activity if _parse(row.last_activity) else None
        projects.append(
            {
                "id": row.id,
                "name": row.name,
                "short_name": row.short_name,
                "description": row.description,
                "info": public_info(row.info),
                "created": row.created,
                "updated": row.updated,
                "owner": row.fullname,
                "featured": row.featured,
                "category_id": row.category_id,
                "last_activity": humanize(last, now),
                "last_activity_raw": last,
                "overall_progress": row.overall_progress or 0,
                "n_tasks": row.n_tasks or 0,
                "n_volunteers": row.n_volunteers or 0,
            }
        )
    return projects


def _public():
    # Published projects without a password (the password hash lives in `info`).
    return Project.published & Project.info["passwd_hash"].as_string().is_(None)


def ordered(projects: list[dict], orderby: str | None, desc: bool) -> list[dict]:
    """Sorted on a whitelisted key, or in the default ranking."""
    if orderby in ORDER_KEYS:
        key = "last_activity_raw" if orderby == "last_activity" else orderby
        present = [p for p in projects if p[key] is not None]
        missing = [p for p in projects if p[key] is None]
        present.sort(key=lambda p: (p[key], p["id"]), reverse=desc)
        return present + missing
    now = datetime.now(UTC).replace(tzinfo=None)
    return sorted(projects, key=lambda p: (-rank_score(p, now), p["id"]))


def in_category(db, category_id: int, orderby: str | None = None, desc: bool = False):
    """The public projects of one category."""
    return ordered(_rows(db, _public(), Project.category_id == category_id), orderby, desc)


def featured(db, orderby: str | None = None, desc: bool = False) -> list[dict]:
    """The featured projects (only published ones: a draft is never shown to the public)."""
    return ordered(_rows(db, Project.featured, Project.published), orderby, desc)


def drafts(db, orderby: str | None = None, desc: bool = False) -> list[dict]:
    """Every unpublished project (an admin's list)."""
    return ordered(_rows(db, ~Project.published), orderby, desc)


def contributed(db, user_id: int, orderby: str | None = None, desc: bool = False):
    """The published projects `user_id` answered tasks of (behavior.md 9.4)."""
    answered = select(TaskRun.project_id).where(TaskRun.user_id == user_id)
    return ordered(_rows(db, Project.published, Project.id.in_(answered)), orderby, desc)


def used_categories(db) -> list[dict]:
    """The categories that hold at least one public project, in id order."""
    used = (
        select(Project.category_id)
        .join(User, User.id == Project.owner_id)
        .where(_public(), ~User.restrict)
    )
    rows = db.scalars(select(Category).where(Category.id.in_(used)).order_by(Category.id))
    return [category_dict(category) for category in rows]


def has_featured(db) -> bool:
    return db.scalar(select(func.count()).where(Project.featured, Project.published)) > 0


def all_categories(db) -> list[dict]:
    return [category_dict(c) for c in db.scalars(select(Category).order_by(Category.id))]


def published_by_category(db, categories: list[dict]) -> dict[str, list[dict]]:
    """Every published project, listed under its category's short name (one query)."""
    names = {category["id"]: category["short_name"] for category in categories}
    grouped: dict[str, list[dict]] = {name: [] for name in names.values()}
    for project in ordered(_rows(db, Project.published), "name", False):
        name = names.get(project["category_id"])
        if name is not None:
            grouped[name].append(project)
    return grouped
