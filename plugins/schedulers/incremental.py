"""The `incremental` scheduler: one task, shown with the latest answer to it (behavior.md 6.2)."""

import random

from sqlalchemy import select

from core.hookspecs import hookimpl
from core.models import Task, TaskRun
from plugins.schedulers.base import kind_of, open_tasks, page


def incremental(db, project, participant, options):
    """One task picked at random among the highest-priority open ones, with `last_answer`."""
    query = open_tasks(kind_of(participant)).order_by(Task.priority_0.desc(), Task.id)
    candidates = page(db, query, project, participant, options)
    if not candidates:
        return []
    task = random.choice(candidates)
    last_answer = db.execute(
        select(TaskRun.info)
        .where(TaskRun.task_id == task.id)
        .order_by(TaskRun.finish_time.desc(), TaskRun.id.desc())
        .limit(1)
    ).first()
    if last_answer is not None and isinstance(task.info, (dict, type(None))):
        # Detached first: the injected answer is shown, never written back to the task.
        db.expunge(task)
        task.info = {**(task.info or {}), "last_answer": last_answer.info}
    return [task]


@hookimpl
def crowdnest_schedulers():
    return {"incremental": incremental}
