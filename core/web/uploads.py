"""/uploads/<container>/<name>: the stored files, never run as script or HTML (decision 22).

PNG, JPEG and GIF images are shown inline with their own type; every other file is an opaque
download (`application/octet-stream`, `Content-Disposition: attachment`), so a `.js` or `.html`
answer cannot run with the application's origin, not even from a `<script src>`.
"""

from pyramid.events import NewResponse

from core.services import uploads

ROUTE = "__uploads/"  # the route add_static_view("uploads", ...) registers


def file_headers(event) -> None:
    """nosniff and a sandbox on every /uploads answer; a download unless an allowed image."""
    request, response = event.request, event.response
    route = request.matched_route
    if route is None or route.name != ROUTE:
        return
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Even a file a browser chose to render gets no script and no origin.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if response.status_code >= 300:
        return
    name = request.path_info.rsplit("/", 1)[-1]
    content_type, inline = uploads.served_as(name)
    response.headers["Content-Type"] = content_type
    if not inline:
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{uploads.safe_filename(name)}"'
        )


def includeme(config):
    # Production may serve the same folder from the front web server: it must send these
    # headers too (docs/security.md).
    config.add_static_view("uploads", config.get_settings()["upload.dir"], cache_max_age=3600)
    config.add_subscriber(file_headers, NewResponse)
