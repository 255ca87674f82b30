"""Web pages: one view returns one dict, rendered as HTML (Jinja2) or JSON.

Each page module registers its own routes in its `includeme`. Pyramid tries routes in the
order they were added, so the fixed paths (`/project/new`, `/project/category/...`) are included
before the `/project/{short_name}/...` family.
"""

from pyramid.httpexceptions import HTTPException

from core.web.render import PageRenderer, WebPagePredicate, error_page

# Included in this order.
PAGE_MODULES = (
    "core.web.account",
    "core.web.oauth",
    "core.web.listings",
    "core.web.help",
    "core.web.admin",
    "core.web.project_edit",
    "core.web.project",
    "core.web.project_password",
    "core.web.project_publish",
    "core.web.project_coowners",
    "core.web.project_blog",
    "core.web.project_data",
    "core.web.project_tasks",
    "core.web.project_report",
    "core.web.contribute",
    "core.web.presenter_frame",
    "core.web.export",
    "core.web.streams",
)


def add_routes(config, routes: dict[str, str]) -> None:
    """Register a module's {route name: pattern} table."""
    for name, pattern in routes.items():
        config.add_route(name, pattern)


def includeme(config):
    config.add_jinja2_renderer(".html")
    config.add_jinja2_search_path("core:templates", name=".html")
    # `|markdown`: the one way templates show owner-written Markdown.
    config.include("core.web.markdown")
    # Catalogs of core/locale (and i18n.extra_dirs), and the language of each page.
    config.include("core.i18n")
    config.add_static_view("static", "core:static", cache_max_age=3600)
    # Uploaded files, with the headers that keep them from running on our origin.
    config.include("core.web.uploads")
    # `page`: JSON for clients that ask for it, else the template the dict names.
    config.add_renderer("page", PageRenderer)
    # HTTP errors of the web pages: the 4xx templates, or their JSON form; /api keeps its own.
    config.add_view_predicate("web_page", WebPagePredicate)
    config.add_exception_view(error_page, context=HTTPException, web_page=True)
    for module in PAGE_MODULES:
        config.include(module)
