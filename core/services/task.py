"""Task state: derived from the count of its task runs (decision 7).

Domain code: knows nothing of HTTP.
"""

from core.models import Task
from core.services import stats


def rederive_state(db, task: Task) -> None:
    """`completed` exactly when the task's runs reach n_answers; keep the stats in step."""
    state = "completed" if task.n_task_runs >= task.n_answers else "ongoing"
    if state != task.state:
        stats.bump(db, task.project_id, n_completed_tasks=1 if state == "completed" else -1)
        task.state = state
