"""dictize(obj, request): the public fields of a domain object, shaped for its caller."""

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Integer, any_, bindparam, false, select
from sqlalchemy.dialects.postgresql import ARRAY

from core.models import (
    Announcement,
    Blogpost,
    Category,
    Favorite,
    HelpingMaterial,
    Page,
    Project,
    ProjectStats,
    Result,
    Task,
    TaskRun,
    User,
)
from core.services.permissions import is_admin, owns_or_admin

# Columns the server keeps for itself and never shows.
INTERNAL = {Task: {"n_task_runs", "info_digest"}, User: {"passwd_hash", "session_epoch"}}
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

# Object type name in links and its parents: (rel, title, attribute, type name).
TYPE_NAMES = {
    Project: "project",
    Task: "task",
    TaskRun: "taskrun",
    Result: "result",
    User: "user",
    Category: "category",
    Blogpost: "blogpost",
    HelpingMaterial: "helpingmaterial",
    Page: "page",
    Announcement: "announcement",
    ProjectStats: "projectstats",
}
PARENTS = {
    Project: [("category", "category", "category_id", "category")],
    Task: [("parent", "project", "project_id", "project")],
    TaskRun: [
        ("parent", "project", "project_id", "project"),
        ("parent", "task", "task_id", "task"),
    ],
    Result: [
        ("parent", "project", "project_id", "project"),
        ("parent", "task", "task_id", "task"),
    ],
    Blogpost: [("parent", "project", "project_id", "project")],
    HelpingMaterial: [("parent", "project", "project_id", "project")],
    Page: [("parent", "project", "project_id", "project")],
    ProjectStats: [("parent", "project", "project_id", "project")],
}
NO_LINK = {User}


def internal_columns(model) -> set:
    """Columns the server keeps for itself: never shown, written, filtered or ordered on."""
    return INTERNAL.get(model, set())


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


def columns(obj) -> dict:
    """Every column of the row, less the server's internal ones."""
    if type(obj) is Listed:
        # A listed row, serialized once: its query already left the internal columns out.
        return obj.values
    hidden = internal_columns(type(obj))
    data = {c.key: getattr(obj, c.key) for c in obj.__table__.columns if c.key not in hidden}
    if isinstance(obj, Project):
        data["owners_ids"] = obj.owners_ids
    return data


def _api_url(request) -> str:
    """`<application url>/api`, computed once per request (lists make hundreds of links)."""
    url = request.environ.get("crowdnest.api_url")
    if url is None:
        url = request.environ["crowdnest.api_url"] = request.application_url + "/api"
    return url


def _link(api_url: str, rel: str, title: str, type_name: str, oid) -> str:
    return f"<link rel='{rel}' title='{title}' href='{api_url}/{type_name}/{oid}'/>"


def add_links(request, model, data: dict) -> dict:
    """`link` and `links` of an object of `model` whose fields are `data`."""
    if model in NO_LINK:
        return data
    api_url = _api_url(request)
    type_name = TYPE_NAMES[model]
    data["link"] = (
        f"<link rel='self' title='{type_name}' href='{api_url}/{type_name}/{data['id']}'/>"
    )
    parents = PARENTS.get(model)
    if parents:
        data["links"] = [
            f"<link rel='{rel}' title='{title}' href='{api_url}/{parent}/{data[attr]}'/>"
            for rel, title, attr, parent in parents
            if data.get(attr) is not None
        ]
    return data


def public_info(info, allowed: set) -> dict:
    if not isinstance(info, dict):
        return {}
    return {key: value for key, value in info.items() if key in allowed}


def readable_info(info, shown: Readable) -> dict:
    """The first-level `info` keys `shown` lets the caller read."""
    if not isinstance(info, dict):
        return {}
    return {key: value for key, value in info.items() if shown.info_key(key)}


def shape_project(request, project: Project, data: dict) -> dict:
    owner = owns_or_admin(request.user, project)
    shown = readable(Project, request.registry.settings, owner)
    data["info"] = readable_info(data.get("info") or {}, shown)
    if not owner:
        for key in PROJECT_PRIVATE:
            data.pop(key, None)
    return data


def shape_user(request, target: User, data: dict) -> dict:
    caller = request.user
    privileged = caller is not None and (caller.id == target.id or is_admin(caller))
    shown = readable(User, request.registry.settings, privileged)
    if privileged:
        shaped = {key: data.get(key) for key in USER_SELF_FIELDS}
        shaped.update(n_answers=None, registered_ago=None, rank=None, score=None)
        return shaped
    if target.privacy_mode:
        return {key: data[key] for key in USER_PUBLIC_FIELDS}
    shaped = {key: data.get(key) for key in (*USER_PUBLIC_FIELDS, "fullname", "created")}
    shaped["info"] = readable_info(data.get("info"), shown)
    return shaped


def dictize(request, obj, links: bool = True, extra: dict | None = None) -> dict:
    """The object as its caller may see it; `extra` holds batch-loaded computed keys."""
    data = columns(obj)
    if extra:
        data.update(extra)
    model = obj.model if type(obj) is Listed else type(obj)
    if model is Project:
        data = shape_project(request, obj, data)
    elif model is User:
        return shape_user(request, obj, data)
    if links:
        add_links(request, model, data)
    return data


def dictize_listed(request, model, rows: list) -> list[dict]:
    """dictize() of a page of listed rows of `model` that have no extra keys, in one loop."""
    api_url = _api_url(request)
    type_name = TYPE_NAMES[model]
    self_link = f"<link rel='self' title='{type_name}' href='{api_url}/{type_name}/"
    parents = [
        (attr, f"<link rel='{rel}' title='{title}' href='{api_url}/{parent}/")
        for rel, title, attr, parent in PARENTS.get(model, ())
    ]
    output = []
    for row in rows:
        data = row.values
        if model is Project:
            data = shape_project(request, row, data)
        data["link"] = f"{self_link}{data['id']}'/>"
        if parents:
            data["links"] = [
                f"{link}{data[attr]}'/>" for attr, link in parents if data.get(attr) is not None
            ]
        output.append(data)
    return output


def favourites_by_task(db, task_ids) -> dict[int, list[int]]:
    """`fav_user_ids` for a page of tasks, in one query."""
    found: dict[int, list[int]] = {task_id: [] for task_id in task_ids}
    if not found:
        return found
    if db.get_bind().dialect.name == "postgresql":
        # One array parameter: the statement text stays the same whatever the page size.
        wanted = Favorite.task_id == any_(bindparam("task_ids", list(found), ARRAY(Integer)))
    else:
        wanted = Favorite.task_id.in_(list(found))
    rows = db.execute(
        select(Favorite.task_id, Favorite.user_id)
        .where(wanted)
        .order_by(Favorite.created, Favorite.user_id)
    )
    for task_id, user_id in rows:
        found[task_id].append(user_id)
    return found
