"""The `user_pref` scheduler: tasks matching the volunteer's languages and locations first.

As in the Bloomberg fork of PYBOSSA, a task's `user_pref` is a JSON object with `languages`
and/or `locations` lists; so is the user's. Tasks sharing a value in either list with the
volunteer come first, then all the others; anonymous volunteers get the others in order.
"""

from sqlalchemy import Text, case, cast, exists, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB, array

from core.hookspecs import hookimpl
from core.models import Task
from plugins.schedulers.base import kind_of, open_tasks, ordered, page

KEYS = ("languages", "locations")


def preferences(user) -> dict[str, list[str]]:
    """The user's non-empty preference lists, values as strings."""
    prefs = getattr(user, "user_pref", None) or {}
    if not isinstance(prefs, dict):
        return {}
    found = {}
    for key in KEYS:
        values = prefs.get(key) or []
        values = [values] if isinstance(values, str) else values
        strings = sorted({str(value) for value in values if isinstance(value, (str, int))})
        if strings:
            found[key] = strings
    return found


def _shares(dialect: str, key: str, values: list[str]):
    """SQL: the task's user_pref[key] list holds one of `values`."""
    if dialect == "postgresql":
        return cast(Task.user_pref, JSONB)[key].has_any(array(values, type_=Text))
    element = func.json_each(Task.user_pref, f"$.{key}").table_valued("value")
    return exists(select(1).select_from(element).where(element.c.value.in_(values)))


def matching_first(db, prefs: dict[str, list[str]]):
    """An ORDER BY clause putting matching tasks first, or None when nothing can match."""
    if not prefs:
        return None
    dialect = db.get_bind().dialect.name
    match = or_(*(_shares(dialect, key, values) for key, values in prefs.items()))
    return case((match, 0), else_=1)


def user_pref(db, project, participant, options):
    """Unfinished tasks this volunteer has not answered, those matching their profile first."""
    first = matching_first(db, preferences(participant.user))
    query = open_tasks(kind_of(participant))
    query = ordered(query, options) if first is None else ordered(query, options, first)
    return page(db, query, project, participant, options)


@hookimpl
def crowdnest_schedulers():
    return {"user_pref": user_pref}
