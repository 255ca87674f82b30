"""Contributing in the browser: the task presenter page, its editor and the tutorial (shown
instead of the presenter on a browser's first visit, as PYBOSSA does).

The presenter and the tutorial are HTML written by the project's owners: they run in a
sandboxed frame of their own (core/web/presenter_frame.py), with jQuery and
/static/js/pybossa/pybossa.js loaded before them; the page around the frame holds the session
and performs the calls the frame asks for (api.rst "Project task id"; behavior.md 6.3 and 9.4,
decision 15).
"""

from urllib.parse import quote

import colander
from pyramid.httpexceptions import HTTPNotFound
from pyramid.renderers import render
from pyramid.view import view_config
from sqlalchemy.orm.attributes import flag_modified

from core.models import Task, User
from core.services import auditlog, guard
from core.services.permissions import owns_or_admin
from core.services.task_run import Participant
from core.web import add_routes
from core.web.account import CORRECT_ERRORS
from core.web.forms import Form, text
from core.web.presenter_frame import MAX_ID, SANDBOX, frame_url
from core.web.project_access import (
    load_project_for,
    owner_summary,
    project_frame,
    project_summary,
    require_readable,
)
from core.web.render import flash, form_data, redirect, require_csrf

ROUTES = {
    "contribute_newtask": "/project/{short_name}/newtask",
    "contribute_task": "/project/{short_name}/task/{task_id:\\d+}",
    "presenter_editor": "/project/{short_name}/tasks/taskpresentereditor",
    "project_tutorial": "/project/{short_name}/tutorial",
}

# The presenter templates an owner can start from, in the order the editor offers them.
PRESENTERS = ("basic", "image", "sound", "video", "map", "pdf")
PRESENTER_SAVED = "Task presenter added!"
SIGN_IN_TO_CONTRIBUTE = "Please sign in to contribute to this project"
NEEDS_TASKS = "You will need to import tasks with the CSV importer before volunteers can help."
EDITOR_NOTE = "Edit the HTML and JavaScript of your task presenter, then save it."
# A presenter is a page fragment; a megabyte is far beyond any real one.
MAX_PRESENTER = 1_000_000
# What each frame's pybossa.js may ask the page around it to do with the volunteer's session.
PRESENTER_OPERATIONS = "newtask task taskrun userprogress"
TUTORIAL_OPERATIONS = "task userprogress"


def frame(request, project, kind: str, operations: str, task_id: int | None = None) -> dict:
    """The `frame` key of a page that embeds owner-written HTML (contribute/_frame.html)."""
    return {
        "url": frame_url(request, project, kind, task_id),
        "sandbox": SANDBOX,
        "operations": operations,
        "title": project.name,
    }


def project_page(request, project, tab: str, title: str, template: str) -> dict:
    """The keys every page about one project answers, plus the frame of its HTML layout."""
    owner = request.dbsession.get(User, project.owner_id)
    return {
        **project_frame(request, project, tab),
        "owner": owner_summary(request, owner),
        "title": title,
        "template": template,
    }


# -- the presenter page -----------------------------------------------------------------------


def readable_project(request):
    """The project of a contribution page, as its info page lets the caller see it: a draft's
    record, presenter and tutorial are its owners' (decision 24)."""
    project = load_project_for(request, "view")
    require_readable(request, project)
    return project


def _presenter_page(request, project, task: Task | None = None) -> dict:
    if request.user is None and not project.allow_anonymous_contributors:
        return redirect(
            request,
            f"/account/signin?next={quote(request.path_qs)}",
            SIGN_IN_TO_CONTRIBUTE,
            "warning",
        )
    page = project_page(
        request,
        project,
        "contribute",
        f"Project: {project.name} · Contribute",
        "contribute/presenter.html",
    )
    presenter = (project.info or {}).get("task_presenter")
    owner = request.user is not None and owns_or_admin(request.user, project)
    # Drafts are tried by their owners; volunteers (given the password of a protected draft)
    # wait for the publication, which deletes every draft answer (behavior.md 9.4).
    if not presenter:
        state = "no_presenter"
    elif not project.published and not owner:
        state = "draft"
    else:
        state = "draft_test" if not project.published else "ready"
    if state in ("ready", "draft_test"):
        shown = first_visit_tutorial(request, project)
        if shown is not None:
            return shown
    if task is not None and state in ("ready", "draft_test"):
        # A task asked for by id counts as handed out, like newtask's (behavior.md 6.3).
        participant = Participant.of(request)
        ttl = request.registry.settings["guard.ttl"]
        guard.stamp(
            request.dbsession, participant.redis, participant.key, project.id, [task.id], ttl
        )
    # The presenter itself is project.info.task_presenter; the state tells how to show it.
    page["presenter_state"] = state
    if state in ("ready", "draft_test"):
        kind, task_id = ("newtask", None) if task is None else ("task", task.id)
        page["frame"] = frame(request, project, kind, PRESENTER_OPERATIONS, task_id)
    return page


@view_config(route_name="contribute_newtask", request_method="GET", renderer="page")
def newtask_page(request):
    return _presenter_page(request, readable_project(request))


@view_config(route_name="contribute_task", request_method="GET", renderer="page")
def task_page(request):
    project = readable_project(request)
    task_id = int(request.matchdict["task_id"])
    task = request.dbsession.get(Task, task_id) if task_id <= MAX_ID else None
    if task is None or task.project_id != project.id:
        raise HTTPNotFound()
    return _presenter_page(request, project, task)


# -- the presenter editor -----------------------------------------------------------------------


def presenter_template(request, name: str, short_name: str) -> str:
    """One of our presenter templates, ready to run for this project."""
    return render(f"presenters/{name}.html", {"short_name": short_name}, request=request)


def editor_schema() -> colander.Schema:
    schema = colander.Schema()
    schema.add(colander.SchemaNode(colander.Integer(), name="id", missing=None))
    schema.add(
        text(
            "editor",
            "The task presenter is required",
            colander.Length(max=MAX_PRESENTER, max_err="The task presenter is too long"),
        )
    )
    return schema


def _editor_frame(request, project, template: str) -> dict:
    """The editor's keys: project, owner, figures and pro_features (api.rst)."""
    return {
        **project_frame(request, project, "settings"),
        **project_summary(request, project),
        "title": f"Project: {project.name} · Task Presenter Editor",
        "template": template,
    }


def _editor_page(request, project, form: Form) -> dict:
    page = _editor_frame(request, project, "contribute/editor.html")
    page.update(form=form, errors=bool(form.errors), presenters_names=PRESENTERS)
    return page


def _options_page(request, project) -> dict:
    page = _editor_frame(request, project, "contribute/editor_options.html")
    page["presenters"] = [f"presenters/{name}.html" for name in PRESENTERS]
    page["presenters_names"] = PRESENTERS
    if not page["n_tasks"]:
        page.update(flash=NEEDS_TASKS, status="info")
    return page


def _save_presenter(request, project, presenter: str) -> None:
    before = auditlog.snapshot(project)
    project.info = {**(project.info or {}), "task_presenter": presenter}
    flag_modified(project, "info")
    request.dbsession.flush()
    auditlog.record_update(request.dbsession, request, project, before)


@view_config(route_name="presenter_editor", request_method=("GET", "POST"), renderer="page")
def presenter_editor(request):
    data = form_data(request) if request.method == "POST" else None
    if data is not None:
        require_csrf(request, data)
    project = load_project_for(request, "owner")
    schema = editor_schema()
    if data is not None:
        form = Form(schema, data)
        values = form.valid()
        if values is None:
            flash(request, CORRECT_ERRORS, "error")
            return _editor_page(request, project, form)
        _save_presenter(request, project, values["editor"])
        return redirect(
            request, f"/project/{project.short_name}/tasks/", PRESENTER_SAVED, "success"
        )
    chosen = request.GET.get("template")
    current = (project.info or {}).get("task_presenter") or ""
    if chosen is not None:
        if chosen not in PRESENTERS:
            raise HTTPNotFound()
        current = presenter_template(request, chosen, project.short_name)
    elif not current:
        return _options_page(request, project)
    page = _editor_page(request, project, Form(schema, id=project.id, editor=current))
    page.update(flash=EDITOR_NOTE, status="info")
    return page


# -- the tutorial ---------------------------------------------------------------------------------


def _tutorial_page(request, project) -> dict:
    page = project_page(
        request, project, "contribute", f"Project: {project.name}", "contribute/tutorial.html"
    )
    page["tutorial"] = (project.info or {}).get("tutorial") or ""
    if page["tutorial"]:
        page["frame"] = frame(request, project, "tutorial", TUTORIAL_OPERATIONS)
    return page


def tutorial_cookie(project) -> str:
    """The cookie that says this browser has been shown the project's tutorial."""
    return f"{project.short_name}tutorial"


def first_visit_tutorial(request, project) -> dict | None:
    """The tutorial page, on a browser's first visit to a project that has one (as PYBOSSA
    shows it at the presenter's address), else None; the visit is remembered for the session."""
    name = tutorial_cookie(project)
    if not (project.info or {}).get("tutorial") or request.cookies.get(name):
        return None
    request.response.set_cookie(
        name, "seen", path="/", httponly=True, samesite="Lax", secure=request.scheme == "https"
    )
    return _tutorial_page(request, project)


@view_config(route_name="project_tutorial", request_method="GET", renderer="page")
def tutorial(request):
    return _tutorial_page(request, readable_project(request))


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
