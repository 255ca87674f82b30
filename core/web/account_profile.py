"""Account pages to look at: the community index, profiles and one's own projects."""

from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound
from pyramid.view import view_config
from sqlalchemy import func, select

from core.models import User
from core.services import leaderboard
from core.services.activity import (
    contributed_projects,
    contributors_page,
    owned_projects,
    public_info,
    time_ago,
    update_feed,
)
from core.services.leaderboard import rank_and_score
from core.services.permissions import is_admin
from core.services.readable import ACCOUNT_PRIVATE_FIELDS
from core.web.account import load_account
from core.web.render import pagination, redirect

ACCOUNTS_PER_PAGE = 24


@view_config(route_name="account_index", request_method="GET", renderer="page")
@view_config(route_name="account_index_page", request_method="GET", renderer="page")
def index(request):
    db = request.dbsession
    page = int(request.matchdict.get("page", 1))
    if page < 1:
        raise HTTPNotFound()
    accounts, count = contributors_page(db, page, ACCOUNTS_PER_PAGE)
    if page > 1 and not accounts:
        raise HTTPNotFound()
    settings, region = request.registry.settings, request.registry["cache"]
    # The leaderboard's own rows (behavior.md 9.7), then the caller's, even when among them.
    top_users = leaderboard.top_users(db, region, settings, settings["leaderboard.size"])
    if request.user is not None:
        top_users = top_users + leaderboard.around(db, region, settings, request.user.id, 0)
    return {
        "accounts": accounts,
        "pagination": pagination(page, ACCOUNTS_PER_PAGE, count),
        "total": db.scalar(select(func.count()).select_from(User)),
        "top_users": top_users,
        "update_feed": update_feed(db),
        "title": "Community",
        "template": "account/index.html",
    }


def _summary_extras(request, user: User) -> dict:
    rank, score = rank_and_score(request.dbsession, request.registry["cache"], user.id)
    return {
        "n_answers": score,
        "registered_ago": time_ago(user.created),
        "rank": rank,
        "score": score,
    }


def own_profile(request, user: User) -> dict:
    """The whole account, API key included: only ever shown to the account itself."""
    db = request.dbsession
    summary = {field: getattr(user, field) for field in ACCOUNT_PRIVATE_FIELDS}
    summary.update(_summary_extras(request, user))
    summary["total"] = db.scalar(select(func.count()).select_from(User))
    owned = owned_projects(db, user.id)
    return {
        "user": summary,
        "projects_contrib": contributed_projects(db, user.id, published_only=False),
        "projects_published": [p for p in owned if p["published"]],
        "projects_draft": [p for p in owned if not p["published"]],
        "can_update": True,
        # The token a signed-in single-page app sends with its writes (decision 11).
        "csrf": get_csrf_token(request),
        "title": f"{user.fullname} · User Profile",
        "template": "account/profile.html",
    }


def public_profile(request, user: User) -> dict:
    """What anyone may see of an account; admins also see its draft projects."""
    db = request.dbsession
    admin = is_admin(request.user)
    page = {"can_update": admin, "template": "account/public_profile.html"}
    if user.restrict and not admin:
        empty = {"projects": [], "projects_contrib": [], "projects_created": []}
        return {**page, **empty, "user": {"name": user.name}, "title": "User data is restricted"}
    summary = {
        "created": user.created,
        "name": user.name,
        "fullname": user.fullname,
        "info": public_info(user.info),
        "locale": user.locale,
        **_summary_extras(request, user),
    }
    contributed = contributed_projects(db, user.id)
    created = [p for p in owned_projects(db, user.id) if p["published"] or admin]
    for project in created:
        project.pop("owner_id")
    return {
        **page,
        "user": summary,
        "projects": contributed,
        "projects_contrib": contributed,
        "projects_created": created,
        "title": f"{user.fullname} · User Profile",
    }


@view_config(route_name="account_public", request_method="GET", renderer="page")
@view_config(route_name="account_public_bare", request_method="GET", renderer="page")
def profile_by_name(request):
    user = load_account(request)
    if request.user is not None and request.user.id == user.id:
        return own_profile(request, user)
    return public_profile(request, user)


@view_config(route_name="account_profile", request_method="GET", renderer="page")
def profile(request):
    if request.user is None:
        if request.wants_json:
            return redirect(request, "/account/signin", status="not_signed_in")
        return redirect(request, "/account/signin?next=/account/profile")
    return own_profile(request, request.user)


@view_config(route_name="account_projects", request_method="GET", renderer="page")
# PYBOSSA's older name for the same page: projects were "applications".
@view_config(route_name="account_applications", request_method="GET", renderer="page")
def projects(request):
    """The account's own projects: for the account itself only, admins too refused (9.3)."""
    user = load_account(request, "self")
    if request.user.id != user.id:
        raise HTTPForbidden()
    owned = owned_projects(request.dbsession, user.id)
    return {
        "user": {"name": user.name, "fullname": user.fullname},
        "projects_published": [p for p in owned if p["published"]],
        "projects_draft": [p for p in owned if not p["published"]],
        "title": "Projects",
        "template": "account/projects.html",
    }
