"""Web forms over colander schemas: submitted values to echo, errors per field, the CSRF token."""

import math

import colander
from pyramid.csrf import get_csrf_token

TRUE_WORDS = {"y", "yes", "on", "true", "1"}
FALSE_WORDS = {"", "n", "no", "off", "false", "0"}


class Checkbox(colander.SchemaType):
    """A boolean as browsers send it (absent or "y"/"on") and as JSON clients send it."""

    def serialize(self, node, appstruct):
        return bool(appstruct) if appstruct is not colander.null else False

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct is None:
            return False
        if isinstance(cstruct, bool):
            return cstruct
        word = str(cstruct).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise colander.Invalid(node, "Not a valid choice")


def text(name: str, required: str | None = None, validator=None, **kw) -> colander.SchemaNode:
    """A string field; `required` is the message shown when it is missing or empty."""
    if required is not None:
        return colander.SchemaNode(
            colander.String(), name=name, missing_msg=required, validator=validator, **kw
        )
    return colander.SchemaNode(
        colander.String(), name=name, missing=None, validator=validator, **kw
    )


def checkbox(name: str) -> colander.SchemaNode:
    return colander.SchemaNode(Checkbox(), name=name, missing=False)


def crop_corner(name: str) -> colander.SchemaNode:
    """A coordinate of an image crop, in pixels: crop tools send fractions; 0 when absent."""

    def finite(node, value):
        # colander's Float takes "nan" and "inf", which no whole pixel count can hold.
        if not math.isfinite(value) or value < 0:
            raise colander.Invalid(node, "Must be a number of pixels, 0 or more")

    return colander.SchemaNode(colander.Float(), name=name, missing=0, validator=finite)


def forbidden_chars(characters: str, message: str):
    """A validator refusing any of `characters` in the value."""

    def validate(node, value):
        if any(char in characters for char in value):
            raise colander.Invalid(node, message)

    return validate


def _words(invalid: colander.Invalid) -> list[str]:
    """The messages with colander's placeholders filled in (its own messages are templates:
    "${val} is not a string: ${err}")."""
    return [
        message.interpolate() if hasattr(message, "interpolate") else str(message)
        for message in invalid.messages()
    ]


class Form:
    """A schema bound to submitted data; `valid()` fills `errors` or returns clean values."""

    # Fields whose submitted value is never sent back (passwords).
    secret = ("password", "confirm")

    def __init__(self, schema: colander.Schema, data: dict | None = None, **initial):
        self.schema = schema
        self.fields = [node.name for node in schema.children]
        submitted = data or {}
        self.data = {name: submitted.get(name, initial.get(name)) for name in self.fields}
        self.errors: dict[str, list[str]] = {}
        # Choices for <select> fields, for the HTML page only.
        self.choices: dict[str, list[tuple]] = {}

    def valid(self) -> dict | None:
        """The deserialized values, or None with `errors` filled in."""
        cstruct = {
            name: colander.null if value is None else value for name, value in self.data.items()
        }
        try:
            return self.schema.deserialize(cstruct)
        except colander.Invalid as invalid:
            for child in invalid.children:
                self.errors.setdefault(child.node.name, []).extend(_words(child))
            if not invalid.children:
                self.errors.setdefault("form", []).extend(_words(invalid))
            return None

    def add_error(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def value(self, name: str):
        """The value to show in the form field (secrets are never shown)."""
        return None if name in self.secret else self.data.get(name)

    def serialize(self, request) -> dict:
        """The JSON form: each field's value, then errors and csrf (behavior.md 9.1)."""
        body = {name: self.value(name) for name in self.fields}
        body["errors"] = self.errors
        body["csrf"] = get_csrf_token(request)
        return body
