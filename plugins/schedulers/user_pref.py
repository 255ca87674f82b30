"""The `user_pref` scheduler: tasks matching the volunteer's languages and locations first.

As in the Bloomberg fork of PYBOSSA, a task's `user_pref` is a JSON object with `languages`
and/or `locations` lists; so is the user's. Tasks sharing a value in either list with the
volunteer come first, then all the others; anonymous volunteers get the others in order.

One query serves both delivery paths (the ORM session and the lean path's bare connection): the
volunteer's values are bound as JSON lists (`:pref_languages`, `:pref_locations`), and the SQL
that tests a task against them is chosen when the statement is compiled for its database.
"""

import json

from sqlalchemy import (
    Boolean,
    Integer,
    String,
    bindparam,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from core.hookspecs import LeanForm, Scheduler, hookimpl
from core.models import Task, User
from plugins.schedulers.base import kind_of, open_tasks, ordered, paged, parameters, shown

KEYS = ("languages", "locations")
# The rank column of the merged halves (matching first): no task column has this name.
RANK = "preference_rank"


def preferences(user) -> dict[str, list[str]]:
    """The user's non-empty preference lists, values as strings."""
    return preferences_in(getattr(user, "user_pref", None))


def preferences_in(prefs) -> dict[str, list[str]]:
    """The non-empty preference lists of a user's `user_pref` document, values as strings."""
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


class Shares(ColumnElement):
    """The task's user_pref[key] list holds one of the values bound as `:pref_<key>` (a JSON
    list of strings); written in each database's own JSON functions when compiled."""

    type = Boolean()
    inherit_cache = True
    _traverse_internals = [("key", InternalTraversal.dp_string)]

    def __init__(self, key: str):
        self.key = key


def _wanted(key: str):
    return bindparam(f"pref_{key}", type_=String)


@compiles(Shares, "postgresql")
def _shares_postgresql(element, compiler, **kw):
    values = select(func.jsonb_array_elements_text(cast(_wanted(element.key), JSONB)))
    # ARRAY((SELECT ...)): the wanted values as a text[] for ?|, read once per statement.
    wanted = func.array(values.scalar_subquery())
    return compiler.process(cast(Task.user_pref, JSONB)[element.key].has_any(wanted), **kw)


@compiles(Shares)
def _shares_sqlite(element, compiler, **kw):
    theirs = func.json_each(Task.user_pref, f"$.{element.key}").table_valued("value")
    wanted = func.json_each(_wanted(element.key)).table_valued("value")
    match = select(1).select_from(theirs).where(theirs.c.value.in_(select(wanted.c.value)))
    return compiler.process(exists(match), **kw)


def values_of(prefs: dict[str, list[str]]) -> dict:
    """The bind parameters of the volunteer's preferences (`:pref_<key>`)."""
    return {f"pref_{key}": json.dumps(values) for key, values in prefs.items()}


def _matching_first(keys: tuple, kind, options, *columns):
    """Open tasks not answered by the volunteer, those matching their preferences (`keys`)
    first, each part in the requested order.

    The two parts are read apart, each up to :limit + :offset rows in the requested order (for
    the default order a walk of the open tasks' index that stops there), then merged: one
    ORDER BY over the match would sort every open task of the project on every request. A
    volunteer whose preferences match no open task still walks them all (30 ms at 100,000 open
    tasks): an index of the tasks' preference values would bound that.
    """
    match = or_(*(Shares(key) for key in keys))
    # Cast: the lean path sends its parameters untyped, and `unknown + unknown` has no type.
    enough = cast(bindparam("limit"), Integer) + cast(bindparam("offset"), Integer)
    table = tuple(Task.__table__.columns)
    parts = [
        ordered(open_tasks(kind, *table, literal(rank).label(RANK)).where(test), options)
        .limit(enough)
        .subquery()
        for rank, test in ((0, match), (1, not_(func.coalesce(match, False))))
    ]
    merged = select(*parts[0].c).union_all(select(*parts[1].c)).subquery("ranked")
    if columns:
        shown = [merged.c[column.key] for column in columns]
    else:
        shown = [aliased(Task, merged, adapt_on_names=True)]
    return ordered(select(*shown), options, merged.c[RANK], source=merged.c)


def _query(prefs: dict, kind, options, *columns):
    """The query for a volunteer with these preferences (only their keys shape it)."""
    if not prefs:
        return ordered(open_tasks(kind, *columns), options)
    return _matching_first(tuple(prefs), kind, options, *columns)


def user_pref(db, project, participant, options):
    """Unfinished tasks this volunteer has not answered, those matching their profile first."""
    prefs = preferences(participant.user)
    query = paged(_query(prefs, kind_of(participant), options))
    values = {**parameters(project, participant, options), **values_of(prefs)}
    return list(db.scalars(query, values))


def _their_preferences():
    # Aliased: on a known project the lean path puts the api key's owner (a sub-select of the
    # user table) in place of :who, which must not be correlated with this query's own table.
    account = aliased(User)
    return select(account.user_pref).where(account.id == bindparam("who"))


def _lean(store, project, participant, options):
    prefs = {}
    if participant.user is not None:
        # The first statement: on a project served before it also reads the project and the
        # caller (LeanForm.carries), who is known once admitted.
        who = {"who": participant.user.id, "project_id": project.id}
        found = store.rows(("user_pref of",), _their_preferences, who)
        participant = store.admit(participant)
        if participant is None:
            return None  # the application answers
        prefs = preferences_in(found[0]["user_pref"]) if found else {}
    kind = kind_of(participant)
    key = ("user_pref", tuple(prefs), kind, options.orderby, options.desc, options.spare is None)
    values = {**parameters(project, participant, options), **values_of(prefs)}
    columns = shown(options)
    return store.rows(key, lambda: paged(_query(prefs, kind, options, *columns)), values)


@hookimpl
def crowdnest_schedulers():
    # `carries`: its first statement reads the volunteer only as :who (core.delivery.CarryCaller);
    # their preferences, read by it, shape the second.
    return {"user_pref": Scheduler(user_pref, LeanForm(_lean, carries=True), pending=True)}
