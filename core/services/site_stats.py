"""Site-wide figures: the /stats/ page (behavior.md 11.2) and the admin dashboard (11.3).

Domain code: knows nothing of HTTP. Timestamps are ISO 8601 text, so a day is the first ten
characters and "since" is a plain string comparison on both SQLite and PostgreSQL.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from core.models import Auditlog, Category, Project, ProjectStats, Result, Task, TaskRun, User

TOP = 5
DAYS = 7


def _since(**delta) -> str:
    return (datetime.now(UTC).replace(tzinfo=None) - timedelta(**delta)).isoformat()


def _chart(label: str, values: list[tuple[str, int]]) -> dict:
    return {
        "label": label,
        "values": [{"label": name, "value": [0, count]} for name, count in values],
    }


def global_figures(db) -> dict:
    """The figures of behavior.md 11.2 (n_pending_tasks never negative)."""
    anonymous = select(func.count(func.distinct(TaskRun.user_ip))).where(TaskRun.user_id.is_(None))
    pending = (
        select(func.coalesce(func.sum(func.max(Task.n_answers - Task.n_task_runs, 0)), 0))
        if db.get_bind().dialect.name == "sqlite"
        else select(
            func.coalesce(func.sum(func.greatest(Task.n_answers - Task.n_task_runs, 0)), 0)
        )
    )
    public = Project.published & ~Project.info["passwd_hash"].as_string().is_not(None)
    per_category = db.execute(
        select(Category.short_name, func.count(Project.id))
        .join(Project, Project.category_id == Category.id)
        .where(public)
        .group_by(Category.short_name)
        .order_by(Category.short_name)
    ).all()
    categories = [{short_name: count} for short_name, count in per_category]
    categories.append({"featured": db.scalar(select(func.count()).where(Project.featured))})
    categories.append({"draft": db.scalar(select(func.count()).where(~Project.published))})
    return {
        "n_projects": db.scalar(select(func.count()).select_from(Project)),
        "n_users": db.scalar(select(func.count()).select_from(User)) + db.scalar(anonymous),
        "n_tasks": db.scalar(select(func.count()).select_from(Task)),
        "n_task_runs": db.scalar(select(func.count()).select_from(TaskRun)),
        "n_pending_tasks": int(db.scalar(pending)),
        "n_results": db.scalar(
            select(func.count()).where(Result.last_version, Result.info.is_not(None))
        ),
        "categories": categories,
    }


def global_stats(db) -> dict:
    """The figures and charts of /stats/, with the top five of the last 24 hours."""
    figures = global_figures(db)
    n_draft = next(entry["draft"] for entry in figures["categories"] if "draft" in entry)
    n_auth = db.scalar(select(func.count()).select_from(User))
    n_anon = figures["n_users"] - n_auth
    stats = {
        "n_total_users": figures["n_users"],
        "n_auth": n_auth,
        "n_anon": n_anon,
        "n_published_projects": figures["n_projects"] - n_draft,
        "n_draft_projects": n_draft,
        "n_total_projects": figures["n_projects"],
        "n_tasks": figures["n_tasks"],
        "n_task_runs": figures["n_task_runs"],
    }
    return {
        "stats": stats,
        "users": _chart("User Statistics", [("Anonymous", n_anon), ("Authenticated", n_auth)]),
        "projects": _chart(
            "Projects Statistics",
            [("Published", stats["n_published_projects"]), ("Draft", n_draft)],
        ),
        "tasks": _chart(
            "Task and Task Run Statistics",
            [("Tasks", stats["n_tasks"]), ("Answers", stats["n_task_runs"])],
        ),
        "top5_projects_24_hours": top_projects_since(db, _since(hours=24)),
        "top5_users_24_hours": top_users_since(db, _since(hours=24)),
    }


def top_projects_since(db, since: str, limit: int = TOP) -> list[dict]:
    """The published projects with the most answers since `since`."""
    answers = func.count(TaskRun.id).label("n_answers")
    rows = db.execute(
        select(Project.id, Project.name, Project.short_name, Project.info, answers)
        .join(TaskRun, TaskRun.project_id == Project.id)
        .where(TaskRun.finish_time >= since, Project.published)
        .group_by(Project.id, Project.name, Project.short_name, Project.info)
        .order_by(answers.desc(), Project.id)
        .limit(limit)
    )
    return [
        {
            "id": project_id,
            "name": name,
            "short_name": short_name,
            "info": {k: v for k, v in (info or {}).items() if k in ("container", "thumbnail")},
            "n_answers": n_answers,
        }
        for project_id, name, short_name, info, n_answers in rows
    ]


def top_users_since(db, since: str, limit: int = TOP) -> list[dict]:
    """The unrestricted volunteers with the most answers since `since` (private names hidden)."""
    answers = func.count(TaskRun.id).label("n_answers")
    rows = db.execute(
        select(User.id, User.name, User.fullname, User.privacy_mode, answers)
        .join(TaskRun, TaskRun.user_id == User.id)
        .where(TaskRun.finish_time >= since, ~User.restrict)
        .group_by(User.id, User.name, User.fullname, User.privacy_mode)
        .order_by(answers.desc(), User.id)
        .limit(limit)
    )
    return [
        {
            "id": user_id,
            "fullname": name if private else fullname,
            "name": name,
            "n_answers": n_answers,
        }
        for user_id, name, fullname, private, n_answers in rows
    ]


# --- The admin dashboard: the last seven days ---------------------------------------------


def _days(today: datetime) -> list[str]:
    return [(today - timedelta(days=back)).date().isoformat() for back in range(DAYS - 1, -1, -1)]


def _per_day(db, column, counted, since: str, *where) -> dict:
    """{labels, series} of count(`counted`) per day of `column` since `since`, days with data."""
    day = func.substr(column, 1, 10)
    rows = db.execute(
        select(day, counted).where(column >= since, *where).group_by(day).order_by(day)
    ).all()
    return {"labels": [d for d, _ in rows], "series": [[n for _, n in rows]]}


def _project_rows(db, day_column, since: str, *where) -> list[dict]:
    day = func.substr(day_column, 1, 10)
    rows = db.execute(
        select(
            day,
            Project.id,
            Project.short_name,
            Project.name,
            Project.owner_id,
            User.name,
            User.email_addr,
        )
        .join(User, User.id == Project.owner_id)
        .where(day_column >= since, *where)
        .order_by(day.desc(), Project.id)
    ).all()
    return [
        {
            "day": row[0],
            "id": row[1],
            "short_name": row[2],
            "p_name": row[3],
            "owner_id": row[4],
            "u_name": row[5],
            "email_addr": row[6],
        }
        for row in rows
    ]


def _published_rows(db, since: str) -> list[dict]:
    day = func.substr(Auditlog.created, 1, 10)
    published = (
        select(Auditlog.project_id, func.max(day).label("day"))
        .where(
            Auditlog.created >= since,
            Auditlog.attribute == "published",
            Auditlog.new_value == "true",
        )
        .group_by(Auditlog.project_id)
        .subquery()
    )
    rows = db.execute(
        select(
            published.c.day,
            Project.id,
            Project.short_name,
            Project.name,
            Project.owner_id,
            User.name,
            User.email_addr,
        )
        .join(Project, Project.id == published.c.project_id)
        .join(User, User.id == Project.owner_id)
        .order_by(published.c.day.desc(), Project.id)
    ).all()
    keys = ("day", "id", "short_name", "p_name", "owner_id", "u_name", "email_addr")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _returning_users(db, since: str) -> dict:
    """How many volunteers answered on exactly 1, 2, ... 7 distinct days of the week."""
    active_days = (
        select(TaskRun.user_id, func.count(func.distinct(func.substr(TaskRun.finish_time, 1, 10))))
        .where(TaskRun.finish_time >= since, TaskRun.user_id.is_not(None))
        .group_by(TaskRun.user_id)
        .subquery()
    )
    n_days = active_days.c[1]
    counts = dict(db.execute(select(n_days, func.count()).group_by(n_days)).all())
    labels = [f"{n} day" if n == 1 else f"{n} days" for n in range(1, DAYS + 1)]
    return {"labels": labels, "series": [[counts.get(n, 0) for n in range(1, DAYS + 1)]]}


def update_feed(db, limit: int = 20) -> list[dict]:
    """The latest project changes of the audit log."""
    rows = db.scalars(select(Auditlog).order_by(Auditlog.id.desc()).limit(limit))
    return [
        {
            "created": row.created,
            "project_id": row.project_id,
            "project_short_name": row.project_short_name,
            "user_name": row.user_name,
            "action": row.action,
            "attribute": row.attribute,
        }
        for row in rows
    ]


def dashboard(db, today: datetime | None = None) -> dict:
    """The last-week figures of the admin dashboard (behavior.md 11.3)."""
    today = today or datetime.now(UTC).replace(tzinfo=None)
    since = _days(today)[0]
    return {
        "active_users_last_week": _per_day(
            db,
            TaskRun.finish_time,
            func.count(func.distinct(TaskRun.user_id)),
            since,
            TaskRun.user_id.is_not(None),
        ),
        "active_anon_last_week": _per_day(
            db,
            TaskRun.finish_time,
            func.count(func.distinct(TaskRun.user_ip)),
            since,
            TaskRun.user_id.is_(None),
        ),
        "draft_projects_last_week": _project_rows(db, Project.created, since, ~Project.published),
        "published_projects_last_week": _published_rows(db, since),
        "update_projects_last_week": _project_rows(db, Project.updated, since),
        "new_tasks_week": _per_day(db, Task.created, func.count(Task.id), since),
        "new_task_runs_week": _per_day(db, TaskRun.finish_time, func.count(TaskRun.id), since),
        "new_users_week": _per_day(db, User.created, func.count(User.id), since),
        "returning_users_week": _returning_users(db, since),
        "update_feed": update_feed(db),
        "wait": False,
    }


def stored_totals(db) -> dict:
    """Answers stored and tasks completed in all projects, by the projects' own counts (one
    row each: cheap enough for every metrics scrape)."""
    answers, completed = db.execute(
        select(
            func.coalesce(func.sum(ProjectStats.n_task_runs), 0),
            func.coalesce(func.sum(ProjectStats.n_completed_tasks), 0),
        )
    ).one()
    return {"answers": int(answers), "completed_tasks": int(completed)}
