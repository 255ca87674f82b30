"""Project pages for owners: create, the info page, settings, update, delete, publish, keys."""

from urllib.parse import quote, urlsplit

import colander
from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPForbidden, HTTPMovedPermanently
from pyramid.view import view_config
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.credentials import limit_attempt
from core.errors import DomainError
from core.mail import mail_new_owners
from core.models import Category, Project, User
from core.passwords import verify_password
from core.schemas import short_name_valid
from core.serializers import public_info
from core.services import auditlog, export_store, uploads
from core.services import project as projects
from core.services.images import image_url, save_image
from core.services.permissions import is_admin
from core.services.readable import USER_PUBLIC_INFO
from core.services.uploads import remove as remove_file
from core.web import add_routes
from core.web.account import CORRECT_ERRORS, safe_next
from core.web.forms import Form, checkbox, crop_corner, text
from core.web.project_access import (
    find_project,
    load_project_for,
    project_frame,
    project_summary,
    require_readable,
    require_signed_in,
    unlock,
)
from core.web.render import flash, form_data, redirect, require_csrf

# `/project/new` is added before the `/project/{short_name}/...` family it would match.
ROUTES = {
    "project_new": "/project/new",
    "project_info": "/project/{short_name}/",
    "project_info_bare": "/project/{short_name}",
    "project_settings": "/project/{short_name}/settings",
    "project_update": "/project/{short_name}/update",
    "project_publish": "/project/{short_name}/publish",
    "project_delete": "/project/{short_name}/delete",
    "project_resetsecretkey": "/project/{short_name}/resetsecretkey",
    "project_password": "/project/{short_name}/password",
    "project_coowners": "/project/{short_name}/coowners",
    "project_add_coowner": "/project/{short_name}/add_coowner/{name}",
    "project_del_coowner": "/project/{short_name}/del_coowner/{name}",
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
CROP_FIELDS = ("x1", "y1", "x2", "y2")
# How many users a co-owner search shows.
SEARCH_LIMIT = 20


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


def _page(request, project: Project, tab: str, title: str, template: str, **keys) -> dict:
    """A page in the project frame, with the figures every project page shows."""
    return {
        **project_frame(request, project, tab),
        **project_summary(request, project),
        **keys,
        "title": f"Project: {project.name} · {title}" if title else f"Project: {project.name}",
        "template": template,
    }


def _posted(request) -> dict | None:
    """The submitted fields of a POST after the CSRF check; None for a GET."""
    if request.method != "POST":
        return None
    data = form_data(request)
    require_csrf(request, data)
    return data


# ---------------------------------------------------------------- create and show


@view_config(route_name="project_new", request_method=("GET", "POST"), renderer="page")
def new_project(request):
    db = request.dbsession
    data = _posted(request)
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


@view_config(route_name="project_info_bare", request_method="GET")
def project_info_bare(request):
    return HTTPMovedPermanently(location=f"/project/{quote(request.matchdict['short_name'])}/")


@view_config(route_name="project_info", request_method="GET", renderer="page")
def project_info(request):
    project = load_project_for(request, "view")
    require_readable(request, project)
    return _page(request, project, "info", "", "projects/project.html")


@view_config(route_name="project_settings", request_method="GET", renderer="page")
def project_settings(request):
    project = load_project_for(request, "owner")
    return _page(
        request,
        project,
        "settings",
        "Settings",
        "projects/settings.html",
        csrf=get_csrf_token(request),
    )


# ---------------------------------------------------------------- update, avatar, password


def _update_page(request, project: Project, form: Form, upload_form: Form) -> dict:
    form.choices["category_id"] = _categories(request.dbsession)
    return _page(
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
    data = _posted(request)
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
    _posted(request)
    project = load_project_for(request, "owner")
    projects.reset_secret_key(project)
    url = f"/project/{quote(project.short_name)}/update"
    return redirect(request, url, "New secret key generated", "success")


def password_schema() -> colander.Schema:
    schema = colander.Schema()
    schema.add(text("password", "You must provide a password"))
    return schema


@view_config(route_name="project_password", request_method=("GET", "POST"), renderer="page")
def project_password(request):
    data = _posted(request)
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


# ---------------------------------------------------------------- publish and delete


@view_config(route_name="project_publish", request_method=("GET", "POST"), renderer="page")
def publish_project(request):
    db = request.dbsession
    data = _posted(request)
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
    data = _posted(request)
    project = load_project_for(request, "owner")
    if data is None:
        return _page(
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


# ---------------------------------------------------------------- co-owners


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
    data = _posted(request)
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
