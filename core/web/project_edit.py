"""Creating and editing a project: /project/new, its update form (fields, thumbnail), a new
secret key."""

from urllib.parse import quote, urlsplit

import colander
from pyramid.view import view_config
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.errors import DomainError
from core.models import Category, Project
from core.schemas import short_name_valid
from core.services import auditlog, uploads
from core.services import project as projects
from core.services.images import image_url, save_image
from core.web import add_routes
from core.web.account import CORRECT_ERRORS
from core.web.forms import Form, checkbox, crop_corner, text
from core.web.project_access import (
    load_project_for,
    project_page,
    require_signed_in,
)
from core.web.render import flash, posted, redirect

# `/project/new` is added before the `/project/{short_name}` route it would match
# (core.web includes this module first).
ROUTES = {
    "project_new": "/project/new",
    "project_update": "/project/{short_name}/update",
    "project_resetsecretkey": "/project/{short_name}/resetsecretkey",
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


CROP_FIELDS = ("x1", "y1", "x2", "y2")


def _webhook_url(node, value):
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise colander.Invalid(node, "Invalid URL.")


def _unique(db, project_id: int | None, column, message: str):
    """A validator refusing a value another project already uses (any letter case)."""

    def validate(node, value):
        clash = select(Project.id).where(func.lower(column) == value.lower())
        if project_id is not None:
            clash = clash.where(Project.id != project_id)
        if db.scalar(clash.limit(1)) is not None:
            raise colander.Invalid(node, message)

    return validate


def _short_name_free(node, value):
    if value.lower() in projects.RESERVED_SHORT_NAMES:
        raise colander.Invalid(node, "This short name is used by the system.")


def _names(schema: colander.Schema, db, project_id: int | None) -> None:
    name = colander.All(
        colander.Length(3, 255),
        _unique(db, project_id, Project.name, "This name is already taken"),
    )
    short_name = colander.All(
        colander.Length(3, 255),
        short_name_valid,
        _short_name_free,
        _unique(db, project_id, Project.short_name, "This short name is already taken"),
    )
    schema.add(text("name", "The name is required", name))
    schema.add(text("short_name", "The short name is required", short_name))


def _category(category_ids: list[int], required: bool) -> colander.SchemaNode:
    extra = {"missing_msg": "Not a valid choice"} if required else {"missing": None}
    return colander.SchemaNode(
        colander.Integer(), name="category_id", validator=colander.OneOf(category_ids), **extra
    )


def new_schema(db, category_ids: list[int]) -> colander.Schema:
    schema = colander.Schema()
    _names(schema, db, None)
    schema.add(text("description", validator=colander.Length(max=255)))
    schema.add(text("long_description"))
    schema.add(_category(category_ids, required=False))
    return schema


def update_schema(db, project: Project, category_ids: list[int]) -> colander.Schema:
    schema = colander.Schema()
    schema.add(colander.SchemaNode(colander.Integer(), name="id", missing=None))
    _names(schema, db, project.id)
    schema.add(text("description", "You must provide a description.", colander.Length(max=255)))
    schema.add(text("long_description"))
    schema.add(checkbox("allow_anonymous_contributors"))
    schema.add(checkbox("zip_download"))
    schema.add(_category(category_ids, required=True))
    schema.add(checkbox("protect"))
    schema.add(text("password", validator=colander.Length(max=255)))
    schema.add(text("webhook", validator=colander.All(colander.Length(max=2000), _webhook_url)))
    return schema


def upload_schema() -> colander.Schema:
    schema = colander.Schema()
    schema.add(colander.SchemaNode(colander.Integer(), name="id", missing=None))
    schema.add(text("avatar"))
    for name in CROP_FIELDS:
        schema.add(crop_corner(name))
    return schema


def _categories(db) -> list[tuple]:
    return [
        tuple(row) for row in db.execute(select(Category.id, Category.name).order_by(Category.id))
    ]


@view_config(route_name="project_new", request_method=("GET", "POST"), renderer="page")
def new_project(request):
    db = request.dbsession
    data = posted(request)
    require_signed_in(request)
    categories = _categories(db)
    schema = new_schema(db, [category_id for category_id, _ in categories])
    form = Form(schema, data)
    form.choices["category_id"] = categories
    if data is not None:
        values = form.valid()
        if values is not None and not (values["description"] or values["long_description"]):
            form.add_error("description", "You must provide a description.")
            values = None
        if values is not None:
            try:
                with db.begin_nested():
                    project = projects.create_project(db, request.user, values)
            except IntegrityError:
                form.add_error("short_name", "This name or short name is already taken")
            else:
                auditlog.record_create(db, request, project)
                url = f"/project/{quote(project.short_name)}/update"
                return redirect(request, url, "Project created!", "success")
        flash(request, CORRECT_ERRORS, "error")
    return {
        "errors": bool(form.errors),
        "form": form,
        "title": "Create a Project",
        "template": "projects/new.html",
    }


def _update_page(request, project: Project, form: Form, upload_form: Form) -> dict:
    form.choices["category_id"] = _categories(request.dbsession)
    return project_page(
        request,
        project,
        "settings",
        "Update",
        "projects/update.html",
        form=form,
        upload_form=upload_form,
    )


def _new_upload_form(data: dict | None = None) -> Form:
    form = Form(upload_schema(), data, x1=0, y1=0, x2=0, y2=0)
    # The file itself is never sent back.
    form.secret = ("avatar",)
    return form


def _apply(db, request, project: Project, values: dict) -> bool:
    """Save the new values with an audit row per change; False if a name was taken meanwhile."""
    before = auditlog.snapshot(project)
    try:
        with db.begin_nested():
            for name in UPDATE_FIELDS:
                setattr(project, name, values[name])
            if not values["protect"]:
                projects.set_password(project, None)
            elif values["password"]:
                projects.set_password(project, values["password"])
    except IntegrityError:
        db.refresh(project)
        return False
    auditlog.record_update(db, request, project, before)
    return True


def _upload_avatar(request, project: Project, data: dict):
    """btn=Upload: crop and store the image, point the project at it, drop the old file."""
    form = _new_upload_form({**data, "avatar": None})
    values = form.valid()
    upload = request.POST.get("avatar")
    if not hasattr(upload, "file"):
        form.add_error("avatar", "You must select a file to upload")
    if values is not None and not form.errors:
        settings = request.registry.settings
        upload_dir, max_bytes = settings["upload.dir"], settings["upload.max_bytes"]
        container = f"user_{project.owner_id}"
        # As api.rst says: (x1, y1) is the top-left corner, (x2, y2) the width and height.
        x1, y1, width, height = (int(values[name]) for name in CROP_FIELDS)
        crop = (x1, y1, x1 + width, y1 + height) if width and height else None
        try:
            name = save_image(
                upload_dir,
                container,
                upload.file.read(max_bytes + 1),
                crop=crop,
                max_bytes=max_bytes,
                max_pixels=settings["upload.max_pixels"],
            )
        except DomainError as error:
            form.add_error("avatar", error.message)
        else:
            before = auditlog.snapshot(project)
            url = image_url(request, container, name)
            old = projects.set_avatar(project, container, name, url)
            auditlog.record_update(request.dbsession, request, project, before)
            # Only a file of the owner's container: never one that info names elsewhere.
            old = old and uploads.owned_path(upload_dir, *old, {container})
            if old:
                request.after_commit(uploads.remove, old)
            url = f"/project/{quote(project.short_name)}/update"
            return redirect(request, url, "Your project thumbnail has been updated!", "success")
    flash(request, CORRECT_ERRORS, "error")
    current = {name: getattr(project, name) for name in UPDATE_FIELDS}
    schema = update_schema(request.dbsession, project, [])
    main = Form(schema, id=project.id, protect=projects.is_protected(project), **current)
    return _update_page(request, project, main, form)


@view_config(route_name="project_update", request_method=("GET", "POST"), renderer="page")
def update_project(request):
    db = request.dbsession
    data = posted(request)
    project = load_project_for(request, "owner")
    schema = update_schema(db, project, [category_id for category_id, _ in _categories(db)])
    if data is None:
        current = {name: getattr(project, name) for name in UPDATE_FIELDS}
        form = Form(schema, id=project.id, protect=projects.is_protected(project), **current)
        return _update_page(request, project, form, _new_upload_form())
    if str(data.get("btn") or "").capitalize() == "Upload":
        return _upload_avatar(request, project, data)
    form = Form(schema, data)
    values = form.valid()
    if values is not None and values["protect"] and not values["password"]:
        if not projects.is_protected(project):
            form.add_error("password", "You must enter a password to protect the project")
            values = None
    if values is not None:
        if _apply(db, request, project, values):
            url = f"/project/{quote(project.short_name)}/update"
            return redirect(request, url, "Project updated!", "success")
        form.add_error("short_name", "This name or short name is already taken")
    flash(request, CORRECT_ERRORS, "error")
    return _update_page(request, project, form, _new_upload_form())


@view_config(route_name="project_resetsecretkey", request_method="POST", renderer="page")
def reset_secret_key(request):
    posted(request)
    project = load_project_for(request, "owner")
    projects.reset_secret_key(project)
    url = f"/project/{quote(project.short_name)}/update"
    return redirect(request, url, "New secret key generated", "success")


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
