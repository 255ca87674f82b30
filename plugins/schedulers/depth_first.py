"""The `default` / `depth_first` and `depth_first_all` schedulers (behavior.md 6.2)."""

from core.hookspecs import LeanForm, Scheduler, hookimpl
from plugins.schedulers.base import kind_of, lean_page, open_tasks, ordered, page


def _unfinished(kind, options, *columns):
    return ordered(open_tasks(kind, *columns), options)


def _all(kind, options, *columns):
    return ordered(open_tasks(kind, *columns, include_completed=True), options)


def depth_first(db, project, participant, options):
    """Unfinished tasks this volunteer has not answered, in the requested order."""
    query = _unfinished(kind_of(participant), options)
    return page(db, query, project, participant, options)


def depth_first_all(db, project, participant, options):
    """Like depth_first, completed tasks included: every task until the volunteer did all."""
    query = _all(kind_of(participant), options)
    return page(db, query, project, participant, options)


def _lean(name, build) -> LeanForm:
    def lean(store, project, participant, options):
        key = (name, options.orderby, options.desc)
        return lean_page(store, key, build, project, participant, options)

    # The volunteer only as :who (core.delivery.CarryCaller).
    return LeanForm(lean, carries=True)


DEPTH_FIRST = Scheduler(depth_first, _lean("depth_first", _unfinished), pending=True)
DEPTH_FIRST_ALL = Scheduler(depth_first_all, _lean("depth_first_all", _all))


@hookimpl
def crowdnest_schedulers():
    return {"default": DEPTH_FIRST, "depth_first": DEPTH_FIRST, "depth_first_all": DEPTH_FIRST_ALL}
