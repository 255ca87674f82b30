"""The password page of a password-protected project: who knows it may read the project."""

from urllib.parse import quote

import colander
from pyramid.view import view_config

from core.credentials import limit_attempt
from core.passwords import verify_password
from core.services import project as projects
from core.web import add_routes
from core.web.account import CORRECT_ERRORS, safe_next
from core.web.forms import Form, text
from core.web.project_access import (
    find_project,
    unlock,
)
from core.web.render import flash, posted, redirect

ROUTES = {
    "project_password": "/project/{short_name}/password",
}


def password_schema() -> colander.Schema:
    schema = colander.Schema()
    schema.add(text("password", "You must provide a password"))
    return schema


@view_config(route_name="project_password", request_method=("GET", "POST"), renderer="page")
def project_password(request):
    data = posted(request)
    project = find_project(request)
    sn = quote(project.short_name)
    next_url = safe_next(request.GET.get("next"), f"/project/{sn}/")
    if not projects.is_protected(project):
        return redirect(request, next_url)
    form = Form(password_schema(), data)
    if data is not None:
        limit_attempt(request, "project_password", project.id)
        values = form.valid()
        if values is not None:
            if verify_password(project.info.get("passwd_hash"), values["password"]):
                unlock(request, project)
                return redirect(request, next_url)
            form.add_error("password", "Sorry, incorrect password")
        flash(request, CORRECT_ERRORS, "error")
    return {
        "form": form,
        "next": next_url,
        "project": {key: getattr(project, key) for key in ("id", "name", "short_name")},
        "title": f"Project: {project.name} · Password",
        "template": "projects/password.html",
    }


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
