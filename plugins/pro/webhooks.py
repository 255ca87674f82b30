"""The `webhooks` pro feature: a project's webhook page, the log of its deliveries, and
re-sending one.

Owners, co-owners and admins only; when the .ini reserves the `webhooks` pro feature, pro users
and admins only (behavior.md 12). Switched off (not in plugins.pro), the page and the re-send
answer 404. Deliveries themselves are not gated (as PYBOSSA): the enabled webhooks plugin
(plugins/webhooks/http.py, plugins.webhooks) makes them and provides the re-send.
"""

from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound
from pyramid.view import view_config
from sqlalchemy import func, select

from core.hookspecs import hookimpl
from core.inputs import ascii_digits
from core.models import WebhookDelivery
from core.web import add_routes
from core.web.project_access import load_project_for, pro_features, project_frame
from core.web.render import form_data, pagination, redirect, require_csrf

ROUTES = {
    "project_webhook": "/project/{short_name}/webhook",
    "project_webhook_resend": r"/project/{short_name}/webhook/{delivery_id:\d+}/resend",
}
PER_PAGE = 20
FIELDS = (
    "id",
    "created",
    "updated",
    "event",
    "url",
    "payload",
    "rerun",
    "status",
    "attempts",
    "status_code",
    "response",
    "last_error",
    "last_attempt",
)
QUEUED = "The delivery was queued again: it is the newest row below."
NO_URL = "This project has no webhook URL: set one in the project's settings first."
NO_PLUGIN = "Webhook delivery is switched off on this server (plugins.webhooks)."
PRO_ONLY = "The webhook log is a pro feature on this server: pro users and admins only."


def load_for_webhooks(request):
    """The project, for its owners and admins, when the webhooks feature is theirs."""
    project = load_project_for(request, "owner")
    if not pro_features(request)["webhooks_enabled"]:
        raise HTTPForbidden(detail=PRO_ONLY)
    return project


def _page_number(request) -> int:
    raw = request.GET.get("page", "1")
    if not ascii_digits(raw) or int(raw) < 1:
        raise HTTPNotFound()
    return int(raw)


@view_config(route_name="project_webhook", request_method="GET", renderer="page")
def webhook_log(request):
    project = load_for_webhooks(request)
    page = _page_number(request)
    db = request.dbsession
    mine = WebhookDelivery.project_id == project.id
    total = db.scalar(select(func.count()).select_from(WebhookDelivery).where(mine))
    deliveries = db.scalars(
        select(WebhookDelivery)
        .where(mine)
        .order_by(WebhookDelivery.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    if not deliveries and page != 1:
        raise HTTPNotFound()
    return {
        **project_frame(request, project, "settings"),
        "title": f"Project: {project.name} · Webhooks",
        "template": "webhooks/index.html",
        "pro_features": pro_features(request),
        "webhook": project.webhook,
        "can_resend": "webhooks.redeliver" in request.registry,
        # For JSON clients: the token a re-send needs.
        "csrf": get_csrf_token(request),
        "deliveries": [
            {field: getattr(delivery, field) for field in FIELDS} for delivery in deliveries
        ],
        "pagination": pagination(page, PER_PAGE, total),
    }


@view_config(route_name="project_webhook_resend", request_method="POST", renderer="page")
def resend(request):
    project = load_for_webhooks(request)
    require_csrf(request, form_data(request))
    delivery = request.dbsession.get(WebhookDelivery, int(request.matchdict["delivery_id"]))
    if delivery is None or delivery.project_id != project.id:
        raise HTTPNotFound()
    back = f"/project/{project.short_name}/webhook"
    redeliver = request.registry.get("webhooks.redeliver")
    if redeliver is None:
        return redirect(request, back, NO_PLUGIN, "error")
    if redeliver(request, delivery) is None:
        return redirect(request, back, NO_URL, "error")
    return redirect(request, back, QUEUED, "success")


@hookimpl
def crowdnest_includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
