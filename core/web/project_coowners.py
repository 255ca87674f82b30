"""A project's co-owners: the page that lists and finds them, adding and removing one
(decision 23: only the primary owner or an admin)."""

from urllib.parse import quote

import colander
from pyramid.httpexceptions import HTTPForbidden
from pyramid.view import view_config
from sqlalchemy import func, select

from core.mail import mail_new_owners
from core.models import Project, User
from core.serializers import public_info
from core.services import auditlog
from core.services import project as projects
from core.services.permissions import is_admin
from core.services.readable import USER_PUBLIC_INFO
from core.web import add_routes
from core.web.account import CORRECT_ERRORS
from core.web.forms import Form, text
from core.web.project_access import (
    load_project_for,
    project_frame,
)
from core.web.render import flash, form_data, posted, redirect, require_csrf

ROUTES = {
    "project_coowners": "/project/{short_name}/coowners",
    "project_add_coowner": "/project/{short_name}/add_coowner/{name}",
    "project_del_coowner": "/project/{short_name}/del_coowner/{name}",
}


# How many users a co-owner search shows.
SEARCH_LIMIT = 20


def _manages_owners(request, project: Project) -> bool:
    """The creator and admins choose the co-owners (as through the API)."""
    return is_admin(request.user) or request.user.id == project.owner_id


def _user_card(request, user: User) -> dict:
    allowed = USER_PUBLIC_INFO | set(request.registry.settings["user.info_public_fields"])
    return {
        "id": user.id,
        "name": user.name,
        "fullname": user.fullname,
        "created": user.created,
        "info": public_info(user.info, allowed),
    }


def search_schema() -> colander.Schema:
    schema = colander.Schema()
    schema.add(text("user", "You must type a name", colander.Length(max=254)))
    return schema


def _search_users(db, query: str, exclude: list[int]) -> list[User]:
    """Users whose name or full name contains `query` (letter case ignored)."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped.lower()}%"
    return list(
        db.scalars(
            select(User)
            .where(
                (func.lower(User.name).like(pattern, escape="\\"))
                | (func.lower(User.fullname).like(pattern, escape="\\")),
                User.restrict.is_(False),
                User.id.not_in(exclude),
            )
            .order_by(User.name)
            .limit(SEARCH_LIMIT)
        )
    )


@view_config(route_name="project_coowners", request_method=("GET", "POST"), renderer="page")
def coowners(request):
    db = request.dbsession
    data = posted(request)
    project = load_project_for(request, "owner")
    owners = list(
        db.scalars(select(User).where(User.id.in_(project.owners_ids)).order_by(User.id))
    )
    form = Form(search_schema(), data)
    found = []
    if data is not None:
        values = form.valid()
        if values is None:
            flash(request, CORRECT_ERRORS, "error")
        else:
            found = _search_users(db, values["user"].strip(), project.owners_ids)
            if not found:
                flash(request, "We didn't find any user matching your query", "info")
    return {
        **project_frame(request, project, "settings"),
        "coowners": [_user_card(request, user) for user in owners],
        "owner_id": project.owner_id,
        "found": [_user_card(request, user) for user in found],
        "can_manage": _manages_owners(request, project),
        "form": form,
        "title": f"Project: {project.name} · Co-owners",
        "template": "projects/coowners.html",
    }


def _coowner_change(request, add: bool):
    """Add or remove one co-owner: a POST, or a GET carrying the CSRF token (decision 11)."""
    require_csrf(request, form_data(request) if request.method == "POST" else None)
    project = load_project_for(request, "owner")
    if not _manages_owners(request, project):
        raise HTTPForbidden()
    db = request.dbsession
    user = db.scalars(select(User).where(User.name == request.matchdict["name"])).first()
    url = f"/project/{quote(project.short_name)}/coowners"
    if user is None:
        return redirect(request, url, "User not found", "error")
    before = list(project.owners_ids)
    if add:
        if projects.add_coowner(project, user):
            auditlog.record_owners(db, request, project, before)
            mail_new_owners(request, project, [user])
            return redirect(request, url, f"{user.name} is now a co-owner", "success")
        return redirect(request, url, "User is already an owner", "warning")
    if user.id == project.owner_id:
        return redirect(request, url, "Cannot remove the project creator", "error")
    if projects.remove_coowner(project, user):
        auditlog.record_owners(db, request, project, before)
        return redirect(request, url, f"{user.name} is no longer a co-owner", "success")
    return redirect(request, url, "User is not a project owner", "error")


@view_config(route_name="project_add_coowner", request_method=("GET", "POST"))
def add_coowner(request):
    return _coowner_change(request, add=True)


@view_config(route_name="project_del_coowner", request_method=("GET", "POST"))
def del_coowner(request):
    return _coowner_change(request, add=False)


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
