"""GET /api/project/{project_id}/newtask and /api/{project_id}/newtask (decision 1)."""

from cornice import Service
from sqlalchemy import select

from core.errors import DomainError, unauthorized_or_forbidden
from core.hookspecs import Volunteer
from core.models import Project, Task, internal_columns
from core.services import guard, project_token
from core.services.permissions import can
from core.services.scheduling import choose_scheduler, newtask_options
from core.services.task_run import Participant

newtask = Service(name="newtask", path="/api/project/{project_id}/newtask", cors_origins=("*",))
newtask_short = Service(
    name="newtask_short", path="/api/{project_id:\\d+}/newtask", cors_origins=("*",)
)


def _project(db, project_id: str):
    query = select(Project)
    query = (
        query.where(Project.id == int(project_id))
        if project_id.isdigit()
        else query.where(Project.short_name == project_id)
    )
    project = db.scalars(query).first()
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
    if not can(db, request.user, "read", project):
        # A draft's tasks are its owners' (decision 24): answered as a read of the project.
        raise unauthorized_or_forbidden(request)
    if request.user is None and not project.allow_anonymous_contributors:
        return pseudo_task()
    options = newtask_options(request.GET)
    participant = Participant.of(request)
    if participant.external_uid:
        try:
            project_token.verify(project, request.headers.get("Authorization"))
        except project_token.TokenError as error:
            response = request.response
            response.status_int = 401
            response.content_type = "application/json"
            response.json_body = error.as_dict()
            return response
    settings = request.registry.settings
    options.redis, options.settings = participant.redis, settings
    scheduler = choose_scheduler(request.registry["schedulers"], project, settings)
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

    payload = [columns(task) for task in tasks]
    if not payload:
        return {}
    return payload[0] if len(payload) == 1 else payload
