"""Who may see a project's pages, and the frame every project page shares.

Every page under /project/<short_name>/ loads its project with `load_project_for(request, mode)`:
  - "view": anyone, except that a password-protected project (info.passwd_hash, set by the
    owner) asks other callers for the password first (behavior.md 9.4);
  - "owner": owners and admins only (401 for anonymous JSON callers, sign-in redirect in HTML).
`project_frame(request, project)` gives the keys `projects/_layout.html` needs.
"""

import time
from urllib.parse import quote

from pyramid.httpexceptions import HTTPForbidden, HTTPFound, HTTPNotFound, HTTPUnauthorized
from sqlalchemy import select

from core.models import Project
from core.serializers import dictize
from core.services.images import image_url
from core.services.permissions import owns_or_admin

# How long a correct project password keeps the project open in this session.
UNLOCK_SECONDS = 30 * 60
SESSION_KEY = "unlocked_projects"


def find_project(request) -> Project:
    short_name = request.matchdict["short_name"]
    project = request.dbsession.scalars(
        select(Project).where(Project.short_name == short_name)
    ).first()
    if project is None:
        raise HTTPNotFound()
    return project


def require_signed_in(request) -> None:
    if request.user is None:
        if not request.wants_json:
            raise HTTPFound(location=f"/account/signin?next={quote(request.path_qs)}")
        raise HTTPUnauthorized()


def is_unlocked(request, project: Project) -> bool:
    """True when the project has no password, or the caller may pass it."""
    if not (project.info or {}).get("passwd_hash"):
        return True
    if request.user is not None and owns_or_admin(request.user, project):
        return True
    until = request.session.get(SESSION_KEY, {}).get(str(project.id), 0)
    return until > time.time()


def unlock(request, project: Project) -> None:
    """Remember in the session that the caller gave the right password."""
    unlocked = dict(request.session.get(SESSION_KEY, {}))
    unlocked[str(project.id)] = time.time() + UNLOCK_SECONDS
    request.session[SESSION_KEY] = unlocked


def load_project_for(request, mode: str = "view") -> Project:
    project = find_project(request)
    if mode == "owner":
        require_signed_in(request)
        if not owns_or_admin(request.user, project):
            raise HTTPForbidden()
    elif not is_unlocked(request, project):
        raise HTTPFound(
            location=f"/project/{project.short_name}/password?next={quote(request.path_qs)}"
        )
    return project


def project_frame(request, project: Project, tab: str) -> dict:
    """The keys of the shared project frame: project dict, owner flag, avatar, current tab."""
    info = project.info or {}
    return {
        "project": dictize(request, project, links=False),
        "is_owner": request.user is not None and owns_or_admin(request.user, project),
        "project_avatar_url": image_url(request, info.get("container"), info.get("avatar")),
        "project_tab": tab,
    }
