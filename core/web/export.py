"""Web pages: a project's exports (`/project/<short_name>/tasks/export`, behavior.md 10).

Without `type` and `format` the page lists the available exports; with them the answer is the
zip file itself, streamed from core.services.export while the client reads it.
"""

from urllib.parse import urlencode

from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound, HTTPUnsupportedMediaType
from pyramid.response import Response
from pyramid.view import view_config

from core.db import get_engine
from core.services.export import FORMATS, TYPES, ExportTarget, export_zip
from core.services.permissions import owns_or_admin
from core.web import add_routes
from core.web.project_access import load_project_for, require_readable, require_signed_in
from core.web.project_data import project_keys

ROUTES = {
    "project_tasks_export": "/project/{short_name}/tasks/export",
    "project_tasks_export_slash": "/project/{short_name}/tasks/export/",
}
TITLES = {"task": "Tasks", "task_run": "Task runs", "result": "Results"}
DESCRIPTIONS = {
    "task": "The tasks of the project, with their info.",
    "task_run": "Every answer volunteers gave, one row per answer.",
    "result": "The latest result of each completed task.",
}
LOADING_TEXT = "Exporting data..."


def may_export(request, project) -> None:
    """Anyone who may read the project, except that zip_download=false keeps it to owners."""
    require_readable(request, project)
    if project.zip_download:
        return
    require_signed_in(request)
    if not owns_or_admin(request.user, project):
        raise HTTPForbidden()


def exports(project) -> list[dict]:
    """Each type and format of the project's data, with the address of its zip."""
    available = []
    for kind in TYPES:
        for fmt in FORMATS:
            target = ExportTarget(project.id, project.short_name, kind, fmt)
            query = urlencode({"type": kind, "format": fmt})
            available.append(
                {
                    "type": kind,
                    "format": fmt,
                    "title": TITLES[kind],
                    "description": DESCRIPTIONS[kind],
                    "url": f"/project/{project.short_name}/tasks/export?{query}",
                    "file_name": target.zip_name,
                }
            )
    return available


def download(request, project, kind: str, fmt: str) -> Response:
    """The zip, produced as the server sends it: the body is never held whole."""
    target = ExportTarget(project.id, project.short_name, kind, fmt)
    batch_size = request.registry.settings["export.batch_size"]
    chunks = export_zip(request.registry["export_engine"], target, batch_size)
    response = Response(app_iter=chunks, content_type="application/zip")
    response.content_disposition = f'attachment; filename="{target.zip_name}"'
    response.cache_control = "private, no-store"
    return response


@view_config(route_name="project_tasks_export", request_method="GET", renderer="page")
@view_config(route_name="project_tasks_export_slash", request_method="GET", renderer="page")
def export_page(request):
    project = load_project_for(request, "view")
    may_export(request, project)
    kind, fmt = request.GET.get("type"), request.GET.get("format")
    if kind or fmt:
        # PYBOSSA's order: an unknown format is a 415 even when the type is unknown too.
        if fmt not in FORMATS:
            raise HTTPUnsupportedMediaType(detail=f"Unsupported export format: {fmt}")
        if kind not in TYPES:
            raise HTTPNotFound()
        return download(request, project, kind, fmt)
    value = project_keys(request, project, "tasks", "Export", "export/index.html")
    value.update(
        exports=exports(project),
        types=list(TYPES),
        formats=list(FORMATS),
        loading_text=LOADING_TEXT,
        ckan_name=None,
    )
    return value


def includeme(config):
    add_routes(config, ROUTES)
    engine = config.registry["db_engine"]
    if engine.dialect.name == "sqlite":
        # Its own engine whose reads begin DEFERRED: an export must not hold the write lock.
        engine = get_engine(config.get_settings(), sqlite_begin="DEFERRED")
    config.registry["export_engine"] = engine
    config.scan(__name__)
