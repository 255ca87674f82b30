"""Site-wide pages: home, project categories, leaderboard, announcements and global stats.

The lists are cached in the dogpile region (core.cache) until the data they show changes;
cached values are shared between requests, so views copy before they add to them.
"""

from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound
from pyramid.view import view_config
from sqlalchemy import func, select

from core.cache import cached
from core.models import Announcement, Category, Project, TaskRun
from core.services import leaderboard, project_listing, site_stats
from core.services.permissions import is_admin, readable_clause
from core.web import add_routes
from core.web.project_access import require_signed_in
from core.web.render import pagination, redirect

ROUTES = {
    "home": "/",
    "project_index": "/project{slash:/?}",
    "project_category": "/project/category/{short_name}{slash:/?}",
    "project_category_page": "/project/category/{short_name}/page/{page:\\d+}{slash:/?}",
    "leaderboard": "/leaderboard{slash:/?}",
    "leaderboard_window": "/leaderboard/window/{window:\\d+}{slash:/?}",
    "announcements": "/announcements{slash:/?}",
    "global_stats": "/stats{slash:/?}",
}
ANNOUNCEMENT_KEYS = ("body", "created", "id", "media_url", "published", "title", "updated")
HOME_CATEGORY_PROJECTS = 8
HOME_TOP = 10


def page_number(request) -> int:
    page = int(request.matchdict.get("page") or 1)
    if page < 1:
        raise HTTPNotFound()
    return page


def _category_list(request, short_name: str, orderby, desc: bool):
    """(active category dict, its ranked projects) for a category name, or a 404."""
    db = request.dbsession
    region = request.registry["cache"]
    key = f"{orderby}:{int(desc)}"
    if short_name == "featured":
        projects = cached(
            region,
            "projects",
            f"featured:{key}",
            lambda: project_listing.featured(db, orderby, desc),
        )
        return project_listing.FEATURED, projects
    if short_name == "draft":
        require_signed_in(request)
        if not is_admin(request.user):
            raise HTTPForbidden()
        return project_listing.DRAFT, project_listing.drafts(db, orderby, desc)
    if short_name == "historical_contributions":
        require_signed_in(request)
        projects = project_listing.contributed(db, request.user.id, orderby, desc)
        return project_listing.HISTORICAL, projects
    category = db.scalars(select(Category).where(Category.short_name == short_name)).first()
    if category is None:
        raise HTTPNotFound()
    projects = cached(
        region,
        "projects",
        f"category:{category.id}:{key}",
        lambda: project_listing.in_category(db, category.id, orderby, desc),
    )
    return project_listing.category_dict(category), projects


def categories_menu(request) -> list[dict]:
    """The pseudo categories the caller may open, then the categories in use."""
    db = request.dbsession
    region = request.registry["cache"]
    menu = []
    if cached(region, "projects", "has_featured", lambda: project_listing.has_featured(db)):
        menu.append(project_listing.FEATURED)
    if is_admin(request.user):
        menu.append(project_listing.DRAFT)
    return menu + used_categories(request)


def used_categories(request) -> list[dict]:
    db = request.dbsession
    region = request.registry["cache"]
    return cached(
        region, "projects", "used_categories", lambda: project_listing.used_categories(db)
    )


@view_config(route_name="project_index", request_method="GET")
def project_index(request):
    """PYBOSSA's categories index: the featured list, or the first category when none is."""
    db = request.dbsession
    region = request.registry["cache"]
    if cached(region, "projects", "has_featured", lambda: project_listing.has_featured(db)):
        return redirect(request, "/project/category/featured/")
    used = used_categories(request)
    if used:
        return redirect(request, f"/project/category/{used[0]['short_name']}/")
    return redirect(request, "/project/category/featured/")


@view_config(route_name="project_category", request_method="GET", renderer="page")
@view_config(route_name="project_category_page", request_method="GET", renderer="page")
def project_category(request):
    short_name = request.matchdict["short_name"]
    page = page_number(request)
    orderby = request.GET.get("orderby") or None
    if orderby not in project_listing.ORDER_KEYS:
        orderby = None
    # PYBOSSA sorts descending for any non-empty `desc`.
    desc = bool(request.GET.get("desc"))
    active, projects = _category_list(request, short_name, orderby, desc)
    if short_name == "featured" and not projects and page == 1:
        used = categories_menu(request)
        first = next((c for c in used if c["id"] is not None), None)
        if first is not None:
            return redirect(request, f"/project/category/{first['short_name']}/")
    per_page = project_listing.PER_PAGE
    if page > 1 and (page - 1) * per_page >= len(projects):
        raise HTTPNotFound()
    value = {
        "projects": projects[(page - 1) * per_page : page * per_page],
        "pagination": pagination(page, per_page, len(projects)),
        "active_cat": active,
        "categories": categories_menu(request),
        "orderby": orderby,
        "desc": desc,
        "title": "Projects",
        "template": "listings/category.html",
    }
    if short_name != "featured":
        value["count"] = len(projects)
    return value


def _historical_contributions(request, limit: int = 3) -> list[dict]:
    """The published projects the caller answered most recently."""
    db = request.dbsession
    latest = func.max(TaskRun.finish_time).label("latest")
    rows = db.execute(
        select(Project.id, Project.name, Project.short_name, Project.description, Project.info)
        .join(TaskRun, TaskRun.project_id == Project.id)
        .where(TaskRun.user_id == request.user.id, Project.published)
        .group_by(Project.id, Project.name, Project.short_name, Project.description, Project.info)
        .order_by(latest.desc(), Project.id)
        .limit(limit)
    )
    return [
        {
            "id": row.id,
            "name": row.name,
            "short_name": row.short_name,
            "description": row.description,
            "info": {
                k: v for k, v in (row.info or {}).items() if k in project_listing.PUBLIC_INFO
            },
        }
        for row in rows
    ]


def _home_lists(db, region) -> dict:
    categories = project_listing.used_categories(db)
    by_category = {
        category["short_name"]: project_listing.in_category(db, category["id"])[
            :HOME_CATEGORY_PROJECTS
        ]
        for category in categories
    }
    every = [project for projects in by_category.values() for project in projects]
    top = sorted(every, key=lambda p: (-p["n_volunteers"], p["id"]))[:HOME_TOP]
    return {
        "featured": project_listing.featured(db)[: project_listing.PER_PAGE],
        "categories": categories,
        "categories_projects": by_category,
        "top_projects": top,
    }


@view_config(route_name="home", request_method="GET", renderer="page")
def home(request):
    db = request.dbsession
    region = request.registry["cache"]
    settings = request.registry.settings
    lists = cached(region, "projects", "home", lambda: _home_lists(db, region))
    value = {
        **lists,
        "categories": [project_listing.FEATURED, *lists["categories"]],
        "top_users": leaderboard.top_users(db, region, settings, HOME_TOP),
        "title": settings["brand"],
        "template": "home.html",
    }
    if request.user is not None:
        value["historical_contributions"] = _historical_contributions(request)
    return value


@view_config(route_name="leaderboard", request_method="GET", renderer="page")
@view_config(route_name="leaderboard_window", request_method="GET", renderer="page")
def leaderboard_page(request):
    settings = request.registry.settings
    # Alternative boards (`?info=<key>`, score info[key]) exist only as leaderboard.boards lists.
    board = request.GET.get("info")
    if board is not None and board not in settings["leaderboard.boards"]:
        raise HTTPNotFound()
    db = request.dbsession
    region = request.registry["cache"]
    top = leaderboard.top_users(db, region, settings, settings["leaderboard.size"], board)
    mine = []
    if request.user is not None:
        window = int(request.matchdict.get("window") or 0)
        mine = leaderboard.around(db, region, settings, request.user.id, window, board)
    return {
        "top_users": top + mine,
        "n_top": len(top),
        "title": "Community Leaderboard",
        "template": "listings/leaderboard.html",
    }


@view_config(route_name="announcements", request_method="GET", renderer="page")
def announcements(request):
    # PYBOSSA lists unpublished ones to everyone (behavior.md 9.6): here, as on
    # /api/announcement, only admins see an unpublished draft (decision 17).
    rows = request.dbsession.scalars(
        select(Announcement)
        .where(readable_clause(Announcement, request.user))
        .order_by(Announcement.id.desc())
    )
    return {
        "announcements": [{key: getattr(row, key) for key in ANNOUNCEMENT_KEYS} for row in rows],
        "title": "Announcements",
        # PYBOSSA's JSON names no template here (behavior.md 9.6); browsers still get the page.
        "template": "" if request.wants_json else "listings/announcements.html",
    }


@view_config(route_name="global_stats", request_method="GET", renderer="page")
def global_stats(request):
    db = request.dbsession
    figures = cached(
        request.registry["cache"], "stats", "global", lambda: site_stats.global_stats(db)
    )
    return {
        **figures,
        "show_locs": False,
        "locs": [],
        "title": "Global Statistics",
        "template": "listings/stats.html",
    }


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
