"""The `incremental` scheduler: one task, shown with the latest answer to it (behavior.md 6.2).

One query serves both delivery paths (the ORM session and the lean path's bare connection): the
highest-priority open tasks the volunteer has not answered, each read with its latest answer.
"""

import random

from sqlalchemy import select

from core.hookspecs import LeanForm, Scheduler, hookimpl
from core.models import Task, TaskRun
from plugins.schedulers.base import kind_of, lean_page, open_tasks, paged, parameters

LAST_ANSWER = "last_answer"


def _latest_answer():
    """The info of the latest answer to the task of the row (NULL for none)."""
    latest = (
        select(TaskRun.info)
        .where(TaskRun.task_id == Task.id)
        .order_by(TaskRun.finish_time.desc(), TaskRun.id.desc())
        .limit(1)
    )
    return latest.correlate(Task).scalar_subquery().label(LAST_ANSWER)


def _candidates(kind, options, *columns):
    """The highest-priority open tasks not answered by the volunteer, with their latest answer."""
    query = open_tasks(kind, *(columns or (Task,)), _latest_answer())
    # The project first, as `ordered` does: the open tasks' priority index is read in order.
    return query.order_by(Task.project_id, Task.priority_0.desc(), Task.id)


def shown_info(info, last_answer):
    """The task's info as handed out: with the latest answer under `last_answer` when there is
    one and the info is an object (or nothing); else None (the info as it is)."""
    if last_answer is None or not isinstance(info, (dict, type(None))):
        return None
    return {**(info or {}), LAST_ANSWER: last_answer}


def _picked(candidates: list, options) -> list:
    """One of the first `limit` candidates (the highest-priority ones) picked at random; with
    pending hand-outs counted (options.spare), the others follow it in order: core hands out
    the first the rule allows (Scheduler.most: one)."""
    if not candidates:
        return []
    chosen = random.choice(candidates[: options.limit])
    if options.spare is None:
        return [chosen]
    return [chosen, *(candidate for candidate in candidates if candidate is not chosen)]


def incremental(db, project, participant, options):
    """One task picked at random among the highest-priority open ones, with `last_answer`."""
    query = paged(_candidates(kind_of(participant), options))
    candidates = db.execute(query, parameters(project, participant, options)).all()
    tasks = []
    for task, last_answer in _picked(candidates, options):
        info = shown_info(task.info, last_answer)
        if info is not None:
            # Detached first: the injected answer is shown, never written back to the task.
            db.expunge(task)
            task.info = info
        tasks.append(task)
    return tasks


def _lean(store, project, participant, options):
    # Its order is its own: the request's orderby does not change the statement.
    candidates = lean_page(store, ("incremental",), _candidates, project, participant, options)
    tasks = _picked(candidates, options)
    for task in tasks:
        info = shown_info(task["info"], task.pop(LAST_ANSWER))
        if info is not None:
            task["info"] = info
    return tasks


@hookimpl
def crowdnest_schedulers():
    # The lean form reads the volunteer only as :who (core.delivery.CarryCaller). One task a
    # request, whatever the limit (behavior.md 6.2).
    lean = LeanForm(_lean, carries=True)
    return {"incremental": Scheduler(incremental, lean, pending=True, most=1)}
