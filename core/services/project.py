"""Projects: the rules shared by the API and the web pages.

Domain code: knows nothing of HTTP.
"""

from sqlalchemy import delete, select, update

from core.models import Project, Result, Task, TaskRun, Webhook
from core.services import stats

# Short names that would shadow a route.
RESERVED_SHORT_NAMES = {"new", "category", "page", "search", "static", "api"}


def publish_blocker(db, project: Project, presenter_disabled: bool) -> str | None:
    """Why the project cannot be published yet, or None."""
    if not presenter_disabled and not (project.info or {}).get("task_presenter"):
        return "You must add a task presenter before publishing the project"
    if db.scalar(select(Task.id).where(Task.project_id == project.id).limit(1)) is None:
        return "You must add at least one task before publishing the project"
    return None


def publish(db, project: Project) -> None:
    """Publish and forget the draft answers (they were tests)."""
    for model in (Result, TaskRun, Webhook):
        db.execute(
            delete(model)
            .where(model.project_id == project.id)
            .execution_options(synchronize_session=False)
        )
    db.execute(
        update(Task)
        .where(Task.project_id == project.id)
        .values(state="ongoing", n_task_runs=0)
        .execution_options(synchronize_session=False)
    )
    project.published = True
    db.flush()
    stats.recompute(db, project.id)
