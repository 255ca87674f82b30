"""A project's data pages: tasks, task browse, task import, results and statistics.

Every page carries the project's common keys (behavior.md 9.4): `project`, `owner`, the figures
of its ProjectStats row and `pro_features`.
"""

import math

import colander
from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config
from sqlalchemy import func, select

from core import jobs
from core.cache import cached
from core.models import ProjectStats, Result, Task, User
from core.services import stats
from core.services.importer import (
    ImporterError,
    enabled_importers,
    import_status,
    import_tasks,
    peek,
    run_import,
    set_status,
    spool_upload,
)
from core.services.permissions import owns_or_admin
from core.web import add_routes
from core.web.contribute import frame
from core.web.forms import Form, text
from core.web.project_access import (
    PAGE_FEATURES,
    load_project_for,
    owner_summary,
    pro_features,
    project_frame,
    refuse,
    require_data_readable,
)
from core.web.render import flash, form_data, redirect, require_csrf

ROUTES = {
    "project_tasks": "/project/{short_name}/tasks",
    "project_tasks_slash": "/project/{short_name}/tasks/",
    "project_tasks_browse": "/project/{short_name}/tasks/browse",
    "project_tasks_browse_slash": "/project/{short_name}/tasks/browse/",
    "project_tasks_browse_page": r"/project/{short_name}/tasks/browse/{page:\d+}",
    "project_tasks_browse_page_slash": r"/project/{short_name}/tasks/browse/{page:\d+}/",
    "project_tasks_import": "/project/{short_name}/tasks/import",
    "project_tasks_import_status": "/project/{short_name}/tasks/import/status",
    "project_results": "/project/{short_name}/results",
    "project_stats": "/project/{short_name}/stats",
}
BROWSE_PER_PAGE = 10
RESULTS_SHOWN = 20
LOADING_TEXT = "Importing tasks, this may take a while, wait..."
QUEUED_TEXT = (
    "The import is large: it runs in the background. The tasks will appear when it is done."
)
FIGURES = ("n_tasks", "n_task_runs", "n_completed_tasks", "n_volunteers", "overall_progress")


def project_keys(request, project, tab: str, title: str, template: str) -> dict:
    """The frame, the common keys of behavior.md 9.4, the title and the template."""
    db = request.dbsession
    row = db.scalars(select(ProjectStats).where(ProjectStats.project_id == project.id)).first()
    figures = {name: getattr(row, name) if row else 0 for name in FIGURES}
    figures["n_results"] = row.n_results if row else 0
    last = row.last_activity if row else None
    figures["last_activity"] = None if last in (None, "0") else last
    owner = db.get(User, project.owner_id)
    value = project_frame(request, project, tab)
    if request.user is not None and request.user.id == project.owner_id:
        value["project"].update(n_results=figures["n_results"], n_blogposts=row.n_blogposts)
    value.update(figures)
    value.update(
        owner=owner_summary(request, owner) if owner else None,
        pro_features=pro_features(request),
        title=f"Project: {project.name} · {title}" if title else f"Project: {project.name}",
        template=template,
    )
    return value


def pagination(page: int, per_page: int, total: int) -> dict:
    """behavior.md 9.9."""
    pages = math.ceil(total / per_page) if total else 0
    return {
        "page": page,
        "per_page": per_page,
        "total": total,
        "next": page < pages,
        "prev": page > 1,
    }


# --- /tasks and /tasks/browse ------------------------------------------------------------------


@view_config(route_name="project_tasks", request_method="GET", renderer="page")
@view_config(route_name="project_tasks_slash", request_method="GET", renderer="page")
def project_tasks(request):
    project = load_project_for(request, "view")
    require_data_readable(request, project)
    value = project_keys(request, project, "tasks", "Tasks", "project_data/tasks.html")
    value["autoimporter_enabled"] = pro_features(request, ("autoimporter",))[
        "autoimporter_enabled"
    ]
    return value


def _may_browse(request, project) -> None:
    """Without zip_download only owners and admins browse the tasks (behavior.md 9.4)."""
    if project.zip_download:
        return
    if not owns_or_admin(request.user, project):
        refuse(request)


@view_config(route_name="project_tasks_browse", request_method="GET", renderer="page")
@view_config(route_name="project_tasks_browse_slash", request_method="GET", renderer="page")
@view_config(route_name="project_tasks_browse_page", request_method="GET", renderer="page")
@view_config(route_name="project_tasks_browse_page_slash", request_method="GET", renderer="page")
def browse_tasks(request):
    project = load_project_for(request, "view")
    require_data_readable(request, project)
    _may_browse(request, project)
    page = int(request.matchdict.get("page") or 1)
    if page < 1:
        raise HTTPNotFound()
    db = request.dbsession
    total = db.scalar(select(func.count()).where(Task.project_id == project.id))
    rows = db.execute(
        select(Task.id, Task.n_answers, Task.n_task_runs, Task.state)
        .where(Task.project_id == project.id)
        .order_by(Task.id)
        .limit(BROWSE_PER_PAGE)
        .offset((page - 1) * BROWSE_PER_PAGE)
    ).all()
    if not rows and page != 1:
        raise HTTPNotFound()
    tasks = [
        {
            "id": task_id,
            "n_answers": n_answers,
            "n_task_runs": n_task_runs,
            "pct_status": min(n_task_runs / n_answers, 1.0) if n_answers else 0.0,
            "state": state,
        }
        for task_id, n_answers, n_task_runs, state in rows
    ]
    value = project_keys(request, project, "tasks", "Tasks", "project_data/tasks_browse.html")
    for key in ("n_task_runs", "n_results", "last_activity"):
        value.pop(key)
    value.update(tasks=tasks, pagination=pagination(page, BROWSE_PER_PAGE, total))
    return value


# --- /tasks/import -----------------------------------------------------------------------------


def importer_schema(importer) -> colander.Schema:
    schema = colander.Schema()
    for field in importer.fields:
        if field.kind != "file":
            schema.add(text(field.name))
    return schema


def _import_page(request, project, importers: dict, importer=None, form=None) -> dict:
    value = project_keys(
        request, project, "tasks", "Import Tasks", "project_data/task_import.html"
    )
    value.update(
        available_importers=[f"projects/tasks/{name}.html" for name in importers],
        importers=[
            {"name": name, "title": plugin.title, "description": plugin.description}
            for name, plugin in importers.items()
        ],
        importer=None,
        form=form,
        loading_text=LOADING_TEXT,
        target="project.import_task",
        task_tmpls=[],
        max_bytes=request.registry.settings["importer.max_bytes"],
    )
    if importer is not None:
        value["importer"] = {
            "name": importer.name,
            "title": importer.title,
            "description": importer.description,
            "fields": [vars(field) for field in importer.fields],
        }
    return value


def _chosen_importer(request, importers: dict, data: dict | None):
    name = (data or {}).get("form_name") or request.GET.get("type")
    if not name:
        return None
    importer = importers.get(name)
    if importer is None:
        raise HTTPNotFound()
    return importer


def _import_or_queue(request, project, importer, values: dict, uploads: dict):
    """Import a small source now; queue a large one as a job (None) that reads it again."""
    settings = request.registry.settings
    chosen = {name: upload for name, upload in uploads.items() if getattr(upload, "filename", "")}
    spooled = {name: spool_upload(upload, settings) for name, upload in chosen.items()}
    queued = False
    try:
        opened = {name: upload.opened() for name, upload in spooled.items()}
        records = importer.records({**values, **uploads, **opened}, settings)
        head, large = peek(records, settings["importer.background_threshold"])
        if not large:
            return import_tasks(request.dbsession, project, head)
        set_status(request.dbsession, project, "queued", importer.name)
        job_values = {**values, **spooled}
        jobs.enqueue(
            request,
            run_import,
            project.id,
            importer.name,
            job_values,
            queue=settings["importer.queue"],
        )
        queued = True
        return None
    finally:
        if not queued:
            for upload in spooled.values():
                upload.delete()


@view_config(route_name="project_tasks_import_status", request_method="GET", renderer="json")
def import_status_page(request):
    """The last background import of the project: queued, running (with figures), done, failed."""
    project = load_project_for(request, "owner")
    return {"import_status": import_status(request.registry.settings, project)}


@view_config(route_name="project_tasks_import", request_method=("GET", "POST"), renderer="page")
def import_tasks_page(request):
    data = form_data(request) if request.method == "POST" else None
    if data is not None:
        require_csrf(request, data)
    project = load_project_for(request, "owner")
    importers = request.registry["importers"]
    importer = _chosen_importer(request, importers, data)
    if importer is None:
        if data is not None:
            raise HTTPNotFound()
        return _import_page(request, project, importers)
    uploads = {
        field.name: data.get(field.name)
        for field in importer.fields
        if field.kind == "file" and data is not None
    }
    form = Form(
        importer_schema(importer),
        {k: v for k, v in (data or {}).items() if k not in uploads},
    )
    if data is None:
        return _import_page(request, project, importers, importer, form)
    values = form.valid()
    if values is not None:
        settings = request.registry.settings
        try:
            if settings["importer.background"]:
                report = _import_or_queue(request, project, importer, values, uploads)
            else:
                records = importer.records({**values, **uploads}, settings)
                report = import_tasks(request.dbsession, project, records)
        except ImporterError as error:
            form.add_error(error.field or "form", error.message)
        else:
            url = f"/project/{project.short_name}/tasks/"
            if report is None:
                return redirect(request, url, QUEUED_TEXT, "info")
            return redirect(request, url, report.message, "success" if report.created else "info")
    if request.wants_json:
        messages = [message for errors in form.errors.values() for message in errors]
        flash(request, " ".join(messages), "error")
    else:
        flash(request, "Nothing was imported: please correct the errors below.", "error")
    return _import_page(request, project, importers, importer, form)


# --- /results and /stats -----------------------------------------------------------------------


@view_config(route_name="project_results", request_method="GET", renderer="page")
def project_results(request):
    project = load_project_for(request, "view")
    require_data_readable(request, project)
    value = project_keys(request, project, "results", "Results", "project_data/results.html")
    rows = request.dbsession.execute(
        select(Result.id, Result.task_id, Result.created, Result.info)
        .where(Result.project_id == project.id, Result.last_version, Result.info.is_not(None))
        .order_by(Result.id.desc())
        .limit(RESULTS_SHOWN)
    ).all()
    # For the HTML page only: the latest results the owner has filled in.
    value["latest_results"] = [
        {"id": rid, "task_id": task_id, "created": created, "info": info}
        for rid, task_id, created, info in rows
    ]
    # The owners' results template (info.results) runs in its sandboxed frame (decision 15).
    if (project.info or {}).get("results"):
        value["frame"] = frame(request, project, "results", "")
    return value


def _chart_stats(activity: dict) -> dict:
    """projectStats: chart-ready series, in the shapes PYBOSSA's stats page draws."""
    hours, dates = activity["hours_stats"], activity["dates_stats"]
    labels = (("all", "Anon + Auth"), ("anon", "Anonymous"), ("auth", "Authenticated"))
    return {
        "userStats": {
            "label": "User Statistics",
            "values": [
                {"label": "Anonymous", "value": [0, activity["n_anon"]]},
                {"label": "Authenticated", "value": [0, activity["n_auth"]]},
            ],
        },
        "userAnonStats": {
            "label": "Anonymous Users",
            "values": [],
            "top5": activity["anon_top5"],
            "n_users": activity["n_anon"],
        },
        "userAuthStats": {
            "label": "Authenticated Users",
            "values": [],
            "top5": activity["auth_top5"],
            "n_users": activity["n_auth"],
        },
        "dayStats": [
            {
                "label": label,
                "values": [list(p) for p in zip(activity["days_ms"], dates[key], strict=True)],
            }
            for key, label in labels
        ],
        "hourStats": [
            {
                "label": label,
                "values": [list(p) for p in zip(activity["hours"], hours[key], strict=True)],
                "max": max(hours[key]),
            }
            for key, label in labels
        ],
    }


def _user_stats(activity: dict) -> dict:
    """userStats: users and task runs of each kind, percentages of the task runs."""
    runs = activity["anon_taskruns"] + activity["auth_taskruns"]
    kinds = {}
    for kind, prefix in (("anonymous", "anon"), ("authenticated", "auth")):
        taskruns = activity[f"{prefix}_taskruns"]
        kinds[kind] = {
            "users": activity[f"n_{prefix}"],
            "taskruns": taskruns,
            "pct_taskruns": round(taskruns * 100 / runs, 2) if runs else 0,
            "top5": activity[f"{prefix}_top5"],
        }
    kinds["geo"] = False
    return kinds


@view_config(route_name="project_stats", request_method="GET", renderer="page")
def project_stats(request):
    project = load_project_for(request, "view")
    require_data_readable(request, project)
    value = project_keys(request, project, "stats", "Statistics", "project_data/stats.html")
    owner = request.dbsession.get(User, project.owner_id)
    value["pro_features"] = pro_features(request, (*PAGE_FEATURES, "better_stats"), owner=owner)
    if not value["n_tasks"] or not value["n_task_runs"]:
        value.update(dict.fromkeys(stats.BEYOND_NEEDED, 0))
        value["template"] = "project_data/non_stats.html"
        return value
    region = request.registry["cache"]
    activity = cached(
        region,
        "stats",
        f"project-activity:{project.id}",
        lambda: stats.project_activity(request.dbsession, project.id),
    )
    value.update(
        cached(
            region,
            "stats",
            f"project-beyond-needed:{project.id}",
            lambda: stats.answers_beyond_needed(request.dbsession, project.id),
        )
    )
    value.update(
        avg_contrib_time=activity["average_time"],
        projectStats=_chart_stats(activity),
        userStats=_user_stats(activity),
        activity=activity,
    )
    return value


def includeme(config):
    # The enabled importer plugins, collected once (docs/plugins.md, crowdnest_importers).
    config.registry["importers"] = enabled_importers(config.registry["plugins"])
    add_routes(config, ROUTES)
    config.scan(__name__)
