"""The rules of an account's name, e-mail address, full name and language.

One set, used by the web forms (register, profile) and by `PUT /api/user` (decision 16), so a
value the profile page refuses cannot come in through the API.
"""

import unicodedata

import colander
from sqlalchemy import func, select

from core.models import User

FORBIDDEN_NAME_CHARS = "$#&\\/| "
# Names that would shadow an /account/<name> route.
RESERVED_NAMES = frozenset(
    [
        "register",
        "signin",
        "signout",
        "profile",
        "forgot-password",
        "reset-password",
        "confirm-email",
        "newsletter",
        "page",
        "search",
        "static",
        "api",
        "admin",
        "account",
    ]
)
NAME_LENGTH = "User name must be between 3 and 35 characters long"
FULLNAME_LENGTH = "Full name must be between 3 and 35 characters long"
FORBIDDEN_NAME = "$#&\\/| and space symbols are forbidden"
STRONG_PASSWORD = (
    "Password must be 8 to 15 characters long and contain an upper-case letter, a lower-case"
    " letter, a digit and a symbol"
)
INVISIBLE = "Invisible and control characters are not allowed"


def _visible(node, value):
    # Names end up in URLs and pages: no spaces of any kind, no control, format or
    # direction marks (a right-to-left mark makes one name look like another).
    if any(char != " " and unicodedata.category(char)[0] in "CZ" for char in value):
        raise colander.Invalid(node, INVISIBLE)


def _forbidden_chars(node, value):
    if any(char in FORBIDDEN_NAME_CHARS for char in value):
        raise colander.Invalid(node, FORBIDDEN_NAME)


def _not_reserved(node, value):
    if value.lower() in RESERVED_NAMES:
        raise colander.Invalid(node, "This name is used by the system.")


def _strong(node, value):
    classes = (str.isupper, str.islower, str.isdigit, lambda char: not char.isalnum())
    if not 8 <= len(value) <= 15 or not all(any(map(test, value)) for test in classes):
        raise colander.Invalid(node, STRONG_PASSWORD)


def password_validator(settings):
    """A new password's rule: PYBOSSA's strong policy (ENABLE_STRONG_PASSWORD) when
    `account.strong_password` is on, else none beyond being given."""
    return _strong if settings["account.strong_password"] else None


def name_validator(db=None, user_id: int | None = None):
    """Length, characters and reserved words of a user name; with `db`, others' names too."""

    def free(node, value):
        if taken(db, User.name, value, user_id):
            raise colander.Invalid(node, "The user name is already taken")

    length = colander.Length(3, 35, min_err=NAME_LENGTH, max_err=NAME_LENGTH)
    rules = [length, _forbidden_chars, _visible, _not_reserved]
    return colander.All(*rules, *([free] if db is not None else []))


def email_validator(db=None, user_id: int | None = None):
    """Format and length of an e-mail address; with `db`, others' addresses too."""

    def free(node, value):
        if taken(db, User.email_addr, value, user_id):
            raise colander.Invalid(node, "The e-mail is already taken")

    length = colander.Length(max=254, max_err="Email must be at most 254 characters long")
    rules = [length, colander.Email(msg="Invalid email address.")]
    return colander.All(*rules, *([free] if db is not None else []))


def fullname_validator():
    return colander.Length(3, 35, min_err=FULLNAME_LENGTH, max_err=FULLNAME_LENGTH)


def locale_validator(locales: list[str]):
    """One of the languages the profile offers (`account.locales`)."""
    return colander.OneOf(locales, msg_err="Not a valid choice")


def account_field_errors(values: dict, locales: list[str]) -> dict[str, str]:
    """Errors by field for the `name`, `email_addr` and `locale` present in `values`."""
    rules = {
        "name": name_validator(),
        "email_addr": email_validator(),
        "locale": locale_validator(locales),
    }
    errors = {}
    for field, rule in rules.items():
        if field not in values:
            continue
        node = colander.SchemaNode(colander.String(), name=field)
        value = values[field]
        try:
            if not isinstance(value, str):
                raise colander.Invalid(node, f"{value!r} is not a string")
            rule(node, value)
        except colander.Invalid as invalid:
            errors[field] = "; ".join(invalid.messages())
    return errors


def taken(db, column, value: str, user_id: int | None = None) -> bool:
    """True when another account uses `value` in `column` (any letter case)."""
    query = select(User.id).where(func.lower(column) == value.lower())
    if user_id is not None:
        query = query.where(User.id != user_id)
    return db.scalar(query.limit(1)) is not None
