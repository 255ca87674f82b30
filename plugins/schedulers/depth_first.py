"""The `default` / `depth_first` and `depth_first_all` schedulers (behavior.md 6.2)."""

from sqlalchemy import select

from core.hookspecs import hookimpl
from core.models import Task, TaskRun
from core.services.query import participant_clause


def _candidates(db, project, participant, options, include_completed: bool):
    answered = select(TaskRun.task_id).where(
        TaskRun.project_id == project.id,
        participant_clause(participant.user, participant.external_uid, participant.user_ip),
    )
    query = select(Task).where(Task.project_id == project.id, Task.id.not_in(answered))
    if not include_completed:
        query = query.where(Task.state != "completed")
    column = getattr(Task, options.orderby)
    query = query.order_by(column.desc() if options.desc else column.asc())
    if options.orderby != "id":
        query = query.order_by(Task.id)
    return list(db.scalars(query.limit(options.limit).offset(options.offset)))


def depth_first(db, project, participant, options):
    """Unfinished tasks this volunteer has not answered, in the requested order."""
    return _candidates(db, project, participant, options, include_completed=False)


def depth_first_all(db, project, participant, options):
    """Like depth_first, completed tasks included: every task until the volunteer did all."""
    return _candidates(db, project, participant, options, include_completed=True)


@hookimpl
def crowdnest_schedulers():
    return {"default": depth_first, "depth_first": depth_first, "depth_first_all": depth_first_all}
