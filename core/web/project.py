"""Project pages for owners: update the settings and publish the project."""

from urllib.parse import quote, urlsplit

import colander
from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPForbidden, HTTPFound, HTTPNotFound, HTTPUnauthorized
from pyramid.view import view_config
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.models import Category, Project
from core.serializers import dictize
from core.services import auditlog
from core.services.permissions import owns_or_admin
from core.services.project import RESERVED_SHORT_NAMES, publish, publish_blocker
from core.web import add_routes
from core.web.account import CORRECT_ERRORS
from core.web.forms import Form, checkbox, forbidden_chars, text
from core.web.render import flash, form_data, redirect, require_csrf

ROUTES = {
    "project_update": "/project/{short_name}/update",
    "project_publish": "/project/{short_name}/publish",
}

UPDATE_FIELDS = [
    "name",
    "short_name",
    "description",
    "long_description",
    "allow_anonymous_contributors",
    "zip_download",
    "category_id",
    "webhook",
]
PUBLISHED = "Project published! Volunteers will now be able to help you!"


def _webhook_url(node, value):
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise colander.Invalid(node, "Invalid URL.")


def _unique(db, project: Project, column, message: str):
    """A validator refusing a value another project already uses (any letter case)."""

    def validate(node, value):
        clash = select(Project.id).where(
            func.lower(column) == value.lower(), Project.id != project.id
        )
        if db.scalar(clash) is not None:
            raise colander.Invalid(node, message)

    return validate


def _short_name_free(node, value):
    if value.lower() in RESERVED_SHORT_NAMES:
        raise colander.Invalid(node, "This short name is used by the system.")


def update_schema(db, project: Project, category_ids: list[int]) -> colander.Schema:
    name = colander.All(
        colander.Length(3, 255), _unique(db, project, Project.name, "This name is already taken")
    )
    short_name = colander.All(
        colander.Length(3, 255),
        forbidden_chars("$#&\\/| ", "$#&\\/| and space symbols are forbidden"),
        _short_name_free,
        _unique(db, project, Project.short_name, "This short name is already taken"),
    )
    category = colander.SchemaNode(
        colander.Integer(),
        name="category_id",
        missing_msg="Not a valid choice",
        validator=colander.OneOf(category_ids),
    )
    schema = colander.Schema()
    schema.add(colander.SchemaNode(colander.Integer(), name="id", missing=None))
    schema.add(text("name", "The name is required", name))
    schema.add(text("short_name", "The short name is required", short_name))
    schema.add(text("description", "You must provide a description.", colander.Length(max=255)))
    schema.add(text("long_description"))
    schema.add(checkbox("allow_anonymous_contributors"))
    schema.add(checkbox("zip_download"))
    schema.add(category)
    schema.add(text("webhook", validator=colander.All(colander.Length(max=2000), _webhook_url)))
    return schema


def load_project(request) -> Project:
    """The project named in the URL, if the caller owns it or is an admin."""
    short_name = request.matchdict["short_name"]
    project = request.dbsession.scalars(
        select(Project).where(Project.short_name == short_name)
    ).first()
    if project is None:
        raise HTTPNotFound()
    if request.user is None:
        if not request.wants_json:
            raise HTTPFound(location=f"/account/signin?next={quote(request.path)}")
        raise HTTPUnauthorized()
    if not owns_or_admin(request.user, project):
        raise HTTPForbidden()
    return project


def _update_page(request, project: Project, form: Form, categories: list[tuple]) -> dict:
    form.choices["category_id"] = categories
    return {
        "form": form,
        "project": dictize(request, project, links=False),
        "title": f"Update the project: {project.name}",
        "template": "projects/update.html",
    }


def _apply(db, request, project: Project, values: dict) -> bool:
    """Save the new values with an audit row per change; False if a name was taken meanwhile."""
    before = auditlog.snapshot(project)
    try:
        with db.begin_nested():
            for name in UPDATE_FIELDS:
                setattr(project, name, values[name])
    except IntegrityError:
        db.refresh(project)
        return False
    auditlog.record_update(db, request, project, before)
    return True


@view_config(route_name="project_update", request_method=("GET", "POST"), renderer="page")
def update_project(request):
    db = request.dbsession
    data = form_data(request) if request.method == "POST" else None
    if data is not None:
        require_csrf(request, data)
    project = load_project(request)
    categories = [
        tuple(row) for row in db.execute(select(Category.id, Category.name).order_by(Category.id))
    ]
    schema = update_schema(db, project, [category_id for category_id, _ in categories])
    if data is None:
        current = {name: getattr(project, name) for name in UPDATE_FIELDS}
        return _update_page(request, project, Form(schema, id=project.id, **current), categories)
    form = Form(schema, data)
    values = form.valid()
    if values is not None:
        if _apply(db, request, project, values):
            url = f"/project/{project.short_name}/update"
            return redirect(request, url, "Project updated!", "success")
        form.add_error("short_name", "This name or short name is already taken")
    flash(request, CORRECT_ERRORS, "error")
    return _update_page(request, project, form, categories)


@view_config(route_name="project_publish", request_method=("GET", "POST"), renderer="page")
def publish_project(request):
    db = request.dbsession
    if request.method == "POST":
        require_csrf(request, form_data(request))
    project = load_project(request)
    sn = project.short_name
    if request.method == "GET":
        return {
            "csrf": get_csrf_token(request),
            "project": dictize(request, project, links=False),
            "title": "Publish your project",
            "template": "projects/publish.html",
        }
    if project.published:
        return redirect(request, f"/project/{sn}/", "Project already published", "info")
    blocker = publish_blocker(db, project, request.registry.settings["disable_task_presenter"])
    if blocker is not None:
        return redirect(request, f"/project/{sn}/publish", blocker, "error")
    before = auditlog.snapshot(project)
    publish(db, project)
    auditlog.record_update(db, request, project, before)
    return redirect(request, f"/project/{sn}/", PUBLISHED, "success")


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
