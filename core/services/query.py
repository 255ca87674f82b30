"""The list and search semantics of the API (behavior.md section 3), as SQL.

Domain code: knows nothing of HTTP; it takes the query parameters as a dict and raises
DomainError with PYBOSSA's exception class names. No SQL is built from user strings: every
value is a bound parameter and every column name is checked against the model.
"""

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from types import SimpleNamespace

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    Integer,
    String,
    and_,
    any_,
    bindparam,
    case,
    false,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, aggregate_order_by
from sqlalchemy.sql import sqltypes

from core.db import read, reads_alone
from core.errors import DomainError
from core.inputs import INT_MAX, check_document, parse_int
from core.models import Favorite, Project, ProjectOwner, Result, Task, TaskRun, internal_columns
from core.models.clauses import one_project, owned_project_ids
from core.security import OWNED
from core.services.permissions import is_admin, readable_clause
from core.services.readable import Listed, Readable, readable

SPECIAL_KEYS = {
    "limit",
    "offset",
    "api_key",
    "last_id",
    "all",
    "fulltextsearch",
    "desc",
    "orderby",
    "related",
    "participated",
    "full",
    "stats",
    "callback",
    "response_format",
    # jQuery's cache-buster (`$.ajax({cache: false})` in task presenters): ignored.
    "_",
}
PROJECT_SCOPED = {"task", "task_run", "result", "blogpost", "helpingmaterial", "page"}
# Models listed as plain rows (see build_list_query), and the id lists gathered into each row
# by a subquery rather than a second query: key -> (id column, foreign key column).
ROW_LISTED = {Task, TaskRun, Result, Project}
ID_LISTS = {
    Task: ("fav_user_ids", Favorite.user_id, Favorite.task_id),
    Project: ("owners_ids", ProjectOwner.user_id, ProjectOwner.project_id),
}
MAX_LIMIT = 100
DEFERRED_JOIN_OFFSET = 1000
DEFAULT_LIMIT = 20
TRUE_WORDS = {"true", "yes", "on", "y", "1", "t"}
FALSE_WORDS = {"false", "no", "off", "n", "0", "f", ""}


def fuzzy_bool(value: str, name: str = "desc") -> bool:
    word = (value or "").strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise DomainError("ValueError", f"Invalid value for {name}: {value!r}")


def no_attribute(model, key: str) -> DomainError:
    return DomainError(
        "AttributeError", f"type object '{model.__name__}' has no attribute '{key}'"
    )


@dataclass
class Listing:
    """What the caller asked for, once parsed: the serializer reads the flags."""

    model: object = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    related: bool = False
    stats: bool = False
    full: bool = False
    fulltext_keys: list = field(default_factory=list)
    # The bound values of a statement taken from the shape cache (see shaped_list_query).
    values: dict | None = None
    shape: tuple | None = None
    # The caller asked for their own objects and owns no project: the page is empty.
    nothing: bool = False


def _int(value: str, name: str, default: int | None = None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        if default is not None:
            return default
        raise DomainError(
            "DataError", f"invalid input syntax for type integer: {value!r} ({name})"
        ) from None


def column_of(model, key: str, shown: Readable | None = None):
    """The column `key` of `model`; one the caller may not read is unknown (decision 17)."""
    column = model.__table__.columns.get(key)
    if column is None or key in internal_columns(model):
        raise no_attribute(model, key)
    if shown is not None and key not in shown.columns:
        raise no_attribute(model, key)
    return column


def coerce_value(model, key: str, raw: str):
    """Turn a query-string value into the column's type, or refuse with 415 DataError."""
    column = column_of(model, key)
    column_type = column.type
    if isinstance(column_type, Boolean):
        try:
            return fuzzy_bool(raw, key)
        except DomainError:
            raise DomainError(
                "DataError", f"invalid input syntax for type boolean: {raw!r}"
            ) from None
    if isinstance(column_type, Integer):
        return parse_int(raw, key)
    if isinstance(column_type, Float):
        try:
            return float(raw)
        except ValueError:
            raise DomainError(
                "DataError", f"invalid input syntax for type double precision: {raw!r}"
            ) from None
    return raw


def _info_pairs(value: str):
    for pair in value.split("|"):
        if "::" not in pair:
            continue
        key, _, text = pair.partition("::")
        if key:
            yield key, text


def info_clauses(
    model, value: str, dialect: str, fulltext: bool, language: str, shown, max_depth=64
):
    """`info=key::value|...`, JSON containment, or full-text search on info keys.

    A key the caller may not read (`shown`) is searched as a key no object has: its text is
    NULL, so it matches nothing, exactly as an unknown key (decision 17).
    """
    info = model.info
    if "::" in value:
        clauses, ranking = [], None
        for key, text in _info_pairs(value):
            if shown.info_key(key):
                field_text = (
                    info[key].as_string() if pathable(key, dialect) else member(info, key)[0]
                )
            else:
                key, field_text = None, null().cast(String)
            if fulltext:
                clause, rank = fulltext_clause(model, key, field_text, text, dialect, language)
                clauses.append(clause)
                ranking = ranking or rank
            else:
                clauses.append(field_text == text)
        return clauses, ranking
    try:
        wanted = check_document(json.loads(value), max_depth, "info")
    except ValueError:
        wanted = value
    except RecursionError:
        raise DomainError("ValueError", "Invalid JSON: nested too deeply (info)") from None
    if not isinstance(wanted, dict):
        wanted = str(wanted) if not isinstance(wanted, str) else wanted
    elif not all(shown.info_key(key) for key in wanted):
        # Contained in no object, as a key none has.
        return [false()], None
    if dialect == "postgresql":
        return [sql_cast(info, JSONB).op("@>")(sql_cast(literal(json.dumps(wanted)), JSONB))], None
    if isinstance(wanted, dict):
        clauses = [
            (
                info.op("->")(literal(f'$."{key}"'))
                if pathable(key, dialect)
                else member(info, key)[1]
            )
            == func.json(literal(json.dumps(item, separators=(",", ":"))))
            for key, item in wanted.items()
        ]
        return clauses, None
    return [func.json_quote(literal(wanted)) == func.json(info)], None


def pathable(key: str, dialect: str) -> bool:
    """False for a key no SQLite JSON path can name (a quote or backslash ends its label)."""
    return dialect != "sqlite" or ('"' not in key and "\\" not in key)


def member(info, key: str):
    """(text, JSON text) of `info`'s `key` on SQLite, found by json_each rather than a path."""
    entries = func.json_each(info).table_valued("key", "value", "type")
    kind, value = entries.c.type, entries.c.value
    as_json = case(
        (kind.in_(("true", "false", "null")), kind),
        (kind.in_(("object", "array")), func.json(value)),
        else_=func.json_quote(value),
    )
    found = entries.c.key == key
    return (
        select(sql_cast(value, sqltypes.String)).where(found).scalar_subquery(),
        select(as_json).where(found).scalar_subquery(),
    )


def fulltext_clause(model, key, field_text, query_text: str, dialect: str, language: str):
    """PostgreSQL text search on one info key; returns (match clause, (headline, rank))."""
    if dialect != "postgresql":
        from core.services.fulltext import sqlite_fulltext

        return sqlite_fulltext(model, key, query_text)
    query = func.to_tsquery(language, query_text)
    vector = func.to_tsvector(language, field_text)
    headline = func.ts_headline(language, field_text, query)
    rank = func.ts_rank_cd(vector, query, 4)
    return vector.op("@@")(query), (headline, rank)


def parse_listing(model, params: dict, shown: Readable) -> tuple[Listing, bool, str]:
    """Check the keys, then read limit, offset, the flags, desc and orderby, in that order."""
    for key in params:
        if key not in SPECIAL_KEYS and key not in extra_keys(model):
            column_of(model, key, shown)

    listing = Listing(model=model)
    raw_limit = params.get("limit")
    listing.limit = min(MAX_LIMIT, _int(raw_limit, "limit", DEFAULT_LIMIT)) if raw_limit else 20
    if listing.limit < 0:
        raise DomainError("DataError", "LIMIT must not be negative")
    listing.offset = _int(params.get("offset"), "offset", 0) if params.get("offset") else 0
    if listing.offset < 0:
        raise DomainError("DataError", "OFFSET must not be negative")
    if listing.offset > INT_MAX:
        raise DomainError("DataError", "OFFSET out of range")
    listing.related = bool(params.get("related"))
    listing.stats = bool(params.get("stats"))
    listing.full = bool(params.get("full"))
    descending = fuzzy_bool(params.get("desc", ""))
    return listing, descending, params.get("orderby") or "id"


def extra_keys(model) -> set:
    # Tasks tolerate external_uid (participated) and fav_user_ids (silently ignored).
    return {"external_uid", "fav_user_ids"} if model is Task else set()


def caller_scope(model, params: dict, user) -> tuple[bool, bool]:
    """(own objects only, privileged) of a list request: a signed-in caller sees the objects
    of their own projects unless `all=1` or `participated`; private fields are usable only
    when the caller may read them on every row the query can return: an admin's, or an
    owner's listing of their own projects."""
    participated = bool(params.get("participated")) and model is Task
    use_context = user is not None and params.get("all") != "1" and not participated
    return use_context, is_admin(user) or (use_context and model is Project)


def scoped_to_owner(model) -> bool:
    """Is a signed-in caller's own-objects list of `model` limited to their projects?"""
    return model is Project or model.__tablename__ in PROJECT_SCOPED


def caller_stand_in(admin: bool) -> SimpleNamespace:
    """A signed-in caller in a statement built once: their id a bound parameter."""
    return SimpleNamespace(id=bindparam("caller_id", type_=Integer), admin=admin)


@lru_cache(maxsize=1)
def _owned_select():
    return owned_project_ids(caller_stand_in(False))


def owned_ids(db, user) -> list[int]:
    """The ids of the projects `user` owns or co-owns (a few, by an index)."""
    known = db.info.get(OWNED)
    if known is not None and known[0] == user.id and reads_alone(db):
        # Read with the api key's account, outside the session, which has written nothing.
        return list(known[1])
    _keys, rows = read(db, _owned_select(), {"caller_id": user.id})
    return [project_id for (project_id,) in rows]


def build_list_query(db, model, params: dict, user, user_ip: str, settings: dict):
    """The SELECT for a list request, and the parsed Listing; refuses bad parameters."""
    dialect = db.get_bind().dialect.name
    shaped = shaped_list_query(db, model, params, user, settings)
    if shaped is not None:
        return shaped
    extra_allowed = extra_keys(model)
    participated = bool(params.get("participated")) and model is Task
    use_context, privileged = caller_scope(model, params, user)
    shown = readable(model, settings, privileged)
    listing, descending, orderby = parse_listing(model, params, shown)
    if model is Task and orderby == "fav_user_ids":
        favourites = (
            select(func.count())
            .select_from(Favorite)
            .where(Favorite.task_id == Task.id)
            .scalar_subquery()
        )
        order_column = favourites
    else:
        order_column = column_of(model, orderby, shown)

    # Lists of plain records skip ORM identity bookkeeping; projects and users keep their
    # objects, whose shaping needs relationships.
    if model in ROW_LISTED:
        visible = [c for c in model.__table__.columns if c.key not in internal_columns(model)]
        if model in ID_LISTS:
            key, id_column, parent_column = ID_LISTS[model]
            visible.append(id_list(dialect, id_column, parent_column == model.id).label(key))
        query = select(*visible)
    else:
        query = select(model)
    query = query.where(readable_clause(model, user))
    if model is Result and "last_version" not in params:
        query = query.where(Result.last_version)
    if shown.open_columns.intersection((*params, orderby)):
        # Fields shown only on some rows: the query returns only those rows.
        query = query.where(shown.open_rows)

    if use_context and scoped_to_owner(model):
        # The caller's own projects, read first (a few ids by an index): a caller who owns none
        # gets an empty page at once, and the planner sees the ids themselves instead of
        # walking the project's rows against a subquery (issue 19).
        owned = owned_ids(db, user)
        column = Project.id if model is Project else model.project_id
        query = query.where(column.in_(owned) if owned else false())

    if participated:
        answered = select(TaskRun.task_id).where(
            participant_clause(user, params.get("external_uid"), user_ip)
        )
        query = query.where(Task.id.not_in(answered))

    ranking = None
    fulltext = params.get("fulltextsearch") == "1"
    for key, raw in params.items():
        if key in SPECIAL_KEYS or key in extra_allowed:
            continue
        if key == "info":
            clauses, ranking = info_clauses(
                model,
                raw,
                dialect,
                fulltext,
                settings["fulltextsearch.language"],
                shown,
                settings["request.max_json_depth"],
            )
            query = query.where(and_(*clauses))
        elif key == "project_id":
            ids = [parse_int(digits, key) for digits in re.findall(r"\d+", raw)]
            if not ids:
                raise DomainError("DataError", f"invalid input syntax for type integer: {raw!r}")
            query = query.where(model.project_id.in_(ids))
        elif key == "created":
            query = query.where(model.created.startswith(raw, autoescape=True))
        elif isinstance(column_of(model, key).type, sqltypes.JSON):
            raise DomainError("DataError", f"Use info=key::value to filter on {key}")
        else:
            query = query.where(column_of(model, key) == coerce_value(model, key, raw))

    if params.get("last_id"):
        query = query.where(model.id > parse_int(params["last_id"], "last_id"))
        descending = False
        listing.offset = 0

    if ranking is not None:
        headline, rank = ranking
        query = query.add_columns(headline.label("headline"), rank.label("rank"))
        query = query.order_by(rank.desc())
        listing.fulltext_keys = ["headline", "rank"]
    query = query.order_by(order_column.desc() if descending else order_column.asc())
    if orderby != "id":
        query = query.order_by(model.id.desc() if descending else model.id.asc())
    query = query.limit(listing.limit).offset(listing.offset)
    if listing.offset > DEFERRED_JOIN_OFFSET and ranking is None:
        # Deep pages: find the page's ids first (an index walk), then read only those rows.
        page_ids = query.with_only_columns(model.id)
        query = query.limit(None).offset(None).where(model.id.in_(page_ids.scalar_subquery()))
    return query, listing


# -- the shape cache ---------------------------------------------------------------------------
#
# Most list requests differ only in their values: /api/task?project_id=1&limit=100&last_id=N.
# Building their SELECT and its cache key costs more than running it, so a plain request
# (column equality filters, limit, offset, last_id, desc, orderby, all), anonymous or signed
# in, is served by a SELECT built once per shape, whose every value (the caller's id and owned
# project ids too) is a named bound parameter. Anything else (info, full-text search,
# participated, created) takes the general path. Both build their clauses with the same
# functions (readable_clause, caller_scope, owned_ids, parse_listing, coerce_value).

UNSHAPED_KEYS = {"info", "created", "fulltextsearch", "participated"}


def shaped_list_query(db, model, params: dict, user, settings: dict):
    """(SELECT, Listing with its bound values) from the shape cache, or None if not served."""
    if model not in ROW_LISTED or params.get("orderby") == "fav_user_ids":
        return None
    use_context, privileged = caller_scope(model, params, user)
    shown = readable(model, settings, privileged)
    if shown.open_columns:
        return None
    columns = model.__table__.columns
    for key in params:
        if key in UNSHAPED_KEYS:
            return None
        if key in SPECIAL_KEYS:
            continue
        column = columns.get(key)
        # Unknown, internal, unreadable and JSON keys: the general path refuses them with its
        # own words.
        if column is None or key not in shown.columns or isinstance(column.type, JSON):
            return None

    # The same checks, in the same order, as the general path.
    listing, descending, orderby = parse_listing(model, params, shown)
    column_of(model, orderby, shown)
    values, filters = {}, []
    for key, raw in params.items():
        if key in SPECIAL_KEYS:
            continue
        if key == "project_id":
            ids = [parse_int(digits, key) for digits in re.findall(r"\d+", raw)]
            if not ids:
                raise DomainError("DataError", f"invalid input syntax for type integer: {raw!r}")
            if len(ids) == 1:
                values["project_id"] = ids[0]
            else:
                values["project_ids"] = ids
            filters.append((key, len(ids) > 1))
        else:
            values[f"value_{key}"] = coerce_value(model, key, raw)
            filters.append((key, False))
    after = bool(params.get("last_id"))
    if after:
        values["last_id"] = parse_int(params["last_id"], "last_id")
        descending = False
        listing.offset = 0
    values["limit"], values["offset"] = listing.limit, listing.offset
    deep = listing.offset > DEFERRED_JOIN_OFFSET
    caller = None if user is None else ("admin" if is_admin(user) else "user")
    if user is not None:
        values["caller_id"] = user.id
    context = use_context and scoped_to_owner(model)
    if context:
        values["owned"] = owned_ids(db, user)
        listing.nothing = not values["owned"]
    dialect = db.get_bind().dialect.name
    listing.shape = (
        dialect,
        model,
        tuple(sorted(filters)),
        orderby,
        descending,
        after,
        deep,
        caller,
        context,
    )
    query = shaped_select(*listing.shape)
    listing.values = values
    return query, listing


@lru_cache(maxsize=512)
def shaped_select(dialect, model, filters, orderby, descending, after, deep, caller, context):
    """The SELECT of one shape of list request; values are bound at execution, by name.

    `caller`: None (anonymous), "user" or "admin", whose id is bound as `caller_id`;
    `context`: only the objects of the projects whose ids are bound as `owned`."""
    visible = [c for c in model.__table__.columns if c.key not in internal_columns(model)]
    if model in ID_LISTS:
        key, id_column, parent_column = ID_LISTS[model]
        visible.append(id_list(dialect, id_column, parent_column == model.id).label(key))
    who = None if caller is None else caller_stand_in(caller == "admin")
    query = select(*visible).where(readable_clause(model, who))
    if context:
        column = Project.id if model is Project else model.project_id
        if dialect == "postgresql":
            # One array parameter: one statement text (and one prepared plan) for every caller.
            owned = any_(sql_cast(bindparam("owned"), ARRAY(Integer)))
            query = query.where(column == owned)
        else:
            query = query.where(column.in_(bindparam("owned", expanding=True)))
    if model is Result and "last_version" not in {key for key, _ in filters}:
        query = query.where(Result.last_version)
    for key, several in filters:
        if key == "project_id" and several:
            query = query.where(model.project_id.in_(bindparam("project_ids", expanding=True)))
        elif key == "project_id":
            # With ORDER BY project_id first (below): the project's own index entries are read
            # in order, never the whole table's id index (core.models.clauses.OneProject).
            query = query.where(one_project(model.project_id))
        else:
            query = query.where(model.__table__.columns[key] == bindparam(f"value_{key}"))
    if after:
        query = query.where(model.id > bindparam("last_id"))
    if ("project_id", False) in filters and orderby != "project_id":
        # One project: ordering by its id first changes no answer (see the filter above).
        query = query.order_by(model.project_id.desc() if descending else model.project_id)
    order_column = model.__table__.columns[orderby]
    query = query.order_by(order_column.desc() if descending else order_column.asc())
    if orderby != "id":
        query = query.order_by(model.id.desc() if descending else model.id.asc())
    limit, offset = bindparam("limit", type_=Integer), bindparam("offset", type_=Integer)
    query = query.limit(limit).offset(offset)
    if deep:
        page_ids = query.with_only_columns(model.id)
        query = query.limit(None).offset(None).where(model.id.in_(page_ids.scalar_subquery()))
    return query


def participant_clause(user, external_uid, user_ip):
    """Task runs made by this volunteer: user id, else external uid, else pseudonymised IP."""
    if user is not None:
        return TaskRun.user_id == user.id
    if external_uid:
        return TaskRun.external_uid == external_uid
    return and_(TaskRun.user_ip == user_ip, TaskRun.user_id.is_(None))


def id_list(dialect: str, column, where):
    """A correlated subquery gathering `column` of the matching rows as a JSON array."""
    if dialect == "postgresql":
        gathered = func.json_agg(aggregate_order_by(column, column), type_=JSON)
    else:
        gathered = func.json_group_array(column, type_=JSON)
    return select(gathered).where(where).scalar_subquery()


def _finish(model, values: dict) -> dict:
    """Normalise the gathered id lists as the serializer shows them."""
    if model is Task:
        values["fav_user_ids"] = sorted(values["fav_user_ids"] or []) or None
    elif model is Project:
        owner = values["owner_id"]
        values["owners_ids"] = [owner, *sorted(set(values["owners_ids"] or []) - {owner})]
    return values


def _finish_page(model, page: list) -> None:
    """_finish() over a page of listed rows, one loop per model."""
    if model is Task:
        for listed in page:
            values = listed.values
            favourites = values["fav_user_ids"]
            values["fav_user_ids"] = sorted(favourites) if favourites else None
    elif model is Project:
        for listed in page:
            _finish(model, listed.values)


def run_list(db, query, listing):
    """Execute; a database refusal of the caller's text (a bad tsquery) is a 415, not a 500."""
    from sqlalchemy.exc import DBAPIError

    def fetch():
        if listing.nothing:
            return []
        if listing.model not in ROW_LISTED:
            if listing.fulltext_keys:
                rows = db.execute(query).all()
                return [(row[0], {"headline": row[1], "rank": row[2]}) for row in rows]
            return [(obj, {}) for obj in db.scalars(query).all()]
        keys, rows = read(db, query, listing.values, built_once=listing.shape is not None)
        model, fulltext_keys = listing.model, listing.fulltext_keys
        if not fulltext_keys:
            found = [Listed(model, dict(zip(keys, row, strict=True))) for row in rows]
            _finish_page(model, found)
            return [(listed, None) for listed in found]
        found = []
        for row in rows:
            values = dict(zip(keys, row, strict=True))
            ranking = {key: values.pop(key) for key in fulltext_keys}
            found.append((Listed(model, _finish(model, values)), ranking))
        return found

    if not listing.fulltext_keys or db.get_bind().dialect.name != "postgresql":
        return fetch()
    try:
        # A savepoint keeps the transaction usable after PostgreSQL refuses the query.
        with db.begin_nested():
            return fetch()
    except DBAPIError as error:
        raise DomainError("DataError", str(error.orig).splitlines()[0]) from None


__all__ = ["Listed", "build_list_query", "fuzzy_bool", "or_", "participant_clause", "run_list"]
