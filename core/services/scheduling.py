"""Task delivery's shared pieces: a newtask request's options, and which scheduler serves a
project. Both delivery paths use them: the API view (core.api.newtask) and the lean path
(core.delivery).

Domain code: knows nothing of HTTP.
"""

from core.errors import DomainError
from core.hookspecs import SchedulerOptions
from core.inputs import INT_MAX
from core.models import Task, internal_columns
from core.services import pending
from core.services.query import fuzzy_bool, no_attribute

# The most tasks one newtask hands out.
MAX_LIMIT = 100


def newtask_options(params) -> SchedulerOptions:
    """limit, offset, orderby and desc of a newtask request, checked."""
    try:
        limit = int(params.get("limit", 1))
        offset = int(params.get("offset", 0))
    except ValueError as error:
        raise DomainError("ValueError", str(error)) from None
    if limit < 0 or offset < 0:
        raise DomainError("ValueError", "limit and offset must not be negative")
    if offset > INT_MAX:
        raise DomainError("ValueError", "offset out of range")
    orderby = params.get("orderby") or "id"
    hidden = internal_columns(Task)
    if orderby not in Task.__table__.columns or orderby in ("info", "user_pref", *hidden):
        raise no_attribute(Task, orderby)
    desc = fuzzy_bool(params.get("desc", ""))
    return SchedulerOptions(min(limit, MAX_LIMIT), offset, orderby, desc)


def applied(schedulers: dict) -> dict:
    """The enabled schedulers as core runs them: decision 25's rule around those that count
    pending hand-outs (Scheduler.pending; core.services.pending)."""
    return {
        name: pending.counting(scheduler) if scheduler.pending else scheduler
        for name, scheduler in schedulers.items()
    }


def choose_scheduler(schedulers: dict, project, settings):
    """The project's `info.sched`; missing or unknown, the default the .ini names."""
    return scheduler_named(schedulers, (project.info or {}).get("sched"), settings)


def scheduler_named(schedulers: dict, name, settings):
    """The scheduler called `name`; not a string or unknown, the default the .ini names."""
    return schedulers[name_of(schedulers, name, settings)]


def name_of(schedulers: dict, name, settings) -> str:
    """The name of the scheduler `scheduler_named` gives for `name`."""
    known = isinstance(name, str) and name in schedulers
    return name if known else settings["scheduler.default"]


def includeme(config):
    # After core.plugins: the registry's schedulers as core runs them.
    config.registry["schedulers"] = applied(config.registry["schedulers"])
