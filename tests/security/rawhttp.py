"""Raw WSGI requests for the attack tests: bytes a client may send that WebTest would refuse."""

import json

from webob import Request

API_KEYS = {"action", "status", "status_code", "target", "exception_cls", "exception_msg"}


def send(app, path, method="GET", query="", body=b"", headers=None, environ=None):
    """Send one request to the WSGI app behind a WebTest `app`; path and query are latin-1
    strings, as a server hands them over (so "\\xff" is the byte 0xff)."""
    request = Request.blank("/", method=method, environ={"REMOTE_ADDR": "10.0.0.1"})
    request.environ["PATH_INFO"] = path.encode().decode("latin-1") if path.isascii() else path
    request.environ["QUERY_STRING"] = query
    if body:
        request.body = body
    for name, value in (headers or {}).items():
        request.headers[name] = value
    request.environ.update(environ or {})
    return request.get_response(app.app)


def is_api_error(body: bytes, status: int) -> bool:
    """True when `body` is the documented API error shape for `status`."""
    try:
        error = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(error, dict)
        and set(error) == API_KEYS
        and error["status"] == "failed"
        and error["status_code"] == status
    )


def api_error(response, status: int, exception_cls: str | None = None) -> dict:
    """The documented error body of an /api answer with this status."""
    assert response.status_int == status, response.body[:300]
    assert response.content_type == "application/json"
    assert is_api_error(response.body, status), response.body[:300]
    body = json.loads(response.body)
    if exception_cls:
        assert body["exception_cls"] == exception_cls
    return body
