"""One page dict, two renderings: JSON for clients, Jinja2 HTML for browsers (behavior.md 9.1)."""

import json
import math

from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPBadRequest, HTTPException, HTTPFound
from pyramid.renderers import render
from pyramid.response import Response

from core.errors import STOCK_MESSAGES, DomainError, is_api_request
from core.inputs import load_json
from core.security import csrf_header_token, csrf_token_valid

BAD_REQUEST = "The browser (or proxy) sent a request that this server could not understand."
CSRF_FAILED = "CSRF validation failed."
ERROR_TEMPLATES = {400, 401, 403, 404}
# The descriptions PYBOSSA clients see for each status (Werkzeug's wording).
DESCRIPTIONS = {
    400: BAD_REQUEST,
    401: STOCK_MESSAGES["Unauthorized"],
    403: STOCK_MESSAGES["Forbidden"],
    404: STOCK_MESSAGES["NotFound"].removeprefix("404 Not Found: "),
    405: "The method is not allowed for the requested URL.",
}


def pagination(page: int, per_page: int, total: int) -> dict:
    """The pagination object of a listing page (behavior.md 9.9)."""
    return {
        "page": page,
        "per_page": per_page,
        "total": total,
        "next": page < math.ceil(total / per_page),
        "prev": page > 1,
    }


def flash(request, message: str, status: str = "success") -> None:
    """Queue a message for the next page; status is success, error, info or warning."""
    request.session.flash([status, message])


def pop_flashes(request) -> list[tuple[str, str]]:
    """Every queued (status, message), oldest first; the queue is emptied."""
    return [tuple(entry) for entry in request.session.pop_flash()]


def redirect(request, url: str, message: str | None = None, status: str | None = None):
    """JSON: 200 {"next", "flash"?, "status"?}; HTML: a 302 with the message flashed."""
    if request.wants_json:
        body = {"next": url}
        if message is not None:
            body["flash"] = message
        if status is not None:
            body["status"] = status
        return Response(json_body=body, content_type="application/json", charset="utf-8")
    if message is not None:
        flash(request, message, status or "info")
    return HTTPFound(location=url)


def is_json_body(request) -> bool:
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    return content_type == "application/json"


def form_data(request) -> dict:
    """The submitted fields: a JSON object body counts as form data; bad JSON is a 400."""
    if not is_json_body(request):
        return {key: request.POST.get(key) for key in request.POST}
    if not request.body:
        return {}
    try:
        data = load_json(request.body, request.registry.settings["request.max_json_depth"])
    except DomainError:
        raise HTTPBadRequest(detail=BAD_REQUEST) from None
    if not isinstance(data, dict):
        raise HTTPBadRequest(detail=BAD_REQUEST)
    return data


def require_csrf(request, data: dict | None = None) -> None:
    """The session's CSRF token from a header, the csrf_token field or ?csrf=, else a 400."""
    supplied = csrf_header_token(request)
    if supplied is None and data is not None:
        supplied = data.get("csrf_token")
    if supplied is None and request.method == "GET":
        # State-changing GETs carry the token in the query string (decision 11).
        supplied = request.GET.get("csrf")
    if not csrf_token_valid(request, supplied):
        raise HTTPBadRequest(detail=CSRF_FAILED)


def _json_ready(request, value: dict) -> dict:
    body = {}
    for key, item in value.items():
        body[key] = item.serialize(request) if hasattr(item, "serialize") else item
    flashes = pop_flashes(request)
    if flashes and "flash" not in body:
        body["status"], body["flash"] = flashes[-1]
    return body


def render_page(request, value: dict) -> str:
    """The text of a page dict: JSON when the caller wants it, else its Jinja2 template."""
    if "code" in value:
        request.response.status_int = value["code"]
    if request.wants_json:
        request.response.content_type = "application/json"
        return json.dumps(_json_ready(request, value), default=str)
    context = {**value, "flashes": pop_flashes(request), "csrf_token": get_csrf_token(request)}
    return render(value["template"], context, request=request)


class PageRenderer:
    """The `page` renderer: views return one dict that always names its `template`."""

    def __init__(self, info):
        self.info = info

    def __call__(self, value, system):
        return render_page(system["request"], value)


class WebPagePredicate:
    """True for the web pages, false for /api paths (which keep the API error shape)."""

    def __init__(self, value, config):
        self.value = value

    def text(self):
        return f"web_page = {self.value}"

    phash = text

    def __call__(self, context, request):
        return (not is_api_request(request)) == self.value


def error_page(error: HTTPException, request):
    """A 4xx of a web page: {"code", "description", "template"} in JSON, else its template."""
    if error.code < 400 or (error.code not in ERROR_TEMPLATES and not request.wants_json):
        return error
    description = error.detail if isinstance(error.detail, str) else None
    if error.code == 404 or not description:
        description = DESCRIPTIONS.get(error.code, error.explanation)
    value = {"code": error.code, "description": description, "template": f"{error.code}.html"}
    if request.wants_json:
        response = Response(json_body=value, status=error.code, content_type="application/json")
        if "Retry-After" in error.headers:
            # A 429 of the credential limits (core.credentials) says when to come back.
            response.headers["Retry-After"] = error.headers["Retry-After"]
        return response
    # One HTML template for every error page; the JSON keeps PYBOSSA's `<code>.html` name.
    value.update(title=error.title, template="error.html")
    response = Response(render_page(request, value), content_type="text/html", charset="utf-8")
    response.status_int = error.code
    return response


def posted(request) -> dict | None:
    """The submitted fields of a POST after the CSRF check; None for a GET."""
    if request.method != "POST":
        return None
    data = form_data(request)
    require_csrf(request, data)
    return data
