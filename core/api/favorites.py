"""/api/favorites: the caller's favourite tasks (behavior.md 7.5; error target `task`)."""

from cornice import Service
from sqlalchemy import select

from core.api.base import check_csrf
from core.errors import DomainError, unauthorized_or_forbidden
from core.inputs import INT_MAX, load_json, parse_int
from core.models import Favorite, Task, internal_columns
from core.serializers import dictize, favourites_by_task
from core.services.permissions import can
from core.services.query import MAX_LIMIT, fuzzy_bool, no_attribute

favorites = Service(name="favorites", path="/api/favorites", cors_origins=("*",))
favorite = Service(name="favorite", path="/api/favorites/{oid:\\d+}", cors_origins=("*",))


def _caller(request, writes: bool = False):
    request.api_target = "task"
    if request.user is None:
        raise unauthorized_or_forbidden(request)
    if writes:
        check_csrf(request)
    return request.user


def _page(request, user) -> list[dict]:
    params = request.GET
    try:
        limit = min(MAX_LIMIT, int(params.get("limit", 20)))
        offset = int(params.get("offset", 0))
    except ValueError:
        limit, offset = 20, 0
    if limit < 0 or offset < 0:
        raise DomainError("DataError", "LIMIT and OFFSET must not be negative")
    if offset > INT_MAX:
        raise DomainError("DataError", "OFFSET out of range")
    orderby = params.get("orderby") or "id"
    if orderby not in Task.__table__.columns or orderby in internal_columns(Task):
        raise no_attribute(Task, orderby)
    descending = fuzzy_bool(params.get("desc", ""))
    query = (
        select(Task).join(Favorite, Favorite.task_id == Task.id).where(Favorite.user_id == user.id)
    )
    if params.get("last_id"):
        query = query.where(Task.id > parse_int(params["last_id"], "last_id"))
        descending, offset = False, 0
    column = getattr(Task, orderby)
    query = query.order_by(column.desc() if descending else column.asc(), Task.id)
    tasks = list(request.dbsession.scalars(query.limit(limit).offset(offset)))
    return _dictize_tasks(request, tasks)


def _dictize_tasks(request, tasks, links=True):
    favourites = favourites_by_task(request.dbsession, [task.id for task in tasks])
    return [
        dictize(request, task, links=links, extra={"fav_user_ids": favourites[task.id] or None})
        for task in tasks
    ]


@favorites.get()
def list_favorites(request):
    return _page(request, _caller(request))


@favorite.get()
def get_favorite(request):
    page = _page(request, _caller(request))
    if not page:
        raise DomainError("NotFound")
    return page[0]


@favorites.post()
def add_favorite(request):
    """Body exactly {"task_id": n}: checked before authentication, as PYBOSSA does."""
    request.api_target = "task"
    body = load_json(request.body or b"null", request.registry.settings["request.max_json_depth"])
    if (
        not isinstance(body, dict)
        or set(body) != {"task_id"}
        or not isinstance(body["task_id"], int)
        or isinstance(body["task_id"], bool)
    ):
        raise DomainError("AttributeError", 'The body must be exactly {"task_id": <id>}')
    user = _caller(request, writes=True)
    db = request.dbsession
    # An id no INTEGER column holds names no task (and PostgreSQL would refuse it).
    task = db.get(Task, body["task_id"]) if abs(body["task_id"]) <= INT_MAX else None
    if task is None:
        raise DomainError("NotFound")
    if not can(db, user, "read", task):
        raise unauthorized_or_forbidden(request)
    if db.get(Favorite, (task.id, user.id)) is None:
        db.add(Favorite(task_id=task.id, user_id=user.id))
        db.flush()
    return _dictize_tasks(request, [task], links=False)[0]


@favorite.delete()
def remove_favorite(request):
    request.api_action = "DEL"
    user = _caller(request, writes=True)
    db = request.dbsession
    task_id = int(request.matchdict["oid"])
    row = db.get(Favorite, (task_id, user.id))
    if row is None:
        raise DomainError("NotFound")
    db.delete(row)
    db.flush()
    return _dictize_tasks(request, [db.get(Task, task_id)], links=False)[0]
