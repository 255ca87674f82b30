"""Admin pages: index, admin and pro users, featured projects, dashboard (behavior.md 9.8).

Every page needs a signed-in admin: anonymous callers are sent to sign in (a 302, JSON too), other
users get a 403. Categories and announcements live in core.web.admin_content.
"""

from datetime import UTC, datetime

import colander
import orjson
from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound, HTTPUnsupportedMediaType
from pyramid.response import Response
from pyramid.view import view_config
from sqlalchemy import func, or_, select

from core import jobs
from core.cache import bump, cached
from core.models import Project, User
from core.serializers import dictize, internal_columns
from core.services import project_listing, site_stats
from core.services.account_data import all_accounts, csv_bytes
from core.services.permissions import is_admin
from core.web import add_routes
from core.web.forms import Form, text
from core.web.project_access import require_signed_in
from core.web.render import flash, form_data, redirect, require_csrf

ROUTES = {
    "admin_index": "/admin{slash:/?}",
    "admin_users": "/admin/users",
    "admin_users_export": "/admin/users/export",
    "admin_users_add": "/admin/users/add/{user_id:\\d+}",
    "admin_users_del": "/admin/users/del/{user_id:\\d+}",
    "admin_users_pro": "/admin/users/pro/{user_id:\\d+}",
    "admin_users_unpro": "/admin/users/unpro/{user_id:\\d+}",
    "admin_featured": "/admin/featured",
    "admin_feature": "/admin/featured/{project_id:\\d+}",
    "admin_dashboard": "/admin/dashboard{slash:/?}",
    "admin_rq": "/admin/rq{slash:/?}",
}
# What an admin sees of an account: every column, the API key included (behavior.md 9.8), but
# the password hash (decision 3) and the server's own session epoch.
HIDDEN_USER_FIELDS = internal_columns(User)
SEARCH_LIMIT = 100


def require_admin(request) -> User:
    require_signed_in(request)
    if not is_admin(request.user):
        raise HTTPForbidden()
    return request.user


def admin_user_dict(user: User) -> dict:
    return {
        column.key: getattr(user, column.key)
        for column in User.__table__.columns
        if column.key not in HIDDEN_USER_FIELDS
    }


@view_config(route_name="admin_index", request_method="GET", renderer="page")
def index(request):
    require_admin(request)
    return {"title": "Admin Site", "template": "admin/index.html"}


def search_schema() -> colander.Schema:
    schema = colander.Schema()
    schema.add(text("user", "Please type a name or full name", colander.Length(max=254)))
    return schema


@view_config(route_name="admin_users", request_method=("GET", "POST"), renderer="page")
def users(request):
    """GET: the other admins; POST user=<text>: accounts whose name or full name contain it."""
    admin = require_admin(request)
    db = request.dbsession
    form = Form(search_schema())
    found = []
    if request.method == "POST":
        data = form_data(request)
        require_csrf(request, data)
        form = Form(search_schema(), data)
        values = form.valid()
        if values is not None:
            needle = values["user"].strip().lower()
            matches = db.scalars(
                select(User)
                .where(
                    or_(
                        func.lower(User.name).contains(needle, autoescape=True),
                        func.lower(User.fullname).contains(needle, autoescape=True),
                    )
                )
                .order_by(User.id)
                .limit(SEARCH_LIMIT)
            )
            found = [admin_user_dict(user) for user in matches]
            if not found:
                flash(request, "We didn't find a user matching your query", "info")
    admins = db.scalars(select(User).where(User.admin, User.id != admin.id).order_by(User.id))
    pros = db.scalars(select(User).where(User.pro).order_by(User.id))
    return {
        "form": form,
        "found": found,
        "users": [admin_user_dict(user) for user in admins],
        "pro_users": [admin_user_dict(user) for user in pros],
        "title": "Manage Admin Users",
        "template": "admin/users.html",
    }


@view_config(route_name="admin_users_export", request_method="GET")
def users_export(request):
    """Every account as a JSON or CSV download (?format=); no password hash nor API key."""
    require_admin(request)
    kind = request.GET.get("format")
    if kind not in ("json", "csv"):
        raise HTTPUnsupportedMediaType()
    rows = all_accounts(request.dbsession)
    if kind == "json":
        body, content_type = orjson.dumps(rows), "application/json"
    else:
        body, content_type = csv_bytes(rows), "text/csv"
    response = Response(body=body, content_type=content_type, charset="utf-8")
    response.content_disposition = f'attachment; filename="users.{kind}"'
    return response


def _user_or_404(request) -> User | Response:
    user = request.dbsession.get(User, int(request.matchdict["user_id"]))
    if user is None and request.wants_json:
        return Response(
            json_body={"error": "User not found", "status_code": 404},
            status=404,
            content_type="application/json",
        )
    if user is None:
        raise HTTPNotFound()
    return user


@view_config(route_name="admin_users_add", request_method=("GET", "POST"))
@view_config(route_name="admin_users_del", request_method=("GET", "POST"))
def toggle_admin(request):
    """Grant or withdraw admin rights; a GET carries the token in X-CSRFToken or ?csrf=."""
    admin = require_admin(request)
    require_csrf(request, form_data(request) if request.method == "POST" else None)
    user = _user_or_404(request)
    if isinstance(user, Response):
        return user
    grant = request.matched_route.name == "admin_users_add"
    if not grant and user.id == admin.id:
        return redirect(
            request, "/admin/users", "You cannot remove your own admin rights", "error"
        )
    user.admin = grant
    return redirect(request, "/admin/users")


@view_config(route_name="admin_users_pro", request_method=("GET", "POST"))
@view_config(route_name="admin_users_unpro", request_method=("GET", "POST"))
def toggle_pro(request):
    """Mark a user pro or not (the pro features of the .ini); CSRF as for admin rights."""
    require_admin(request)
    require_csrf(request, form_data(request) if request.method == "POST" else None)
    user = _user_or_404(request)
    if isinstance(user, Response):
        return user
    user.pro = request.matched_route.name == "admin_users_pro"
    message = f"{user.name} is now a pro user" if user.pro else f"{user.name} is no longer pro"
    return redirect(request, "/admin/users", message, "success")


@view_config(route_name="admin_featured", request_method="GET", renderer="page")
def featured(request):
    """The published projects of each category, to feature or unfeature."""
    require_admin(request)
    db = request.dbsession
    categories = project_listing.all_categories(db)
    return {
        "categories": categories,
        "projects": project_listing.published_by_category(db, categories),
        "form": {"csrf": get_csrf_token(request)},
        "title": "Featured projects",
        "template": "admin/featured.html",
    }


def _feature_error(request, message: str, status: int):
    if request.wants_json:
        return Response(
            json_body={"error": message, "status_code": status},
            status=status,
            content_type="application/json",
        )
    return redirect(request, "/admin/featured", message, "error")


@view_config(route_name="admin_feature", request_method=("POST", "DELETE"))
def feature(request):
    """POST features the project, DELETE unfeatures it; JSON answers the project itself."""
    require_admin(request)
    data = form_data(request) if request.method == "POST" else {}
    require_csrf(request, data)
    project_id = int(request.matchdict["project_id"])
    project = request.dbsession.get(Project, project_id)
    if project is None:
        return _feature_error(request, f"Project.id {project_id} not found", 404)
    # An HTML form cannot send DELETE: it posts `action=delete` instead.
    wanted = request.method == "POST" and data.get("action") != "delete"
    if project.featured == wanted:
        state = "already featured" if wanted else "is not featured"
        return _feature_error(request, f"Project.id {project_id} {state}", 415)
    project.featured = wanted
    request.dbsession.flush()
    if request.wants_json:
        return Response(
            json_body=dictize(request, project, links=False),
            content_type="application/json",
            charset="utf-8",
        )
    message = "Project featured" if wanted else "Project unfeatured"
    return redirect(request, "/admin/featured", message, "success")


@view_config(route_name="admin_dashboard", request_method="GET", renderer="page")
def dashboard(request):
    """Last week's figures, computed on request and cached; ?refresh=1 computes them again."""
    require_admin(request)
    region = request.registry["cache"]
    if request.GET.get("refresh") == "1":
        bump(region, "dashboard")
    today = datetime.now(UTC).date().isoformat()
    db = request.dbsession
    figures = cached(region, "dashboard", today, lambda: site_stats.dashboard(db))
    return {**figures, "title": "Dashboard", "template": "admin/dashboard.html"}


@view_config(route_name="admin_rq", request_method="GET", renderer="page")
def rq_dashboard(request):
    """The background jobs: queues, workers and the latest failures (PYBOSSA's /admin/rq)."""
    require_admin(request)
    return {
        **jobs.overview(request.registry.settings),
        "title": "Background jobs",
        "template": "admin/rq.html",
    }


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
    config.include("core.web.admin_content")
