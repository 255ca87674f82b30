"""The `breadth_first` scheduler: the tasks with the fewest answers first (behavior.md 6.2)."""

from core.hookspecs import hookimpl
from core.models import Task
from plugins.schedulers.base import open_tasks, ordered, page


def breadth_first(db, project, participant, options):
    """Unfinished tasks this volunteer has not answered, fewest task runs first."""
    # n_task_runs is kept by the server with every answer: no count over task_run here.
    query = ordered(open_tasks(project, participant), options, Task.n_task_runs.asc())
    return page(db, query, options)


@hookimpl
def crowdnest_schedulers():
    return {"breadth_first": breadth_first}
