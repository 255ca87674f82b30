"""Task state: derived from the count of its task runs (decision 7); the owner's bulk changes.

Domain code: knows nothing of HTTP.
"""

from sqlalchemy import delete, select, update

from core.models import Result, Task, TaskRun
from core.schemas import MAX_N_ANSWERS
from core.services import stats
from core.services.result import new_result_version

# The bounds of the owner's task settings (behavior.md 9.4).
# The one n_answers rule (core.schemas): the API, the importer and the redundancy page.
MIN_ANSWERS, MAX_ANSWERS = 1, MAX_N_ANSWERS
MIN_PRIORITY, MAX_PRIORITY = 0.0, 1.0


def rederive_state(db, task: Task) -> None:
    """`completed` exactly when the task's runs reach n_answers; keep the stats in step.

    A task completed this way (its n_answers lowered to its runs) gets its result, as one
    completed by its last answer does.
    """
    state = "completed" if task.n_task_runs >= task.n_answers else "ongoing"
    if state != task.state:
        stats.bump(db, task.project_id, n_completed_tasks=1 if state == "completed" else -1)
        task.state = state
        if state == "completed" and not _result_is_current(db, task):
            new_result_version(db, task)


def _result_is_current(db, task: Task) -> bool:
    """Whether the task's latest result already lists exactly its current runs."""
    latest = db.scalar(
        select(Result.task_run_ids).where(Result.task_id == task.id, Result.last_version)
    )
    runs = list(
        db.scalars(select(TaskRun.id).where(TaskRun.task_id == task.id).order_by(TaskRun.id))
    )
    return latest is not None and sorted(latest) == runs


def set_redundancy(db, project_id: int, n_answers: int) -> int:
    """Give every task of the project `n_answers`; re-derive the states that change.

    Returns how many tasks changed state.
    """
    db.execute(
        update(Task)
        .where(Task.project_id == project_id)
        .values(n_answers=n_answers)
        .execution_options(synchronize_session=False)
    )
    # Only the tasks whose state no longer matches their counts are loaded; as the rows are now
    # (populate_existing), not as this session may have seen them before the UPDATE.
    changing = db.scalars(
        select(Task)
        .where(
            Task.project_id == project_id,
            ((Task.state == "completed") & (Task.n_task_runs < n_answers))
            | ((Task.state != "completed") & (Task.n_task_runs >= n_answers)),
        )
        .execution_options(populate_existing=True)
    ).all()
    for task in changing:
        rederive_state(db, task)
    db.flush()
    return len(changing)


def set_priority(db, project_id: int, task_ids: list[int], priority: float) -> list[int]:
    """Set priority_0 of the listed tasks; returns the ids that are not tasks of the project
    (nothing is changed then)."""
    found = set(
        db.scalars(select(Task.id).where(Task.project_id == project_id, Task.id.in_(task_ids)))
    )
    missing = [task_id for task_id in task_ids if task_id not in found]
    if missing:
        return missing
    db.execute(
        update(Task)
        .where(Task.project_id == project_id, Task.id.in_(task_ids))
        .values(priority_0=priority)
        .execution_options(synchronize_session=False)
    )
    return []


def tasks_without_results(project_id: int):
    """SELECT the ids of the project's tasks that have no result (of any version)."""
    with_result = select(Result.task_id).where(Result.project_id == project_id)
    return select(Task.id).where(Task.project_id == project_id, Task.id.not_in(with_result))


def lock_tasks_without_results(db, project_id: int):
    """Lock the project's tasks that have no result; returns the SELECT of their ids, to be
    read in a later statement (the deletion) while the locks are held."""
    # A task completed while a statement waits for its row is re-checked row by row only
    # (PostgreSQL's READ COMMITTED), not against the result subquery: an answer's result
    # committed meanwhile would go unseen and the task be deleted with it. Every answer locks
    # its task row before it writes a result, so once the rows are locked (in id order: two
    # deletions never deadlock) the next statement's snapshot sees every such result.
    locked = db.scalars(
        tasks_without_results(project_id).order_by(Task.id).with_for_update()
    ).all()
    # Bounded by what was locked: a task added since, not locked, is left alone.
    return tasks_without_results(project_id).where(Task.id <= (locked[-1] if locked else 0))


def delete_tasks_without_results(db, project_id: int, doomed=None) -> int:
    """Delete the project's tasks that have no result, with their answers; those with a result
    (and their answers) are kept (behavior.md 9.4). `doomed`: what
    lock_tasks_without_results returned, when the caller locked them first. Returns how many
    tasks were deleted."""
    if doomed is None:
        doomed = lock_tasks_without_results(db, project_id)
    # Subqueries rather than a list of ids: a project may hold 100,000 tasks.
    db.execute(
        delete(TaskRun)
        .where(TaskRun.task_id.in_(doomed))
        .execution_options(synchronize_session=False)
    )
    count = db.execute(
        delete(Task).where(Task.id.in_(doomed)).execution_options(synchronize_session=False)
    ).rowcount
    if count:
        stats.recompute(db, project_id)
    return count
