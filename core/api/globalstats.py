"""GET /api/globalstats: site-wide figures, cached briefly."""

from cornice import Service
from sqlalchemy import func, select

from core.models import Category, Project, Result, Task, TaskRun, User

globalstats = Service(name="globalstats", path="/api/globalstats", cors_origins=("*",))
globalstats_one = Service(
    name="globalstats_one", path="/api/globalstats/{any}", cors_origins=("*",)
)

CACHE_SECONDS = 60


def compute(db) -> dict:
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


@globalstats.get()
@globalstats_one.get()
def get_globalstats(request):
    request.api_target = "globalstatsapi"
    cache = request.registry["cache"]
    return cache.get_or_create(
        "globalstats", lambda: compute(request.dbsession), expiration_time=CACHE_SECONDS
    )
