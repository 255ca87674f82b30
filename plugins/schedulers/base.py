"""Query pieces the built-in schedulers share: open tasks, the caller's answers, the order."""

from sqlalchemy import select

from core.models import Task, TaskRun
from core.services.query import participant_clause


def answered_by(project, participant):
    """Ids of the project's tasks this volunteer has answered (behavior.md 6.2)."""
    return select(TaskRun.task_id).where(
        TaskRun.project_id == project.id,
        participant_clause(participant.user, participant.external_uid, participant.user_ip),
    )


def open_tasks(project, participant, *columns):
    """Tasks of the project, not completed, not answered by this volunteer."""
    return select(*(columns or (Task,))).where(
        Task.project_id == project.id,
        Task.state != "completed",
        Task.id.not_in(answered_by(project, participant)),
    )


def ordered(query, options, *first):
    """Order by the `first` clauses, then the requested `orderby`/`desc`, ties by id."""
    column = getattr(Task, options.orderby)
    query = query.order_by(*first, column.desc() if options.desc else column.asc())
    return query.order_by(Task.id) if options.orderby != "id" else query


def page(db, query, options) -> list:
    """Run the query with the request's limit and offset."""
    return list(db.scalars(query.limit(options.limit).offset(options.offset)))
