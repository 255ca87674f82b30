"""Web pages: a project's exports (`/project/<short_name>/tasks/export`, behavior.md 10).

Without `type` and `format` the page lists the available exports; with them the answer is the
zip file itself: the one stored under export.dir while it is young enough for the project
(core.services.export_store), else streamed from core.services.export while the client reads
it, and stored on the way when the project's exports are kept.
"""

import time
from urllib.parse import urlencode

from pyramid.httpexceptions import HTTPNotFound, HTTPUnsupportedMediaType
from pyramid.response import FileIter, Response
from pyramid.view import view_config

from core.db import get_engine
from core.models import User
from core.services import export_store
from core.services.activity import time_ago
from core.services.export import FORMATS, TYPES, ExportTarget, export_zip
from core.services.permissions import owns_or_admin
from core.web import add_routes
from core.web.project_access import (
    load_project_for,
    pro_features,
    refuse,
    require_data_readable,
)
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
    """Anyone who may read the project's data, except that zip_download=false keeps it to
    owners."""
    require_data_readable(request, project)
    if project.zip_download:
        return
    if not owns_or_admin(request.user, project):
        refuse(request)


def stored_max_age(request, project) -> int:
    """Seconds a stored zip of the project may be served to this caller; 0: build it now.

    `updated_exports` follows pro_features(): admins, and everyone looking at a pro owner's
    project, get export.pro_max_age; the others export.max_age. Drafts are always built.
    """
    if not project.published:
        return 0
    owner = request.dbsession.get(User, project.owner_id)
    features = pro_features(request, (export_store.FEATURE,), owner=owner)
    updated = features[f"{export_store.FEATURE}_enabled"]
    return export_store.max_age(request.registry.settings, updated)


def exports(request, project) -> list[dict]:
    """Each type and format of the project's data, with the address of its zip.

    `stored_at` is when the stored zip a download would be answered with now was built (its
    `stored_ago` in words), or null when the download builds the zip from the current data.
    """
    export_dir = request.registry.settings["export.dir"]
    limit = stored_max_age(request, project)
    available = []
    for kind in TYPES:
        for fmt in FORMATS:
            target = ExportTarget(project.id, project.short_name, kind, fmt)
            query = urlencode({"type": kind, "format": fmt})
            built = export_store.stored_time(export_dir, target) if limit > 0 else None
            stored_at = None
            if built is not None and time.time() - built < limit:
                stored_at = export_store.iso_time(built)
            available.append(
                {
                    "type": kind,
                    "format": fmt,
                    "title": TITLES[kind],
                    "description": DESCRIPTIONS[kind],
                    "url": f"/project/{project.short_name}/tasks/export?{query}",
                    "file_name": target.zip_name,
                    "stored_at": stored_at,
                    "stored_ago": time_ago(stored_at),
                }
            )
    return available


def download(request, project, kind: str, fmt: str) -> Response:
    """The stored zip while it is young enough, else the zip produced as the server sends it
    (the body is never held whole), stored on the way when the project's zips are kept."""
    target = ExportTarget(project.id, project.short_name, kind, fmt)
    settings = request.registry.settings
    limit = stored_max_age(request, project)
    stored = export_store.open_fresh(settings["export.dir"], target, limit)
    if stored is not None:
        response = Response(
            app_iter=FileIter(stored.file),
            content_type="application/zip",
            content_length=stored.size,
            last_modified=stored.built,
        )
    else:
        chunks = export_zip(
            request.registry["export_engine"], target, settings["export.batch_size"]
        )
        if limit > 0:
            chunks = export_store.store_while_streaming(settings["export.dir"], target, chunks)
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
        exports=exports(request, project),
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
