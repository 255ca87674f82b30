"""Per-project figures kept current in the same transaction as the change they count.

Domain code: knows nothing of HTTP. Increments are SQL expressions, so concurrent writers never
lose an update; overall_progress is derived from the two counts it depends on.
"""

from sqlalchemy import case, func, select, update

from core.models import ProjectStats, Result, Task, TaskRun


def bump(db, project_id: int, **deltas: int) -> None:
    """Add `deltas` (n_tasks=1, n_task_runs=-1, ...) to the project's counters."""
    values = {name: getattr(ProjectStats, name) + delta for name, delta in deltas.items()}
    if "n_tasks" in deltas or "n_completed_tasks" in deltas:
        n_tasks = ProjectStats.n_tasks + deltas.get("n_tasks", 0)
        n_completed = ProjectStats.n_completed_tasks + deltas.get("n_completed_tasks", 0)
        values["overall_progress"] = case((n_tasks > 0, (n_completed * 100) / n_tasks), else_=0)
    db.execute(
        update(ProjectStats)
        .where(ProjectStats.project_id == project_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def recompute(db, project_id: int) -> None:
    """Count everything again for one project (after bulk changes such as publish)."""
    n_tasks = db.scalar(select(func.count()).where(Task.project_id == project_id))
    n_completed = db.scalar(
        select(func.count()).where(Task.project_id == project_id, Task.state == "completed")
    )
    n_task_runs = db.scalar(select(func.count()).where(TaskRun.project_id == project_id))
    n_results = db.scalar(
        select(func.count()).where(
            Result.project_id == project_id, Result.last_version, Result.info.is_not(None)
        )
    )
    users = select(func.count(func.distinct(TaskRun.user_id))).where(
        TaskRun.project_id == project_id
    )
    ips = select(func.count(func.distinct(TaskRun.user_ip))).where(
        TaskRun.project_id == project_id, TaskRun.user_id.is_(None)
    )
    last = db.scalar(select(func.max(TaskRun.finish_time)).where(TaskRun.project_id == project_id))
    db.execute(
        update(ProjectStats)
        .where(ProjectStats.project_id == project_id)
        .values(
            n_tasks=n_tasks,
            n_completed_tasks=n_completed,
            n_task_runs=n_task_runs,
            n_results=n_results,
            n_volunteers=db.scalar(users) + db.scalar(ips),
            overall_progress=(n_completed * 100 // n_tasks) if n_tasks else 0,
            last_activity=last or "0",
        )
        .execution_options(synchronize_session=False)
    )
