"""A project's blog: the list, one post, and the owners' forms to write, edit and delete."""

from urllib.parse import quote

import colander
from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config
from sqlalchemy import select

from core.models import Blogpost, Project
from core.serializers import dictize
from core.services import stats, uploads
from core.services.permissions import owns_or_admin
from core.web import add_routes
from core.web.account import CORRECT_ERRORS
from core.web.forms import Form, checkbox, text
from core.web.project_access import (
    load_project_for,
    project_frame,
    project_summary,
    require_readable,
)
from core.web.render import flash, posted, redirect

# Post ids are digits only, so the /project/<short_name>/<word> pages of other modules still match.
ROUTES = {
    "project_blog": "/project/{short_name}/blog",
    "project_new_blogpost": "/project/{short_name}/new-blogpost",
    "project_blogpost": r"/project/{short_name}/{id:\d+}",
    "project_update_blogpost": r"/project/{short_name}/{id:\d+}/update",
    "project_delete_blogpost": r"/project/{short_name}/{id:\d+}/delete",
}


def blogpost_schema() -> colander.Schema:
    schema = colander.Schema()
    schema.add(colander.SchemaNode(colander.Integer(), name="id", missing=None))
    schema.add(text("title", "You must give a title", colander.Length(max=255)))
    schema.add(text("body", "You must write something"))
    schema.add(checkbox("published"))
    return schema


def _blog_url(project: Project) -> str:
    return f"/project/{quote(project.short_name)}/blog"


def _frame(request, project: Project, title: str, template: str, **keys) -> dict:
    return {
        **project_frame(request, project, "blog"),
        **project_summary(request, project),
        **keys,
        "title": f"Project: {project.name} · {title}",
        "template": template,
    }


def _load_post(request, project: Project) -> Blogpost:
    """The post named in the URL; drafts exist only for the project's owners."""
    post = request.dbsession.get(Blogpost, int(request.matchdict["id"]))
    if post is None or post.project_id != project.id:
        raise HTTPNotFound()
    if not post.published and not owns_or_admin(request.user, project):
        raise HTTPNotFound()
    return post


@view_config(route_name="project_blog", request_method="GET", renderer="page")
def blog(request):
    project = load_project_for(request, "view")
    require_readable(request, project)
    query = select(Blogpost).where(Blogpost.project_id == project.id)
    is_owner = owns_or_admin(request.user, project)
    if not is_owner:
        query = query.where(Blogpost.published)
    posts = request.dbsession.scalars(query.order_by(Blogpost.created.desc(), Blogpost.id.desc()))
    return _frame(
        request,
        project,
        "Blog",
        "projects/blog.html",
        blogposts=[dictize(request, post, links=False) for post in posts],
        csrf=get_csrf_token(request) if is_owner else None,
    )


@view_config(route_name="project_blogpost", request_method="GET", renderer="page")
def blogpost(request):
    project = load_project_for(request, "view")
    require_readable(request, project)
    post = _load_post(request, project)
    return _frame(
        request,
        project,
        post.title,
        "projects/blog_post.html",
        blogpost=dictize(request, post, links=False),
        csrf=get_csrf_token(request) if owns_or_admin(request.user, project) else None,
    )


def _form_page(request, project: Project, form: Form, post: Blogpost | None) -> dict:
    if form.errors:
        flash(request, CORRECT_ERRORS, "error")
    title = "Update a blog post" if post else "Write a new post"
    return _frame(request, project, title, "projects/blog_form.html", form=form)


@view_config(route_name="project_new_blogpost", request_method=("GET", "POST"), renderer="page")
def new_blogpost(request):
    data = posted(request)
    project = load_project_for(request, "owner")
    form = Form(blogpost_schema(), data)
    if data is not None:
        values = form.valid()
        if values is not None:
            db = request.dbsession
            post = Blogpost(
                project_id=project.id,
                user_id=request.user.id,
                title=values["title"],
                body=values["body"],
                published=values["published"],
                info={},
            )
            db.add(post)
            db.flush()
            stats.bump(db, project.id, n_blogposts=1)
            return redirect(request, _blog_url(project), "Blog post created!", "success")
    return _form_page(request, project, form, None)


@view_config(route_name="project_update_blogpost", request_method=("GET", "POST"), renderer="page")
def update_blogpost(request):
    data = posted(request)
    project = load_project_for(request, "owner")
    post = _load_post(request, project)
    if data is None:
        current = {name: getattr(post, name) for name in ("id", "title", "body", "published")}
        return _form_page(request, project, Form(blogpost_schema(), **current), post)
    form = Form(blogpost_schema(), data)
    values = form.valid()
    if values is None:
        return _form_page(request, project, form, post)
    post.title, post.body, post.published = values["title"], values["body"], values["published"]
    return redirect(request, _blog_url(project), "Blog post updated!", "success")


@view_config(route_name="project_delete_blogpost", request_method="POST")
def delete_blogpost(request):
    posted(request)
    project = load_project_for(request, "owner")
    post = _load_post(request, project)
    db = request.dbsession
    path = uploads.stored_file(db, request.registry.settings["upload.dir"], post)
    db.delete(post)
    db.flush()
    stats.bump(db, project.id, n_blogposts=-1)
    if path:
        request.after_commit(uploads.remove, path)
    return redirect(request, _blog_url(project), "Blog post deleted!", "success")


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
