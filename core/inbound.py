"""Requests refused before any code reads them: bad URLs, oversized or unreadable bodies.

A path or query string that is not UTF-8 or holds a NUL, a header holding a NUL, a path
segment of digits larger than any id, a body over its size limit (decision 22), a multipart
body without a boundary: the WSGI middleware, in front of everything (core.apicache and
core.delivery included), marks the request, makes its URL decodable, drops its body and hands
it to Pyramid alone. There a tween raises the matching HTTP error, so the refusal is answered
in the usual shapes: the API's JSON under /api, the error page elsewhere (decision 14). The
tween also reads form bodies once, so an unreadable form or a field no database can store is a
400 before any view runs.
"""

import io
import re
from urllib.parse import unquote_to_bytes

from pyramid.httpexceptions import HTTPBadRequest, exception_response
from pyramid.tweens import EXCVIEW

from core.inputs import INT_MAX, ascii_digits, storable

REFUSAL = "crowdnest.refusal"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# What the multipart parser accepts: printable ASCII, not ending in a space.
BOUNDARY = re.compile(r"[ -~]{0,199}[!-~]")
# A path segment of digits as long as the largest id or longer.
ID_DIGITS = len(str(INT_MAX))
LONG_NUMBER = re.compile(rf"(?<=/)([0-9]{{{ID_DIGITS},}})(?=/|$)")


def _text(raw: bytes) -> str | None:
    """`raw` as UTF-8 text without NUL, else None."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if "\x00" not in text else None


def url_refusal(environ) -> tuple[int, str | None] | None:
    """(status, message) when the path, query or a header cannot be read, or an id is too big."""
    path = environ.get("PATH_INFO", "")
    if not path.isascii() or "\x00" in path:
        try:
            raw = path.encode("latin-1")
        except UnicodeEncodeError:
            raw = b"\x00"
        if _text(raw) is None:
            return 400, "The URL path must be UTF-8 text without NUL characters."
    query = environ.get("QUERY_STRING", "")
    if "%" in query or not query.isascii() or "\x00" in query:
        try:
            raw = unquote_to_bytes(query.encode("latin-1"))
        except UnicodeEncodeError:
            raw = b"\x00"
        if _text(raw) is None:
            return 400, "The query string must be UTF-8 text without NUL characters."
    for name, value in environ.items():
        # An api key or address with a NUL would reach the database before any view runs.
        if name[:5] == "HTTP_" and "\x00" in value:
            return 400, "Request headers may not contain NUL characters."
    for digits in LONG_NUMBER.findall(path):
        # Every id column is an INTEGER: a larger number names nothing.
        number = digits.lstrip("0")
        if len(number) > ID_DIGITS or int(number or 0) > INT_MAX:
            return 404, None
    return None


def multipart_boundary_ok(content_type: str) -> bool:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip()
            if len(value) > 1 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return BOUNDARY.fullmatch(value) is not None
    return False


class Inbound:
    """The WSGI middleware: refusals go to Pyramid alone, everything else to `app`."""

    def __init__(self, app, pyramid_app):
        self.app = app
        self.pyramid_app = pyramid_app
        # Callers (tests, the CLI) reach the application's registry through any wrapper.
        self.registry = pyramid_app.registry
        settings = pyramid_app.registry.settings
        self.max_json_bytes = settings["request.max_json_bytes"]
        self.max_multipart_bytes = settings["request.max_multipart_bytes"]

    def __call__(self, environ, start_response):
        refusal = url_refusal(environ) or self.body_refusal(environ)
        if refusal is None:
            return self.app(environ, start_response)
        environ[REFUSAL] = refusal
        return self.pyramid_app(_harmless(environ), start_response)

    def body_refusal(self, environ) -> tuple[int, str] | None:
        """(status, message) when the body is too large or its multipart has no boundary."""
        content_type = environ.get("CONTENT_TYPE", "")
        multipart = content_type[:10].lower() == "multipart/"
        limit = self.max_multipart_bytes if multipart else self.max_json_bytes
        setting = "request.max_multipart_bytes" if multipart else "request.max_json_bytes"
        too_large = 413, f"The request body is larger than {limit} bytes ({setting})."
        declared = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if declared:
            if not ascii_digits(declared):
                return 400, "Invalid Content-Length header."
            length = int(declared) if len(declared) < 20 else limit + 1
            if length > limit:
                return too_large
        elif chunked:
            # No length announced: read at most one byte more than allowed, keep what came.
            body = environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return too_large
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            length = len(body)
        else:
            length = 0
        if multipart and length and not multipart_boundary_ok(content_type):
            return 400, "A multipart body needs a valid boundary parameter."
        return None


def _harmless(environ):
    """The refused request made readable by Pyramid: decodable URL, no NUL header, no body."""
    path = environ.get("PATH_INFO", "").encode("latin-1", "replace").decode("utf-8", "replace")
    environ["PATH_INFO"] = path.replace("\x00", "\ufffd").encode("utf-8").decode("latin-1")
    query = environ.get("QUERY_STRING", "")
    if url_refusal({"QUERY_STRING": query}) is not None:
        environ["QUERY_STRING"] = ""
    for name in [name for name, value in environ.items() if name.startswith("HTTP_")]:
        if "\x00" in environ[name]:
            del environ[name]
    environ["CONTENT_LENGTH"] = "0"
    environ["wsgi.input"] = io.BytesIO()
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    if environ.get("CONTENT_TYPE", "")[:10].lower() == "multipart/":
        environ["CONTENT_TYPE"] = "application/octet-stream"
    return environ


def refusal_tween_factory(handler, registry):
    """Raise the middleware's refusal; read form bodies once and refuse unreadable ones."""

    def refusal_tween(request):
        refusal = request.environ.get(REFUSAL)
        if refusal is not None:
            status, message = refusal
            raise exception_response(status, detail=message)
        if request.content_type in FORM_TYPES:
            check_form(request)
        return handler(request)

    return refusal_tween


def check_form(request) -> None:
    """400 unless every field of a form body is named and its text storable."""
    try:
        form = request.POST
    except (ValueError, LookupError, DeprecationWarning):
        # webob refuses a multipart body it cannot split and a charset other than UTF-8.
        raise HTTPBadRequest(detail="The form body could not be read.") from None
    for name, value in form.items():
        texts = [name, value if isinstance(value, str) else getattr(value, "filename", None) or ""]
        if not all(isinstance(text, str) and storable(text) for text in texts):
            raise HTTPBadRequest(
                detail="Form fields need a name, and no NUL characters or lone surrogates."
            )


def wrap(app, pyramid_app):
    """`app` (the application and what stands in front of it) behind the refusals."""
    return Inbound(app, pyramid_app)


def includeme(config):
    # In front of all: unreadable URLs and oversized bodies never reach the other middlewares.
    config.add_wsgi_middleware(wrap, order=30)
    config.add_tween("core.inbound.refusal_tween_factory", under=EXCVIEW)
