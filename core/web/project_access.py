"""Who may see a project's pages, and the frame every project page shares.

Every page under /project/<short_name>/ loads its project with `load_project_for(request, mode)`:
  - "view": anyone, except that a password-protected project (info.passwd_hash, set by the
    owner) asks other callers for the password first (behavior.md 9.4);
  - "owner": owners and admins only (anonymous callers are sent to sign in, HTML and JSON alike).
`project_frame(request, project)` gives the keys `projects/_layout.html` needs, and
`project_summary(request, project)` the figures every project page shows (behavior.md 9.4).
"""

import time
from urllib.parse import quote

from pyramid.httpexceptions import HTTPForbidden, HTTPFound, HTTPNotFound, HTTPUnauthorized
from sqlalchemy import func, select

from core.models import Project, ProjectStats, User
from core.serializers import dictize, public_info
from core.services import pro
from core.services.activity import time_ago
from core.services.images import image_url
from core.services.leaderboard import rank_and_score
from core.services.permissions import owns_or_admin, project_readable
from core.services.pro import PAGE_FEATURES
from core.services.project import contrib_button
from core.services.readable import ACCOUNT_PRIVATE_FIELDS, USER_PUBLIC_INFO

# How long a correct project password keeps the project open in this session.
UNLOCK_SECONDS = 30 * 60
SESSION_KEY = "unlocked_projects"
# Project keys filled from the figures for callers who see only the public project.
# The figures of PYBOSSA's public project attribute list (behavior.md 1.1), from ProjectStats.
PUBLIC_FIGURES = (
    "n_tasks",
    "n_task_runs",
    "n_completed_tasks",
    "n_volunteers",
    "overall_progress",
)


def find_project(request) -> Project:
    short_name = request.matchdict["short_name"]
    project = request.dbsession.scalars(
        select(Project).where(Project.short_name == short_name)
    ).first()
    if project is None:
        raise HTTPNotFound()
    return project


def require_signed_in(request) -> None:
    """A login-required page sends anonymous callers to sign in: a real 302, JSON callers
    included (behavior.md 9.1)."""
    if request.user is None:
        raise HTTPFound(location=f"/account/signin?next={quote(request.path_qs)}")


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


def require_readable(request, project: Project) -> None:
    """A draft is for its owners; a password-protected one was already asked for its password."""
    if (project.info or {}).get("passwd_hash"):
        return
    require_data_readable(request, project)


def require_data_readable(request, project: Project) -> None:
    """A draft's tasks, answers, results and figures are for its owners and admins, password
    or not (decision 24)."""
    if not project_readable(request.user, project):
        refuse(request)


def refuse(request) -> None:
    """Refuse a page anyone may ask for: 403 to a signed-in caller; an anonymous one is sent to
    sign in in HTML and gets a 401 in JSON (PYBOSSA's ensure_authorized_to, unlike its
    login-required pages)."""
    if request.user is not None:
        raise HTTPForbidden()
    if not request.wants_json:
        raise HTTPFound(location=f"/account/signin?next={quote(request.path_qs)}")
    raise HTTPUnauthorized()


def owner_summary(request, owner: User | None) -> dict | None:
    """The primary owner: their private summary for themselves, the public one for others."""
    if owner is None:
        return None
    db = request.dbsession
    rank, score = rank_and_score(db, request.registry["cache"], owner.id)
    common = {
        "created": owner.created,
        "fullname": owner.fullname,
        "name": owner.name,
        "n_answers": score,
        "rank": rank,
        "registered_ago": time_ago(owner.created),
        "score": score,
    }
    if request.user is not None and request.user.id == owner.id:
        summary = {field: getattr(owner, field) for field in ACCOUNT_PRIVATE_FIELDS}
        summary.update(common, total=db.scalar(select(func.count(User.id))))
        return summary
    allowed = USER_PUBLIC_INFO | set(request.registry.settings["user.info_public_fields"])
    return {**common, "info": public_info(owner.info, allowed)}


def pro_features(
    request, names: tuple[str, ...] = PAGE_FEATURES, owner: User | None = None
) -> dict[str, bool]:
    """{<name>_enabled} for this caller (core.services.pro); `owner`, the project's primary
    owner, decides the features about the project."""
    settings = request.registry.settings
    owner_pro = owner is not None and owner.pro
    return {
        f"{name}_enabled": pro.enabled(settings, name, request.user, owner_pro) for name in names
    }


def project_summary(request, project: Project) -> dict:
    """project, owner, the figures and pro_features (owners see the private project)."""
    db = request.dbsession
    figures = db.scalars(select(ProjectStats).where(ProjectStats.project_id == project.id)).first()
    last_activity = figures.last_activity if figures else None
    numbers = {
        "n_tasks": figures.n_tasks if figures else 0,
        "n_task_runs": figures.n_task_runs if figures else 0,
        "n_completed_tasks": figures.n_completed_tasks if figures else 0,
        "n_volunteers": figures.n_volunteers if figures else 0,
        "overall_progress": figures.overall_progress if figures else 0,
        "last_activity": None if last_activity in (None, "", "0") else last_activity,
    }
    presenter_disabled = request.registry.settings["disable_task_presenter"]
    shown = dictize(request, project, links=False)
    shown["contrib_button"] = contrib_button(
        db, project, figures, request.user, presenter_disabled, request.user_ip
    )
    shown.update(
        n_blogposts=figures.n_blogposts if figures else 0,
        n_results=figures.n_results if figures else 0,
    )
    if owns_or_admin(request.user, project):
        shown["protected"] = bool((project.info or {}).get("passwd_hash"))
    else:
        shown.update({key: numbers[key] for key in PUBLIC_FIGURES})
        shown.update(
            last_activity=time_ago(numbers["last_activity"]),
            last_activity_raw=numbers["last_activity"],
            owner=None,
        )
    return {
        "project": shown,
        "owner": owner_summary(request, db.get(User, project.owner_id)),
        **numbers,
        "pro_features": pro_features(request),
    }


def project_page(request, project: Project, tab: str, title: str, template: str, **keys) -> dict:
    """A page in the project frame, with the figures every project page shows."""
    return {
        **project_frame(request, project, tab),
        **project_summary(request, project),
        **keys,
        "title": f"Project: {project.name} · {title}" if title else f"Project: {project.name}",
        "template": template,
    }
