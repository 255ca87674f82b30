"""/project/<sn>/projectreport/export: the project's report, for its owners and admins.

Without arguments, a page offering the formats; `?type=project&format=csv|json` downloads the
report (an unknown type is a 404, an unknown format a 415, as PYBOSSA's exports answer).
"""

import json

from pyramid.httpexceptions import HTTPNotFound, HTTPUnsupportedMediaType
from pyramid.response import Response
from pyramid.view import view_config

from core.services import project_report
from core.web import add_routes
from core.web.project_access import load_project_for
from core.web.project_data import project_keys

ROUTES = {"project_report_export": "/project/{short_name}/projectreport/export"}
TEMPLATE = "projects/project_report.html"


@view_config(route_name="project_report_export", request_method="GET", renderer="page")
def export_report(request):
    project = load_project_for(request, "owner")
    kind, fmt = request.GET.get("type"), request.GET.get("format")
    if kind is None and fmt is None:
        page = project_keys(request, project, "settings", "Project report", TEMPLATE)
        return {
            **page,
            "types": list(project_report.TYPES),
            "formats": list(project_report.FORMATS),
        }
    if kind not in project_report.TYPES:
        raise HTTPNotFound()
    if fmt not in project_report.FORMATS:
        raise HTTPUnsupportedMediaType()
    values = project_report.report(request.dbsession, project)
    if fmt == "csv":
        body, content_type = project_report.report_csv(values), "text/csv"
    else:
        body, content_type = json.dumps(values, default=str), "application/json"
    name = project_report.file_name(project, fmt)
    return Response(
        body=body.encode("utf-8"),
        content_type=content_type,
        charset="utf-8",
        content_disposition=f'attachment; filename="{name}"',
    )


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
