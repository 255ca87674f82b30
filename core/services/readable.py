"""What a caller may read of each model (decision 17): the one definition that answers
(core.serializers) and list queries (core.services.query: filters, orderby, info, full-text)
follow."""

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import false

from core.models import Project, User, internal_columns

PROJECT_PRIVATE = {
    "secret_key",
    "webhook",
    "published",
    "allow_anonymous_contributors",
    "zip_download",
    "contacted",
}
PROJECT_PUBLIC_INFO = {
    "container",
    "thumbnail",
    "thumbnail_url",
    "task_presenter",
    "tutorial",
    "sched",
}
PROJECT_SECRET_INFO = {"passwd_hash"}
USER_PUBLIC_INFO = {"avatar", "container", "extra", "avatar_url"}
# A user as they and admins see them through /api/user (behavior.md 1.5).
USER_SELF_FIELDS = ("id", "created", "name", "fullname", "email_addr", "info", "locale")
# A user as anyone else sees them; USER_OPEN_FIELDS only when privacy_mode is off.
USER_PUBLIC_FIELDS = ("name", "locale")
USER_OPEN_FIELDS = ("fullname", "created", "info")
# What a query may also use of anyone's account, though /api/user does not show it: ids are
# public all over the API (owner_id, owners_ids, a task run's user_id), and privacy_mode is
# plain from the shape of the answer (a private profile shows only name and locale).
USER_QUERYABLE = ("id", "privacy_mode")
# An account as its owner sees it on the web pages (behavior.md 9.3): never the password hash.
ACCOUNT_PRIVATE_FIELDS = (
    "id",
    "name",
    "fullname",
    "created",
    "api_key",
    "info",
    "admin",
    "locale",
    "email_addr",
    "valid_email",
    "confirmation_email_sent",
    "restrict",
)


@dataclass(frozen=True, eq=False)
class Readable:
    """The columns and `info` keys of a model a caller may read (decision 17).

    `columns` holds the readable column names; `open_columns`, a part of them, are readable
    only on the rows `open_rows` (a SQL clause) selects. `info_keys` None means every key but
    `secret_info`.
    """

    columns: frozenset
    info_keys: frozenset | None = None
    secret_info: frozenset = frozenset()
    open_columns: frozenset = frozenset()
    open_rows: object = None

    def info_key(self, key: str) -> bool:
        """May the caller read this first-level `info` key?"""
        if key in self.secret_info:
            return False
        return self.info_keys is None or key in self.info_keys


def readable(model, settings, privileged: bool) -> Readable:
    """What a caller may read of `model`'s objects: `privileged` when the caller sees them as
    their owner (a project), themselves (a user) or an admin. The one definition that both
    dictize() and the list queries (filters, orderby, info, full-text search) follow."""
    if model is Project and not privileged:
        return _readable(model, False, tuple(settings["project.info_public_fields"]))
    if model is User and not privileged:
        return _readable(model, False, tuple(settings["user.info_public_fields"]))
    return _readable(model, privileged, ())


@lru_cache(maxsize=64)
def _readable(model, privileged: bool, public_info_keys: tuple) -> Readable:
    hidden = internal_columns(model)
    every = frozenset(c.key for c in model.__table__.columns if c.key not in hidden)
    if model is Project:
        secret = frozenset(PROJECT_SECRET_INFO)
        if privileged:
            return Readable(every, secret_info=secret)
        info = frozenset(PROJECT_PUBLIC_INFO | set(public_info_keys))
        return Readable(every - PROJECT_PRIVATE, info, secret)
    if model is User:
        if privileged:
            return Readable(frozenset(USER_SELF_FIELDS))
        return Readable(
            frozenset((*USER_PUBLIC_FIELDS, *USER_OPEN_FIELDS, *USER_QUERYABLE)),
            frozenset(USER_PUBLIC_INFO | set(public_info_keys)),
            open_columns=frozenset(USER_OPEN_FIELDS),
            open_rows=User.privacy_mode == false(),
        )
    return Readable(every)


class Listed:
    """One row of a list, read like the model's object (attributes by column name)."""

    __slots__ = ("model", "values")

    def __init__(self, model, values: dict):
        self.model = model
        self.values = values

    def __getattr__(self, name):
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None
