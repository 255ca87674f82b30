"""GET /api/project/{project_id}/newtask and /api/{project_id}/newtask (decision 1)."""

from functools import lru_cache

from cornice import Service
from sqlalchemy import bindparam, select

from core.db import loaded, read
from core.errors import DomainError, unauthorized_or_forbidden
from core.hookspecs import Volunteer
from core.inputs import ascii_digits
from core.models import Project, Task, internal_columns
from core.services import answers, guard
from core.services.permissions import can
from core.services.scheduling import choose_scheduler, name_of, newtask_options
from core.services.task_run import Participant

newtask = Service(name="newtask", path="/api/project/{project_id}/newtask", cors_origins=("*",))
newtask_short = Service(
    name="newtask_short", path="/api/{project_id:\\d+}/newtask", cors_origins=("*",)
)


@lru_cache(maxsize=2)
def _project_by(by_id: bool):
    # Built once: building and keying a statement cost more than running it.
    column = Project.id if by_id else Project.short_name
    return select(*Project.__table__.columns).where(column == bindparam("project"))


def _project(db, project_id: str):
    by_id = ascii_digits(project_id)
    value = int(project_id) if by_id else project_id
    # Outside the session's transaction where it can (core.db.read), as the caller's account.
    keys, rows = read(db, _project_by(by_id), {"project": value})
    project = loaded(db, Project, dict(zip(keys, rows[0], strict=True))) if rows else None
    if project is None:
        raise DomainError("NotFound")
    return project


def pseudo_task() -> dict:
    hidden = internal_columns(Task)
    data = {column.key: None for column in Task.__table__.columns if column.key not in hidden}
    data["info"] = {"error": "This project does not allow anonymous contributors"}
    return data


@newtask.get()
@newtask_short.get()
def get_newtask(request):
    """Hand tasks to the caller and remember the hand-out (the contributions guard)."""
    request.api_target = "project"
    request.api_action = "GET"
    db = request.dbsession
    project = _project(db, request.matchdict["project_id"])
    participant = Participant.of(request)
    refusal = answers.admission(
        project,
        participant.user_id,
        readable=can(db, request.user, "read", project),
        external_uid=participant.external_uid,
        authorization=request.headers.get("Authorization"),
    )
    if refusal is answers.DRAFT:
        # A draft's tasks are its owners' (decision 24): answered as a read of the project.
        raise unauthorized_or_forbidden(request)
    if refusal is answers.ANONYMOUS:
        return pseudo_task()
    options = newtask_options(request.GET)
    if refusal is not None:  # the project token of an external user
        response = request.response
        response.status_int = 401
        response.content_type = "application/json"
        response.json_body = refusal.token_error.as_dict()
        return response
    settings = request.registry.settings
    options.redis, options.settings = participant.redis, settings
    schedulers = request.registry["schedulers"]
    scheduler = choose_scheduler(schedulers, project, settings)
    # For the request's metrics (core.metrics).
    sched = (project.info or {}).get("sched")
    request.environ["crowdnest.scheduler"] = name_of(schedulers, sched, settings)
    volunteer = Volunteer(request.user, request.user_ip, participant.external_uid, participant.key)
    tasks = scheduler(db, project, volunteer, options) if options.limit else []
    guard.stamp(
        db,
        participant.redis,
        participant.key,
        project.id,
        [t.id for t in tasks],
        settings["guard.ttl"],
    )
    from core.serializers import columns

    return answers.newtask_payload([columns(task) for task in tasks])
