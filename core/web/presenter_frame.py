"""The sandboxed frame owner-written HTML runs in: task presenter, tutorial, results template.

Owner-written HTML never runs in a page that holds the volunteer's session (behavior.md,
decision 15). The page around it embeds this document in an iframe whose `sandbox` never has
`allow-same-origin`: the document gets an opaque origin, so it cannot reach the parent's DOM or
cookies, and its own requests are cross-origin (anonymous). The page signs the frame's address
(kind, project, task, the application's origin, an expiry); this route reads no session and
writes none, so it answers the same from `presenter.origin`, where no session cookie reaches it,
and its document holds nothing derived from the volunteer but their language (the
`#PYBOSSA_USER_LOCALE` element classic presenters read, passed in the address).
"""

import hashlib
import hmac
import time
from urllib.parse import quote, urlencode, urlsplit

from pyramid.renderers import render
from pyramid.response import Response
from pyramid.view import view_config
from sqlalchemy import select

from core.inputs import ascii_digits
from core.models import Project, Task
from core.web import add_routes

ROUTES = {
    "presenter_frame": "/presenter/{short_name}/{kind:newtask|tutorial|results}",
    "presenter_frame_task": "/presenter/{short_name}/task/{task_id:\\d+}",
}

# Each kind of frame shows one key of the project's `info`.
KINDS = {
    "newtask": "task_presenter",
    "task": "task_presenter",
    "tutorial": "tutorial",
    "results": "results",
}
# Scripts, forms (their submit events; CSP's form-action stops the submission itself), pop-ups
# (sandboxed too) and alert(); links may leave for the top page on a click. Never
# allow-same-origin: the frame's opaque origin is the isolation.
SANDBOX = (
    "allow-scripts allow-forms allow-popups allow-modals allow-top-navigation-by-user-activation"
)
# A frame address is used as soon as the page is shown; an hour covers slow pages and reloads.
FRAME_LIFETIME = 3600
# The largest id a database column holds (BIGINT): larger ones name nothing.
MAX_ID = 2**63 - 1
# What PYBOSSA tells anonymous volunteers' presenters.
DEFAULT_LOCALE = "en"
EXPIRED = "This presenter address has expired or is not valid: reload the page around it."


def _signature(secret: str, kind: str, project_id: int, task_id: int, origin: str, expires: int):
    key = hmac.new(secret.encode(), b"crowdnest presenter frame", hashlib.sha256).digest()
    message = f"{kind}\n{project_id}\n{task_id}\n{origin}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def frame_url(request, project: Project, kind: str, task_id: int | None = None) -> str:
    """The signed address of a project's frame, on `presenter.origin` when it is set."""
    settings = request.registry.settings
    origin = request.host_url
    expires = int(time.time()) + FRAME_LIFETIME
    signature = _signature(
        settings["session.secret"], kind, project.id, task_id or 0, origin, expires
    )
    short_name = quote(project.short_name, safe="")
    path = f"/presenter/{short_name}/" + (f"task/{task_id}" if kind == "task" else kind)
    # The volunteer's language, for the #PYBOSSA_USER_LOCALE element classic presenters read.
    query = urlencode(
        {"origin": origin, "expires": expires, "sig": signature, "locale": request.locale_name}
    )
    return f"{settings['presenter.origin'].rstrip('/')}{path}?{query}"


def _origin_of(url: str) -> str | None:
    """scheme://host[:port] of an http(s) address, else None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(app_origin: str, own_origin: str) -> str:
    """The frame's policy: pages and scripts from the web, API calls to this site only."""
    here = " ".join(dict.fromkeys((app_origin, own_origin)))
    return "; ".join(
        (
            "default-src 'none'",
            # Owner presenters are inline scripts, and classic ones load libraries from CDNs.
            f"script-src {here} 'unsafe-inline' 'unsafe-eval' https:",
            f"style-src {here} 'unsafe-inline' https:",
            "img-src * data: blob:",
            "media-src * data: blob:",
            f"font-src {here} https: data:",
            f"frame-src {here} https:",
            # Public /api reads, anonymous; the volunteer's calls go through the parent page.
            f"connect-src {here}",
            "form-action 'none'",
            f"base-uri {app_origin}",
            f"frame-ancestors {app_origin}",
            # The document sandboxes itself too: opened as a page of its own (a link to its
            # signed address, or the frame sending the top page to it), the owner's scripts
            # would otherwise run on the application's origin with the volunteer's cookies.
            f"sandbox {SANDBOX}",
        )
    )


def _refused(status: int, text: str) -> Response:
    response = Response(text, status=status, content_type="text/plain", charset="utf-8")
    response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _checked(request, kind: str, project: Project, task_id: int) -> str | None:
    """The application's origin the address was signed for, if its signature holds."""
    query = request.GET
    origin, expires, signature = (
        query.get("origin", ""),
        query.get("expires", ""),
        query.get("sig"),
    )
    if not ascii_digits(expires) or int(expires) < time.time() or not signature:
        return None
    if _origin_of(origin) != origin:
        return None
    secret = request.registry.settings["session.secret"]
    expected = _signature(secret, kind, project.id, task_id, origin, int(expires))
    return origin if hmac.compare_digest(expected, signature) else None


@view_config(route_name="presenter_frame", request_method="GET")
@view_config(route_name="presenter_frame_task", request_method="GET")
def presenter_frame(request):
    """The owner's HTML after jQuery, Bootstrap and pybossa.js, as its own document (no
    session read)."""
    kind = request.matchdict.get("kind", "task")
    db = request.dbsession
    short_name = request.matchdict["short_name"]
    project = db.scalars(select(Project).where(Project.short_name == short_name)).first()
    task_id = int(request.matchdict.get("task_id") or 0)
    if project is None:
        return _refused(404, "No such project.")
    if task_id:
        task = db.get(Task, task_id) if task_id <= MAX_ID else None
        if task is None or task.project_id != project.id:
            return _refused(404, "No such task.")
    app_origin = _checked(request, kind, project, task_id)
    if app_origin is None:
        return _refused(403, EXPIRED)
    html = (project.info or {}).get(KINDS[kind]) or ""
    # Not signed: any offered language name is harmless, anything else reads as English.
    locale = request.GET.get("locale", "")
    if locale not in request.registry.settings["account.locales"]:
        locale = DEFAULT_LOCALE
    body = render(
        "contribute/frame.html",
        {"app": app_origin, "html": html, "title": project.name, "kind": kind, "locale": locale},
        request=request,
    )
    response = Response(body, content_type="text/html", charset="utf-8")
    response.headers.update(
        {
            "Content-Security-Policy": content_security_policy(app_origin, request.host_url),
            "X-Content-Type-Options": "nosniff",
            # The address carries its signature: pages the presenter loads are not told it.
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        }
    )
    return response


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
