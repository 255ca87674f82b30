"""The `breadth_first` scheduler: the tasks with the fewest answers first (behavior.md 6.2)."""

from core.hookspecs import LeanForm, Scheduler, hookimpl
from core.models import Task
from plugins.schedulers.base import kind_of, lean_page, open_tasks, ordered, page


def _fewest_first(kind, options, *columns):
    # n_task_runs is kept by the server with every answer: no count over task_run here.
    return ordered(open_tasks(kind, *columns), options, Task.n_task_runs.asc())


def breadth_first(db, project, participant, options):
    """Unfinished tasks this volunteer has not answered, fewest task runs first."""
    query = _fewest_first(kind_of(participant), options)
    return page(db, query, project, participant, options)


def _lean(store, project, participant, options):
    key = ("breadth_first", options.orderby, options.desc)
    return lean_page(store, key, _fewest_first, project, participant, options)


@hookimpl
def crowdnest_schedulers():
    # The lean form reads the volunteer only as :who (core.delivery.CarryCaller).
    return {"breadth_first": Scheduler(breadth_first, LeanForm(_lean, carries=True), pending=True)}
