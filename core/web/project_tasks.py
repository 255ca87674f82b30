"""The owner's task settings (behavior.md 9.4): redundancy, priority, scheduler, deleting tasks,
one task's answers as JSON, and handing the project to another user.

Owners and admins only (handing over: the primary owner and admins, decision 23); every POST
needs the CSRF token. The rules themselves live in core.services.task and core.services.project.
"""

import math
import re
from urllib.parse import quote

import colander
from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound
from pyramid.response import Response
from pyramid.view import view_config
from sqlalchemy import func, select

from core.inputs import INT_MAX
from core.mail import mail_new_primary_owner
from core.models import Task, TaskRun, User
from core.schemas import StrictInt
from core.serializers import dictize
from core.services import auditlog, pending, uploads
from core.services import project as projects
from core.services import task as tasks
from core.services.permissions import is_admin
from core.web import add_routes
from core.web.account import CORRECT_ERRORS
from core.web.contribute import newtask_page
from core.web.forms import Form, text
from core.web.project_access import load_project_for, require_data_readable
from core.web.project_data import project_keys
from core.web.render import flash, posted, redirect

ROUTES = {
    "project_task_settings": "/project/{short_name}/tasks/settings",
    "project_task_redundancy": "/project/{short_name}/tasks/redundancy",
    "project_task_priority": "/project/{short_name}/tasks/priority",
    "project_task_scheduler": "/project/{short_name}/tasks/scheduler",
    "project_tasks_delete": "/project/{short_name}/tasks/delete",
    "project_task_results_json": r"/project/{short_name}/{task_id:\d+}/results.json",
    "project_transferownership": "/project/{short_name}/transferownership",
    "project_presenter": "/project/{short_name}/presenter",
}
REDUNDANCY_SAVED = "Redundancy of Tasks updated!"
REDUNDANCY_RANGE = f"Number of answers should be a value between 1 and {tasks.MAX_ANSWERS:,}"
PRIORITY_SAVED = "Task priority has been changed"
PRIORITY_RANGE = "Priority should be a value between 0.0 and 1.0"
TASK_IDS_FORMAT = "Task IDs must be whole numbers separated by commas"
SCHEDULER_SAVED = "Project Task Scheduler updated!"
TASKS_DELETED = "Tasks and taskruns with no associated results have been deleted"
OWNER_UPDATED = "Project owner updated"
OWNER_NOT_FOUND = "New project owner not found by email"
# Several tasks with different values were changed at once: PYBOSSA's word for the old value.
VARIOUS = "N/A"


def _tasks_url(project) -> str:
    return f"/project/{quote(project.short_name)}/tasks/"


def _form_page(request, project, title: str, template: str, form: Form, **keys) -> dict:
    return {**project_keys(request, project, "tasks", title, template), "form": form, **keys}


def _redo(request, project, title: str, template: str, form: Form, **keys) -> dict:
    """The form again with its errors, after a refused POST."""
    flash(request, CORRECT_ERRORS, "error")
    return _form_page(request, project, title, template, form, **keys)


# --- the settings hub ---------------------------------------------------------------------------


@view_config(route_name="project_task_settings", request_method="GET", renderer="page")
def task_settings(request):
    project = load_project_for(request, "owner")
    page = project_keys(request, project, "tasks", "Settings", "projects/task_settings.html")
    # A form-less page: the token its links' forms need, for JSON clients.
    return {**page, "csrf": get_csrf_token(request)}


# --- redundancy ---------------------------------------------------------------------------------


def redundancy_schema() -> colander.Schema:
    # The API's integer (core.schemas): 2.5 and true are refused, not truncated to 2 and 1.
    n_answers = StrictInt()
    n_answers.nullable = False
    schema = colander.Schema()
    schema.add(
        colander.SchemaNode(
            n_answers,
            name="n_answers",
            missing_msg=REDUNDANCY_RANGE,
            validator=colander.Range(tasks.MIN_ANSWERS, tasks.MAX_ANSWERS, REDUNDANCY_RANGE),
        )
    )
    return schema


def _common_value(db, column, project_id: int):
    """The value every task of the project shares, else VARIOUS."""
    values = db.scalars(
        select(column).where(Task.project_id == project_id).distinct().limit(2)
    ).all()
    return values[0] if len(values) == 1 else VARIOUS


@view_config(route_name="project_task_redundancy", request_method=("GET", "POST"), renderer="page")
def task_redundancy(request):
    data = posted(request)
    project = load_project_for(request, "owner")
    db = request.dbsession
    form = Form(redundancy_schema(), data)
    page = ("Redundancy", "projects/task_n_answers.html")
    if data is None:
        return _form_page(request, project, *page, form)
    values = form.valid()
    if values is None:
        return _redo(request, project, *page, form)
    before = _common_value(db, Task.n_answers, project.id)
    tasks.set_redundancy(db, project.id, values["n_answers"])
    auditlog.record_value(db, request, project, "task.n_answers", before, values["n_answers"])
    return redirect(request, _tasks_url(project), REDUNDANCY_SAVED, "success")


# --- priority -----------------------------------------------------------------------------------


# ASCII digits: str.isdigit() also takes ², ① and other digits int() cannot read.
TASK_ID = re.compile(r"[0-9]+")


def _task_ids(node, value):
    parts = [part.strip() for part in value.split(",")]
    if not parts or not all(TASK_ID.fullmatch(part) for part in parts):
        raise colander.Invalid(node, TASK_IDS_FORMAT)


def _finite(node, value):
    # colander's Float reads "nan", which every Range comparison lets through.
    if not math.isfinite(value):
        raise colander.Invalid(node, PRIORITY_RANGE)


def _ids_of(task_ids: str) -> tuple[list[int], str | None]:
    """The listed ids, once each, and the first listed that no task can have (or None)."""
    ids = []
    for part in (part.strip() for part in task_ids.split(",")):
        digits = part.lstrip("0") or "0"
        # Compared by length first: int() refuses 4,300 digits and more.
        if len(digits) > len(str(INT_MAX)) or int(digits) > INT_MAX:
            return [], part[:20] + ("…" if len(part) > 20 else "")
        ids.append(int(digits))
    return list(dict.fromkeys(ids)), None


def priority_schema() -> colander.Schema:
    schema = colander.Schema()
    schema.add(
        text("task_ids", TASK_IDS_FORMAT, colander.All(colander.Length(max=100_000), _task_ids))
    )
    schema.add(
        colander.SchemaNode(
            colander.Float(),
            name="priority_0",
            missing_msg=PRIORITY_RANGE,
            validator=colander.All(
                _finite,
                colander.Range(tasks.MIN_PRIORITY, tasks.MAX_PRIORITY, PRIORITY_RANGE),
            ),
        )
    )
    return schema


@view_config(route_name="project_task_priority", request_method=("GET", "POST"), renderer="page")
def task_priority(request):
    data = posted(request)
    project = load_project_for(request, "owner")
    db = request.dbsession
    form = Form(priority_schema(), data)
    page = ("Priority", "projects/task_priority.html")
    if data is None:
        return _form_page(request, project, *page, form)
    values = form.valid()
    if values is None:
        return _redo(request, project, *page, form)
    ids, impossible = _ids_of(values["task_ids"])
    missing = (
        [impossible]
        if impossible
        else tasks.set_priority(db, project.id, ids, values["priority_0"])
    )
    if missing:
        message = f"Ooops, Task.id={missing[0]} does not belong to the project"
        form.add_error("task_ids", message)
        return _redo(request, project, *page, form)
    new = {"task_ids": ids, "priority_0": values["priority_0"]}
    auditlog.record_value(db, request, project, "task.priority_0", VARIOUS, new)
    return redirect(request, _tasks_url(project), PRIORITY_SAVED, "success")


# --- scheduler ----------------------------------------------------------------------------------


PENDING_RANGE = (
    f"Between {pending.SHORTEST} and {pending.LONGEST} seconds, or empty for the site's default"
)


def scheduler_schema(names: list[str]) -> colander.Schema:
    schema = colander.Schema()
    schema.add(text("sched", "Not a valid choice", colander.OneOf(names)))
    # Seconds a hand-out counts towards n_answers (decision 25); empty: the site's setting.
    seconds = StrictInt()
    schema.add(
        colander.SchemaNode(
            seconds,
            name="pending_ttl",
            missing=None,
            validator=colander.Range(pending.SHORTEST, pending.LONGEST, PENDING_RANGE),
        )
    )
    return schema


@view_config(route_name="project_task_scheduler", request_method=("GET", "POST"), renderer="page")
def task_scheduler(request):
    data = posted(request)
    seconds = None if data is None else data.get("pending_ttl")
    if data is not None and isinstance(seconds, str) and not seconds.strip():
        data = {**data, "pending_ttl": None}  # empty: the site's default
    project = load_project_for(request, "owner")
    db = request.dbsession
    names = sorted(request.registry["schedulers"])
    info = project.info or {}
    current = info.get("sched") or request.registry.settings["scheduler.default"]
    # What newtask reads of it (a value stored through the API that is no number shows empty).
    seconds = pending.own_ttl(info.get("pending_ttl"))
    form = Form(scheduler_schema(names), data, sched=current, pending_ttl=seconds)
    form.choices["sched"] = [(name, name.replace("_", " ")) for name in names]
    page = ("Task Scheduler", "projects/task_scheduler.html")
    if data is None:
        return _form_page(request, project, *page, form, sched_variants=names)
    values = form.valid()
    if values is None:
        return _redo(request, project, *page, form, sched_variants=names)
    before = auditlog.snapshot(project)
    info = {**(project.info or {}), "sched": values["sched"]}
    info.pop("pending_ttl", None)
    if values["pending_ttl"] is not None:
        info["pending_ttl"] = values["pending_ttl"]
    project.info = info
    auditlog.record_update(db, request, project, before)
    return redirect(request, _tasks_url(project), SCHEDULER_SAVED, "success")


# --- deleting tasks -----------------------------------------------------------------------------


@view_config(route_name="project_tasks_delete", request_method=("GET", "POST"), renderer="page")
def tasks_delete(request):
    data = posted(request)
    project = load_project_for(request, "owner")
    if data is None:
        page = project_keys(
            request, project, "tasks", "Delete tasks", "projects/tasks/delete.html"
        )
        return {**page, "csrf": get_csrf_token(request)}
    db = request.dbsession
    doomed = tasks.lock_tasks_without_results(db, project.id)
    answers = TaskRun.task_id.in_(doomed)
    files = projects.answer_files(db, project, request.registry.settings["upload.dir"], answers)
    tasks.delete_tasks_without_results(db, project.id, doomed)
    for path in files:
        request.after_commit(uploads.remove, path)
    return redirect(request, _tasks_url(project), TASKS_DELETED, "success")


# --- one task's answers -------------------------------------------------------------------------


@view_config(route_name="project_task_results_json", request_method="GET")
def task_results_json(request):
    """The task's runs as a JSON array: whoever may read the project's answers (decision 24)."""
    project = load_project_for(request, "view")
    require_data_readable(request, project)
    db = request.dbsession
    task = db.get(Task, int(request.matchdict["task_id"]))
    if task is None or task.project_id != project.id:
        raise HTTPNotFound()
    runs = db.scalars(select(TaskRun).where(TaskRun.task_id == task.id).order_by(TaskRun.id))
    body = [dictize(request, run) for run in runs]
    return Response(json_body=body, content_type="application/json", charset="utf-8")


# --- handing the project over -------------------------------------------------------------------


def transfer_schema() -> colander.Schema:
    schema = colander.Schema()
    email = colander.All(colander.Length(max=254), colander.Email("Invalid email address."))
    schema.add(text("email_addr", "Email is required", email))
    return schema


@view_config(
    route_name="project_transferownership", request_method=("GET", "POST"), renderer="page"
)
def transfer_ownership(request):
    data = posted(request)
    project = load_project_for(request, "owner")
    # Like the co-owners: only the primary owner and admins choose who owns (decision 23).
    if not (is_admin(request.user) or request.user.id == project.owner_id):
        raise HTTPForbidden()
    db = request.dbsession
    form = Form(transfer_schema(), data)
    page = ("Transfer ownership", "projects/transferownership.html")
    if data is None:
        return _form_page(request, project, *page, form)
    values = form.valid()
    if values is None:
        return _redo(request, project, *page, form)
    address = values["email_addr"].strip().lower()
    user = db.scalars(select(User).where(func.lower(User.email_addr) == address)).first()
    sn = quote(project.short_name)
    if user is None:
        return redirect(request, f"/project/{sn}/transferownership", OWNER_NOT_FOUND, "info")
    before, owners_before = auditlog.snapshot(project), list(project.owners_ids)
    projects.transfer_ownership(project, user)
    auditlog.record_update(db, request, project, before)
    auditlog.record_owners(db, request, project, owners_before)
    if user.id != owners_before[0]:
        mail_new_primary_owner(request, project, user)
    return redirect(request, f"/project/{sn}/", OWNER_UPDATED, "info")


# --- the presenter ------------------------------------------------------------------------------


@view_config(route_name="project_presenter", request_method="GET", renderer="page")
def presenter(request):
    """PYBOSSA's other address of the contribution page (behavior.md 9.4, HTML only)."""
    return newtask_page(request)


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
