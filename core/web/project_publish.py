"""Publishing a draft project and deleting a project (behavior.md 9.4)."""

from urllib.parse import quote

from pyramid.csrf import get_csrf_token
from pyramid.view import view_config

from core.services import auditlog, export_store
from core.services import project as projects
from core.services.uploads import remove as remove_file
from core.web import add_routes
from core.web.project_access import (
    load_project_for,
    project_frame,
    project_page,
)
from core.web.render import posted, redirect

ROUTES = {
    "project_publish": "/project/{short_name}/publish",
    "project_delete": "/project/{short_name}/delete",
}


PUBLISHED = "Project published! Volunteers will now be able to help you!"


@view_config(route_name="project_publish", request_method=("GET", "POST"), renderer="page")
def publish_project(request):
    db = request.dbsession
    data = posted(request)
    project = load_project_for(request, "owner")
    sn = quote(project.short_name)
    if data is None:
        return {
            **project_frame(request, project, "settings"),
            "csrf": get_csrf_token(request),
            "title": "Publish your project",
            "template": "projects/publish.html",
        }
    if project.published:
        return redirect(request, f"/project/{sn}/", "Project already published", "info")
    blocker = projects.publish_blocker(
        db, project, request.registry.settings["disable_task_presenter"]
    )
    if blocker is not None:
        return redirect(request, f"/project/{sn}/publish", blocker, "error")
    before = auditlog.snapshot(project)
    projects.publish(db, project)
    auditlog.record_update(db, request, project, before)
    return redirect(request, f"/project/{sn}/", PUBLISHED, "success")


@view_config(route_name="project_delete", request_method=("GET", "POST"), renderer="page")
def delete_project(request):
    db = request.dbsession
    data = posted(request)
    project = load_project_for(request, "owner")
    if data is None:
        return project_page(
            request,
            project,
            "settings",
            "Delete",
            "projects/delete.html",
            csrf=get_csrf_token(request),
        )
    files = projects.stored_files(db, project, request.registry.settings["upload.dir"])
    auditlog.record_delete(db, request, project)
    projects.delete_project(db, project)
    for path in files:
        request.after_commit(remove_file, path)
    export_dir = request.registry.settings["export.dir"]
    request.after_commit(export_store.remove_project, export_dir, project.id)
    return redirect(
        request, f"/account/{quote(request.user.name)}/", "Project deleted!", "success"
    )


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
