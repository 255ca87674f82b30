"""dictize(obj, request): the public fields of a domain object, shaped for its caller."""

from sqlalchemy import Integer, any_, bindparam, select
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
    internal_columns,
)
from core.services.permissions import is_admin, owns_or_admin
from core.services.readable import (
    PROJECT_PRIVATE,
    USER_PUBLIC_FIELDS,
    USER_SELF_FIELDS,
    Listed,
    Readable,
    readable,
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
