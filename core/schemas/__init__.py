"""colander schemas for request bodies, derived from each model's columns.

The types are strict: a float with a fraction is not an integer, a boolean is not a number,
`null` is accepted only where the column is nullable. A numeric string is a number, as PYBOSSA on
PostgreSQL takes it (`pbs` sends `"n_answers": "2"`); any other string is not.
Unknown keys are refused by the API layer before the schema runs (PYBOSSA's 415 TypeError).
"""

import re
from functools import lru_cache
from urllib.parse import urlsplit

import colander
from sqlalchemy import JSON, Boolean, Float, Integer, String, Text

from core.inputs import INT_MAX, INT_MIN, storable


class _Strict(colander.SchemaType):
    nullable = True

    def serialize(self, node, appstruct):
        return appstruct

    def deserialize(self, node, cstruct):
        if cstruct is colander.null:
            return colander.null
        if cstruct is None:
            if self.nullable:
                return None
            raise colander.Invalid(node, "may not be null")
        return self.check(node, cstruct)


# What PostgreSQL accepts as the text of an integer and of a float: ASCII digits (a str
# pattern's \d and \s take every Unicode digit and space, which PostgreSQL refuses), ASCII
# spaces around.
INTEGER_TEXT = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+[ \t\n\v\f\r]*")
FLOAT_TEXT = re.compile(
    r"[ \t\n\v\f\r]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t\n\v\f\r]*"
)
# Longer numeric text is no number a column holds (int() refuses 4,300 digits and more).
MAX_NUMBER_TEXT = 100


def _number_of(value, pattern, convert):
    """A numeric string as its number; anything else unchanged (the caller refuses it)."""
    if isinstance(value, str) and len(value) <= MAX_NUMBER_TEXT and pattern.fullmatch(value):
        return convert(value)
    return value


class StrictInt(_Strict):
    def check(self, node, value):
        value = _number_of(value, INTEGER_TEXT, int)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise colander.Invalid(node, f"{value!r} is not an integer")
        if isinstance(value, float) and not value.is_integer():
            raise colander.Invalid(node, f"{value!r} is not an integer")
        if not INT_MIN <= value <= INT_MAX:
            raise colander.Invalid(node, f"{value!r} is out of range")
        return int(value)


class StrictFloat(_Strict):
    def check(self, node, value):
        value = _number_of(value, FLOAT_TEXT, float)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise colander.Invalid(node, f"{value!r} is not a number")
        if value != value or value in (float("inf"), float("-inf")):
            raise colander.Invalid(node, f"{value!r} is not a finite number")
        return float(value)


class StrictBool(_Strict):
    def check(self, node, value):
        if not isinstance(value, bool):
            raise colander.Invalid(node, f"{value!r} is not a boolean")
        return value


class StrictText(_Strict):
    def __init__(self, max_length=None):
        self.max_length = max_length

    def check(self, node, value):
        if not isinstance(value, str):
            raise colander.Invalid(node, f"{value!r} is not a string")
        if not storable(value):
            raise colander.Invalid(node, "NUL characters and lone surrogates are not allowed")
        if self.max_length and len(value) > self.max_length:
            raise colander.Invalid(node, f"longer than {self.max_length} characters")
        return value


class AnyJSON(_Strict):
    def check(self, node, value):
        return value


class IntList(_Strict):
    def check(self, node, value):
        if not isinstance(value, list):
            raise colander.Invalid(node, f"{value!r} is not a list of integers")
        return [StrictInt().check(node, item) for item in value]


# A project's short name is a URL path segment and a file name: letters, digits, - and _
# (no slash, dot, markup, space or invisible character). The web form uses the same rule.
SHORT_NAME = re.compile(r"[A-Za-z0-9_-]+")
SHORT_NAME_MESSAGE = "Only letters, digits, - and _ are allowed"
# A task needs at least one answer, and at most PYBOSSA's redundancy page's bound (behavior.md
# 9.4): one limit for the API, the importers and that page.
MAX_N_ANSWERS = 1_000


def short_name_valid(node, value) -> None:
    """The short-name rule, as a colander validator."""
    if value is not None and not SHORT_NAME.fullmatch(value):
        raise colander.Invalid(node, SHORT_NAME_MESSAGE)


def n_answers_valid(node, value) -> None:
    """1 <= n_answers <= MAX_N_ANSWERS, as a colander validator."""
    if value is not None and not 1 <= value <= MAX_N_ANSWERS:
        raise colander.Invalid(node, f"must be between 1 and {MAX_N_ANSWERS}")


def is_web_url(value) -> bool:
    """Whether `value` is an http(s) URL with a host (never javascript: and the like)."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def web_url_valid(node, value) -> None:
    """is_web_url as a colander validator."""
    if value is not None and not is_web_url(value):
        raise colander.Invalid(node, "Invalid URL.")


# Rules beyond the column's type, by (table, column): the API and the task importer apply them.
FIELD_VALIDATORS = {
    ("project", "short_name"): short_name_valid,
    ("task", "n_answers"): n_answers_valid,
    # Shown as a link on /announcements.
    ("announcement", "media_url"): web_url_valid,
}


def _type_for(column):
    column_type = column.type
    if isinstance(column_type, Boolean):
        node_type = StrictBool()
    elif isinstance(column_type, Integer):
        node_type = StrictInt()
    elif isinstance(column_type, Float):
        node_type = StrictFloat()
    elif isinstance(column_type, (String, Text)):
        node_type = StrictText(getattr(column_type, "length", None))
    elif isinstance(column_type, JSON) or hasattr(column_type, "impl"):
        node_type = AnyJSON()
    else:
        node_type = AnyJSON()
    node_type.nullable = column.nullable
    return node_type


@lru_cache(maxsize=128)
def body_schema(model, fields: tuple, extra_nodes: tuple = ()) -> colander.MappingSchema:
    """A mapping schema with one optional node per writable field of `model`.

    Built once per model and field set: deserializing does not change a schema, and the task-run
    POST is a hot path.
    """
    schema = colander.MappingSchema(unknown="raise")
    columns = model.__table__.columns
    for name in fields:
        if name in columns:
            node_type = _type_for(columns[name])
        elif name.endswith("_ids"):
            node_type = IntList()
        else:
            node_type = AnyJSON()
        validator = FIELD_VALIDATORS.get((model.__tablename__, name))
        schema.add(
            colander.SchemaNode(node_type, name=name, missing=colander.drop, validator=validator)
        )
    for node in extra_nodes:
        schema.add(node)
    return schema
