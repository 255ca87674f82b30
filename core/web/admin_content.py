"""Admin pages for site content: categories and announcements (behavior.md 9.8)."""

import colander
from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.models import Announcement, Category, Project
from core.schemas import web_url_valid
from core.services.project import only_category_left
from core.services.project_listing import category_dict
from core.web import add_routes
from core.web.account import CORRECT_ERRORS
from core.web.admin import require_admin
from core.web.forms import Form, checkbox, text
from core.web.render import flash, form_data, redirect, require_csrf

ROUTES = {
    "admin_categories": "/admin/categories",
    "admin_category_update": "/admin/categories/update/{category_id:\\d+}",
    "admin_category_delete": "/admin/categories/del/{category_id:\\d+}",
    "admin_announcements": "/admin/announcement",
    "admin_announcement_new": "/admin/announcement/new",
    "admin_announcement_update": "/admin/announcement/{announcement_id:\\d+}/update",
    "admin_announcement_delete": "/admin/announcement/{announcement_id:\\d+}/delete",
}
ANNOUNCEMENT_KEYS = (
    "body",
    "created",
    "id",
    "media_url",
    "published",
    "title",
    "updated",
    "user_id",
)
ANNOUNCEMENTS = "/admin/announcement"
CATEGORIES = "/admin/categories"


# --- Categories ---------------------------------------------------------------------------


def short_name_of(name: str) -> str:
    """PYBOSSA's category short name: the name in lower case without spaces."""
    return name.lower().replace(" ", "")


def _category_unique(db, category_id: int | None):
    def validate(node, value):
        clash = select(Category.id).where(
            (func.lower(Category.name) == value.strip().lower())
            | (Category.short_name == short_name_of(value.strip()))
        )
        if category_id is not None:
            clash = clash.where(Category.id != category_id)
        if db.scalar(clash) is not None:
            raise colander.Invalid(node, "Name is already taken")

    return validate


def category_schema(db, category_id: int | None = None) -> colander.Schema:
    name = colander.All(
        colander.Length(3, 255, min_err="The name must be at least 3 characters long"),
        _category_unique(db, category_id),
    )
    schema = colander.Schema()
    schema.add(colander.SchemaNode(colander.Integer(), name="id", missing=None))
    schema.add(text("name", "The name is required", name))
    schema.add(text("description", "The description is required", colander.Length(max=2000)))
    return schema


def _category_or_404(request) -> Category:
    category = request.dbsession.get(Category, int(request.matchdict["category_id"]))
    if category is None:
        raise HTTPNotFound()
    return category


def projects_per_category(db) -> dict[str, int]:
    rows = db.execute(
        select(Category.short_name, func.count(Project.id))
        .outerjoin(Project, Project.category_id == Category.id)
        .group_by(Category.short_name)
    )
    return dict(rows.all())


@view_config(route_name="admin_categories", request_method=("GET", "POST"), renderer="page")
def categories(request):
    """Every category with its number of projects; POST name+description adds one."""
    require_admin(request)
    db = request.dbsession
    form = Form(category_schema(db))
    if request.method == "POST":
        data = form_data(request)
        require_csrf(request, data)
        form = Form(category_schema(db), data)
        values = form.valid()
        if values is None:
            flash(request, CORRECT_ERRORS, "error")
        else:
            name = values["name"].strip()
            try:
                with db.begin_nested():
                    db.add(
                        Category(
                            name=name,
                            short_name=short_name_of(name),
                            description=values["description"],
                        )
                    )
            except IntegrityError:
                form.add_error("name", "Name is already taken")
                flash(request, CORRECT_ERRORS, "error")
            else:
                flash(request, "Category added", "success")
    rows = db.scalars(select(Category).order_by(Category.id))
    return {
        "categories": [category_dict(category) for category in rows],
        "form": form,
        "n_projects_per_category": projects_per_category(db),
        "title": "Categories",
        "template": "admin/categories.html",
    }


@view_config(route_name="admin_category_update", request_method=("GET", "POST"), renderer="page")
def update_category(request):
    require_admin(request)
    db = request.dbsession
    category = _category_or_404(request)
    schema = category_schema(db, category.id)
    if request.method == "GET":
        form = Form(schema, id=category.id, name=category.name, description=category.description)
    else:
        data = form_data(request)
        require_csrf(request, data)
        form = Form(schema, {**data, "id": category.id})
        values = form.valid()
        if values is not None:
            name = values["name"].strip()
            try:
                with db.begin_nested():
                    category.name = name
                    category.short_name = short_name_of(name)
                    category.description = values["description"]
            except IntegrityError:
                db.refresh(category)
                form.add_error("name", "Name is already taken")
            else:
                return redirect(request, CATEGORIES, "Category updated", "success")
        flash(request, CORRECT_ERRORS, "error")
    return {
        "category": category_dict(category),
        "form": form,
        "title": "Update Category",
        "template": "admin/update_category.html",
    }


@view_config(route_name="admin_category_delete", request_method=("GET", "POST"), renderer="page")
def delete_category(request):
    """Deletes an empty category; the last category and categories in use stay."""
    require_admin(request)
    db = request.dbsession
    category = _category_or_404(request)
    if request.method == "GET":
        return {
            "category": category_dict(category),
            "form": {"csrf": get_csrf_token(request)},
            "title": "Delete Category",
            "template": "admin/del_category.html",
        }
    require_csrf(request, form_data(request))
    if only_category_left(db):
        message = (
            "Sorry, it is not possible to delete the only available category. "
            "You can modify it, click the edit button"
        )
        return redirect(request, CATEGORIES, message, "warning")
    if db.scalar(select(func.count()).where(Project.category_id == category.id)):
        message = "This category still has projects: move them to another category first"
        return redirect(request, CATEGORIES, message, "error")
    db.delete(category)
    return redirect(request, CATEGORIES, "Category deleted", "success")


# --- Announcements ------------------------------------------------------------------------


def announcement_schema() -> colander.Schema:
    schema = colander.Schema()
    schema.add(colander.SchemaNode(colander.Integer(), name="id", missing=None))
    schema.add(text("title", "You must enter a title", colander.Length(max=255)))
    schema.add(text("body", "You must enter some text"))
    schema.add(text("media_url", validator=colander.All(colander.Length(max=2000), web_url_valid)))
    schema.add(checkbox("published"))
    return schema


def announcement_dict(announcement: Announcement) -> dict:
    return {key: getattr(announcement, key) for key in ANNOUNCEMENT_KEYS}


def _announcement_or_404(request) -> Announcement:
    found = request.dbsession.get(Announcement, int(request.matchdict["announcement_id"]))
    if found is None:
        raise HTTPNotFound()
    return found


@view_config(route_name="admin_announcements", request_method="GET", renderer="page")
def announcements(request):
    """Every announcement, drafts included, with the token to delete them."""
    require_admin(request)
    rows = request.dbsession.scalars(select(Announcement).order_by(Announcement.id.desc()))
    return {
        "announcements": [announcement_dict(row) for row in rows],
        "csrf": get_csrf_token(request),
        "title": "Manage global Announcements",
        "template": "admin/announcements.html",
    }


def _save_announcement(request, announcement: Announcement | None, title: str, done: str):
    """The form page of a new or existing announcement: GET shows it, POST saves it."""
    admin = require_admin(request)
    if request.method == "GET":
        if announcement is None:
            form = Form(announcement_schema(), published=True)
        else:
            current = announcement_dict(announcement)
            form = Form(announcement_schema(), **current)
    else:
        data = form_data(request)
        require_csrf(request, data)
        if announcement is not None:
            data = {**data, "id": announcement.id}
        form = Form(announcement_schema(), data)
        values = form.valid()
        if values is not None:
            if announcement is None:
                announcement = Announcement(user_id=admin.id)
                request.dbsession.add(announcement)
            for key in ("title", "body", "media_url", "published"):
                setattr(announcement, key, values[key])
            return redirect(request, ANNOUNCEMENTS, done, "success")
        flash(request, CORRECT_ERRORS, "error")
    return {
        "form": form,
        "title": title,
        "template": "admin/announcement_form.html",
    }


@view_config(route_name="admin_announcement_new", request_method=("GET", "POST"), renderer="page")
def new_announcement(request):
    return _save_announcement(request, None, "Write a new post", "Announcement created!")


@view_config(
    route_name="admin_announcement_update", request_method=("GET", "POST"), renderer="page"
)
def update_announcement(request):
    require_admin(request)
    announcement = _announcement_or_404(request)
    return _save_announcement(request, announcement, "Edit a post", "Announcement updated!")


@view_config(route_name="admin_announcement_delete", request_method="POST")
def delete_announcement(request):
    require_admin(request)
    require_csrf(request, form_data(request))
    request.dbsession.delete(_announcement_or_404(request))
    return redirect(request, ANNOUNCEMENTS, "Announcement deleted!", "success")


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
