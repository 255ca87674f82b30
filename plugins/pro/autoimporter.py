"""The `autoimporter` pro feature: a project's autoimporter page, the importer form re-run on a
schedule (behavior.md 10).

Owners, co-owners and admins only; when the .ini reserves the `autoimporter` pro feature, pro
users and admins only. Switched off (not in plugins.pro), the pages answer 404 and
`crowdnest autoimport` runs nothing (core.services.pro.enabled is false for everyone).

GET shows the current autoimporter, or the importers that can be scheduled (`?type=<name>`: that
importer's form); POST checks the source with a dry read of its first records and stores the
form in `project.info["autoimporter"]`; /delete removes it. The imports themselves run from
`crowdnest autoimport` (core/services/autoimport.py, shared by the page and the command).
"""

from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound
from pyramid.view import view_config

from core.hookspecs import hookimpl
from core.models import User
from core.services import auditlog
from core.services.autoimport import (
    autoimporter_of,
    check_source,
    clear_autoimporter,
    owner_may_autoimport,
    remove_autoimporter,
    schedulable_importers,
    set_autoimporter,
)
from core.services.importer import ImporterError
from core.web import add_routes
from core.web.forms import Form
from core.web.project_access import load_project_for, pro_features
from core.web.project_data import importer_schema, project_keys
from core.web.render import flash, form_data, redirect, require_csrf

ROUTES = {
    "project_autoimporter": "/project/{short_name}/tasks/autoimporter",
    "project_autoimporter_delete": "/project/{short_name}/tasks/autoimporter/delete",
}
PRO_ONLY = "The autoimporter is a pro feature on this server: pro users and admins only."
SAVED = "The autoimporter was saved: it will import new items from this source."
DELETED = "The autoimporter was deleted."
NOTHING_TO_DELETE = "This project has no autoimporter."


def _page_url(project) -> str:
    return f"/project/{project.short_name}/tasks/autoimporter"


def _load(request):
    """The project, for its owners and admins when the autoimporter is open to the caller."""
    project = load_project_for(request, "owner")
    if not pro_features(request, ("autoimporter",))["autoimporter_enabled"]:
        raise HTTPForbidden(detail=PRO_ONLY)
    return project


def _page(request, project, importers: dict, importer=None, form=None) -> dict:
    settings = request.registry.settings
    value = project_keys(request, project, "tasks", "Autoimporter", "autoimporter/index.html")
    owner = request.dbsession.get(User, project.owner_id)
    value.update(
        autoimporter=autoimporter_of(project),
        importers=[
            {"name": name, "title": plugin.title, "description": plugin.description}
            for name, plugin in importers.items()
        ],
        importer=None,
        form=form,
        interval=settings["autoimporter.interval"],
        # False when the primary owner lost the right to it: the saved form then never runs.
        owner_may_autoimport=owner_may_autoimport(settings, owner),
    )
    if importer is not None:
        value["importer"] = {
            "name": importer.name,
            "title": importer.title,
            "description": importer.description,
            "fields": [vars(field) for field in importer.fields if field.kind != "file"],
        }
    return value


def _chosen(importers: dict, name: str | None):
    if not name:
        return None
    importer = importers.get(name)
    if importer is None:
        raise HTTPNotFound()
    return importer


@view_config(route_name="project_autoimporter", request_method=("GET", "POST"), renderer="page")
def autoimporter_page(request):
    data = form_data(request) if request.method == "POST" else None
    if data is not None:
        require_csrf(request, data)
    project = _load(request)
    importers = schedulable_importers(request.registry["importers"])
    importer = _chosen(importers, (data or {}).get("form_name") or request.GET.get("type"))
    if importer is None:
        if data is not None:
            raise HTTPNotFound()
        return _page(request, project, importers)
    current = autoimporter_of(project) or {}
    initial = current if current.get("type") == importer.name else {}
    form = Form(importer_schema(importer), data, **initial)
    if data is None:
        return _page(request, project, importers, importer, form)
    values = form.valid()
    if values is not None:
        try:
            check_source(importer, values, request.registry.settings)
        except ImporterError as error:
            form.add_error(error.field or "form", error.message)
        else:
            before = auditlog.snapshot(project)
            set_autoimporter(project, importer, values)
            auditlog.record_update(request.dbsession, request, project, before)
            return redirect(request, _page_url(project), SAVED, "success")
    messages = [message for errors in form.errors.values() for message in errors]
    flash(request, " ".join(messages) or "Please correct the errors below.", "error")
    return _page(request, project, importers, importer, form)


@view_config(route_name="project_autoimporter_delete", request_method="POST", renderer="page")
def delete_autoimporter(request):
    require_csrf(request, form_data(request))
    project = _load(request)
    before = auditlog.snapshot(project)
    if not clear_autoimporter(project):
        return redirect(request, _page_url(project), NOTHING_TO_DELETE, "info")
    # Logged as a change to None, then the key itself goes.
    auditlog.record_update(request.dbsession, request, project, before)
    remove_autoimporter(project)
    return redirect(request, _page_url(project), DELETED, "success")


@hookimpl
def crowdnest_settings():
    # Seconds between two runs of `crowdnest autoimport --loop` (daily, as PYBOSSA).
    return {"autoimporter.interval": (86400, int)}


@hookimpl
def crowdnest_includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
