"""A project's own pages: its info page and its settings page for owners."""

from urllib.parse import quote

from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPMovedPermanently
from pyramid.view import view_config

from core.web import add_routes
from core.web.project_access import (
    load_project_for,
    project_page,
    require_readable,
)

ROUTES = {
    "project_info": "/project/{short_name}/",
    "project_info_bare": "/project/{short_name}",
    "project_settings": "/project/{short_name}/settings",
}


@view_config(route_name="project_info_bare", request_method="GET")
def project_info_bare(request):
    return HTTPMovedPermanently(location=f"/project/{quote(request.matchdict['short_name'])}/")


@view_config(route_name="project_info", request_method="GET", renderer="page")
def project_info(request):
    project = load_project_for(request, "view")
    require_readable(request, project)
    return project_page(request, project, "info", "", "projects/project.html")


@view_config(route_name="project_settings", request_method="GET", renderer="page")
def project_settings(request):
    project = load_project_for(request, "owner")
    return project_page(
        request,
        project,
        "settings",
        "Settings",
        "projects/settings.html",
        csrf=get_csrf_token(request),
    )


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
