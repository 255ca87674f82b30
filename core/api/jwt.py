"""GET /api/auth/project/{short_name}/token: a project JWT for partner apps."""

from cornice import Service
from pyramid.response import Response
from sqlalchemy import select

from core.errors import ApiError
from core.models import Project
from core.services import project_token

token = Service(
    name="project_token", path="/api/auth/project/{short_name}/token", cors_origins=("*",)
)


def _fail(request, exception_cls):
    return ApiError(exception_cls, target=request.path, action="AUTH_JWT_PROJECT")


@token.get()
def get_token(request):
    """Trade the project's secret key (raw Authorization header) for a short-lived JWT."""
    secret = request.headers.get("Authorization")
    if not secret:
        raise _fail(request, "Forbidden")
    project = request.dbsession.scalars(
        select(Project).where(Project.short_name == request.matchdict["short_name"])
    ).first()
    if project is None or project.secret_key != secret.strip():
        raise _fail(request, "NotFound")
    lifetime = request.registry.settings["api.jwt_lifetime"]
    return Response(project_token.issue(project, lifetime), content_type="text/html")
