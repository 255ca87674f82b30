"""GET /api/project/{id or short_name}/userprogress (and /api/app/...)."""

from cornice import Service
from sqlalchemy import func, select

from core.errors import ApiError
from core.inputs import ascii_digits
from core.models import Project, ProjectStats, TaskRun
from core.services.permissions import can
from core.services.query import participant_clause

progress = Service(
    name="userprogress", path="/api/project/{project}/userprogress", cors_origins=("*",)
)
progress_app = Service(
    name="userprogress_app", path="/api/app/{project}/userprogress", cors_origins=("*",)
)


@progress.get()
@progress_app.get()
def get_userprogress(request):
    """How many answers the caller gave in a project, and how many tasks it has."""
    db = request.dbsession
    ref = request.matchdict["project"]
    by_id = ascii_digits(ref)
    where = Project.id == int(ref) if by_id else Project.short_name == ref
    project = db.scalars(select(Project).where(where)).first()
    if project is None:
        raise ApiError("NotFound", target=request.path, action="USER_PROGRESS")
    if not can(db, request.user, "read", project):
        # A draft's figures are its owners' (decision 24).
        raise ApiError(
            "Forbidden" if request.user is not None else "Unauthorized",
            target=request.path,
            action="USER_PROGRESS",
        )
    who = participant_clause(request.user, request.GET.get("external_uid"), request.user_ip)
    done = db.scalar(
        select(func.count()).select_from(TaskRun).where(TaskRun.project_id == project.id, who)
    )
    total = db.scalar(select(ProjectStats.n_tasks).where(ProjectStats.project_id == project.id))
    return {"done": done, "total": total or 0}
