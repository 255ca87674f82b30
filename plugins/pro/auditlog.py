"""The `auditlog` pro feature: a project's audit log page, who changed what and when
(behavior.md 1.12), newest first.

Owners, co-owners and admins only; when the .ini reserves the `auditlog` pro feature, pro users
and admins only (behavior.md 12). Switched off (not in plugins.pro), the page answers 404. The
rows are written by core.services.auditlog whether the page is on or not: they are core's
record of changes.
"""

from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound
from pyramid.view import view_config

from core.hookspecs import hookimpl
from core.inputs import ascii_digits
from core.services import auditlog
from core.web import add_routes
from core.web.project_access import load_project_for, pro_features, project_frame, project_summary
from core.web.render import pagination

ROUTES = {"project_auditlog": "/project/{short_name}/auditlog"}
PER_PAGE = 20
FIELDS = (
    "id",
    "project_id",
    "project_short_name",
    "user_id",
    "user_name",
    "created",
    "action",
    "caller",
    "attribute",
    "old_value",
    "new_value",
)
PRO_ONLY = "The audit log is a pro feature on this server: pro users and admins only."


def _page_number(request) -> int:
    raw = request.GET.get("page", "1")
    if not ascii_digits(raw) or int(raw) < 1:
        raise HTTPNotFound()
    return int(raw)


@view_config(route_name="project_auditlog", request_method="GET", renderer="page")
def project_auditlog(request):
    project = load_project_for(request, "owner")
    if not pro_features(request)["auditlog_enabled"]:
        raise HTTPForbidden(detail=PRO_ONLY)
    page = _page_number(request)
    db = request.dbsession
    total = auditlog.count_for(db, project.id)
    rows = auditlog.page_for(db, project.id, PER_PAGE, (page - 1) * PER_PAGE)
    if not rows and page != 1:
        raise HTTPNotFound()
    return {
        **project_frame(request, project, "settings"),
        **project_summary(request, project),
        "logs": [{field: getattr(row, field) for field in FIELDS} for row in rows],
        "pagination": pagination(page, PER_PAGE, total),
        "title": f"Project: {project.name} · Audit log",
        "template": "auditlog/index.html",
    }


@hookimpl
def crowdnest_includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
