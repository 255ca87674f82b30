"""/project/<short_name>/publicstream and /privatestream: a project's server-sent events.

PYBOSSA's `SSE` (behavior.md 12; docs/streams.md): on with `sse.enabled`, 404 otherwise. The
public stream is for anyone who may read the project (a draft: its owners and admins, decision
24), the private one for its owners and admins (anonymous callers are sent to sign in). Who may
listen is settled before the stream starts: no database session or transaction stays open while
it lasts, and a session signed out since is refused when the browser reconnects.
"""

import math

from pyramid.httpexceptions import HTTPNotFound, HTTPServiceUnavailable
from pyramid.response import Response
from pyramid.view import view_config

from core import streams
from core.web import add_routes
from core.web.project_access import load_project_for, require_data_readable

ROUTES = {
    "project_publicstream": "/project/{short_name}/publicstream",
    "project_privatestream": "/project/{short_name}/privatestream",
}
# Longest wait a refused browser is asked for: a stream frees its slot within sse.max_seconds.
RETRY_AFTER = 30


def _broker(request) -> streams.Broker:
    broker = request.registry["streams"]
    if broker is None:  # sse.enabled off: the routes do not exist
        raise HTTPNotFound()
    return broker


@view_config(route_name="project_publicstream", request_method="GET")
def public_stream(request):
    broker = _broker(request)
    project = load_project_for(request, "view")
    require_data_readable(request, project)
    return _stream(request, broker, broker.channel(streams.PUBLIC, project.id))


@view_config(route_name="project_privatestream", request_method="GET")
def private_stream(request):
    broker = _broker(request)
    project = load_project_for(request, "owner")
    return _stream(request, broker, broker.channel(streams.PRIVATE, project.id))


def _stream(request, broker: streams.Broker, channel: str) -> Response:
    """The event-stream response of `channel`, or 503 when the process holds enough streams."""
    settings = request.registry.settings
    # The client as rate limits know it: the account, else the address (core.ratelimit).
    user = request.user
    client = f"user:{user.id}" if user is not None else f"ip:{request.user_ip}"
    if not broker.acquire(client):
        retry = min(RETRY_AFTER, math.ceil(settings["sse.max_seconds"]))
        raise HTTPServiceUnavailable(headers={"Retry-After": str(retry)})
    try:
        subscription = broker.subscribe(channel)
    except BaseException:
        broker.release(client)
        raise
    response = Response(
        app_iter=streams.EventStream(broker, subscription, settings, client),
        content_type="text/event-stream",
        charset="utf-8",
    )
    # Proxies must pass each event on at once (nginx buffers unless told), and keep none.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
