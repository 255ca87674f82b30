"""One error format for the whole API, and the domain errors that map onto it."""

import logging

from pyramid.httpexceptions import HTTPException
from pyramid.view import exception_view_config
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError

from core.redis import UNREACHABLE, failed

log = logging.getLogger(__name__)

# PYBOSSA's exception class names and the HTTP status each answers with.
STATUS_BY_CLASS = {
    "BadRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "MethodNotAllowed": 405,
    "RequestEntityTooLarge": 413,
    "ValueError": 415,
    "TypeError": 415,
    "AttributeError": 415,
    "DataError": 415,
    "DBIntegrityError": 415,
    "TooManyRequests": 429,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
}

STOCK_MESSAGES = {
    "BadRequest": "The browser (or proxy) sent a request that this server could not understand.",
    "Unauthorized": (
        "The server could not verify that you are authorized to access the URL requested. You"
        " either supplied the wrong credentials (e.g. a bad password), or your browser doesn't"
        " understand how to supply the credentials required."
    ),
    "Forbidden": (
        "You don't have the permission to access the requested resource. It is either"
        " read-protected or not readable by the server."
    ),
    "NotFound": (
        "404 Not Found: The requested URL was not found on the server. If you entered the URL"
        " manually please check your spelling and try again."
    ),
    "MethodNotAllowed": "405 Method Not Allowed: The method is not allowed for the requested URL.",
    "RequestEntityTooLarge": "413 Request Entity Too Large: The data value transmitted exceeds"
    " the capacity limit.",
    "TooManyRequests": (
        "429 Too Many Requests: This user has exceeded an allotted request count. Try again later."
    ),
    "InternalServerError": (
        "500 Internal Server Error: The server encountered an internal error and was unable to"
        " complete your request."
    ),
    "ServiceUnavailable": (
        "503 Service Unavailable: The server is temporarily unable to service your request."
        " Please try again later."
    ),
}

CLASS_BY_STATUS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "RequestEntityTooLarge",
    429: "TooManyRequests",
    503: "ServiceUnavailable",
}


class DomainError(Exception):
    """A refusal by domain code, named by PYBOSSA's exception class (no HTTP knowledge here)."""

    def __init__(self, exception_cls: str, message: str | None = None):
        self.exception_cls = exception_cls
        self.message = message if message is not None else STOCK_MESSAGES.get(exception_cls, "")
        super().__init__(self.message)


class ApiError(DomainError):
    """A DomainError that also says which target and action the error body names."""

    def __init__(self, exception_cls, message=None, target=None, action=None, headers=None):
        super().__init__(exception_cls, message)
        self.target = target
        self.action = action
        self.headers = headers or {}


def unauthorized_or_forbidden(request, message: str | None = None) -> DomainError:
    """401 for anonymous callers, 403 for authenticated ones."""
    return DomainError("Forbidden" if request.user is not None else "Unauthorized", message)


def error_body(request, error: DomainError) -> dict:
    target = getattr(error, "target", None) or getattr(request, "api_target", None)
    action = getattr(error, "action", None) or getattr(request, "api_action", None)
    return {
        "action": action or request.method,
        "status": "failed",
        "status_code": STATUS_BY_CLASS.get(error.exception_cls, 500),
        "target": target or request.path,
        "exception_cls": error.exception_cls,
        "exception_msg": error.message,
    }


def error_response(request, error: DomainError):
    body = error_body(request, error)
    response = request.response
    response.status_int = body["status_code"]
    response.content_type = "application/json"
    response.json_body = body
    for name, value in getattr(error, "headers", {}).items():
        response.headers[name] = value
    return response


def is_api_request(request) -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


@exception_view_config(DomainError)
def domain_error_view(error, request):
    return error_response(request, error)


@exception_view_config(HTTPException)
def http_exception_view(error, request):
    """Routing errors: the API error shape under /api, JSON or HTML elsewhere."""
    if is_api_request(request):
        exception_cls = CLASS_BY_STATUS.get(error.code, type(error).__name__)
        return error_response(request, DomainError(exception_cls, _message_for(error)))
    if error.code >= 400 and request.wants_json:
        response = request.response
        response.status_int = error.code
        response.content_type = "application/json"
        response.json_body = {
            "code": error.code,
            "description": error.detail or error.explanation,
            "template": f"{error.code}.html",
        }
        return response
    return error


def _message_for(error: HTTPException) -> str | None:
    name = CLASS_BY_STATUS.get(error.code)
    if error.detail and name not in ("NotFound", "MethodNotAllowed"):
        return str(error.detail)
    return STOCK_MESSAGES.get(name, f"{error.code} {error.title}")


# Seconds a client is asked to wait after a 503 (Retry-After).
RETRY_AFTER = "2"


def unavailable_response(request):
    """503 in the documented shape (with Retry-After), JSON or a short HTML page."""
    headers = {"Retry-After": RETRY_AFTER}
    if is_api_request(request) or request.wants_json:
        error = ApiError("ServiceUnavailable", headers=headers)
        return error_response(request, error)
    response = request.response
    response.status_int = 503
    response.headers.update(headers)
    response.content_type = "text/html"
    response.text = "<h1>503 Service Unavailable</h1><p>Please try again in a moment.</p>"
    return response


@exception_view_config(RedisConnectionError)
@exception_view_config(RedisTimeoutError)
def redis_unreachable_view(error, request):
    """Redis failed where the request cannot do without it (the `locked` scheduler) or where
    no fallback was written: 503, the outage recorded and logged once (core.redis)."""
    if isinstance(error, UNREACHABLE):
        failed(request.registry.get("redis"), error)
    return unavailable_response(request)


# SQLSTATE classes of a server that cannot be reached or is going away: connection exceptions
# (08), the server shutting down or starting up (57P01-57P03).
UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03")


def database_unreachable(error: DBAPIError) -> bool:
    """A lost connection, or none to be had (a server restarting refuses new ones)."""
    if error.connection_invalidated:
        return True
    state = getattr(error.orig, "sqlstate", "") or ""
    if state.startswith(UNREACHABLE_STATES):
        return True
    # A connection that never opened has no SQLSTATE (refused, timed out, reset).
    never_opened = error.statement is None and not state
    return never_opened and type(error.orig).__name__ == "OperationalError"


@exception_view_config(DBAPIError)
def database_error_view(error, request):
    """A lost database connection or none to be had (a restarted server, a terminated session):
    503, one log line without the statement's parameters; the pool replaces its connections
    (core.db). Any other database error is unexpected."""
    if not database_unreachable(error):
        return unexpected_error_view(error, request)
    log.error(
        "database connection lost on %s %s: %s",
        request.method,
        request.path,
        str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__,
    )
    return unavailable_response(request)


@exception_view_config(Exception)
def unexpected_error_view(error, request):
    """Never a traceback page: log it, answer 500 in the documented shape."""
    log.exception("unexpected error on %s %s", request.method, request.path)
    if is_api_request(request) or request.wants_json:
        return error_response(request, DomainError("InternalServerError"))
    response = request.response
    response.status_int = 500
    response.content_type = "text/html"
    response.text = "<h1>500 Internal Server Error</h1><p>The error has been logged.</p>"
    return response
