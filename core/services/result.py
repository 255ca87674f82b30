"""Results: a new version of a task's result each time its runs change once it is complete.

Domain code: knows nothing of HTTP.
"""

from sqlalchemy import bindparam, select, update

from core.models import Result, Task, TaskRun
from core.services import answers, stats


def new_result_version(db, task: Task) -> Result:
    """Supersede the task's latest result with one listing all its current runs."""
    of_task = {"of_task": task.id, "stats_of": task.project_id}
    db.execute(stats.superseded_result_uncounted(), of_task)
    db.execute(result_superseded(), of_task)
    run_ids = list(db.scalars(runs_of_task(), {"of_task": task.id}))
    result = Result(**answers.result_version(task.project_id, task.id, run_ids))
    db.add(result)
    db.flush()
    return result


def result_superseded():
    """UPDATE: the latest result of the task :of_task is the latest no more."""
    return (
        update(Result)
        .where(Result.task_id == bindparam("of_task"), Result.last_version)
        .values(last_version=False)
        .execution_options(synchronize_session=False)
    )


def runs_of_task(listed=None):
    """Ids of the runs of the task :of_task, in order: a new result version lists them.
    `listed(ids, order)`, an aggregate, makes them one value (the lean path's JSON array)."""
    of_task = TaskRun.task_id == bindparam("of_task")
    if listed is not None:
        return select(listed(TaskRun.id, TaskRun.id)).where(of_task)
    return select(TaskRun.id).where(of_task).order_by(TaskRun.id)
