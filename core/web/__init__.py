"""Web pages: one view returns one dict, rendered as HTML (Jinja2) or JSON."""

from pyramid.httpexceptions import HTTPException

from core.web.render import PageRenderer, WebPagePredicate, error_page

ROUTES = {
    "account_register": "/account/register",
    "account_signin": "/account/signin",
    "account_signout": "/account/signout",
    "account_profile": "/account/profile",
    "project_update": "/project/{short_name}/update",
    "project_publish": "/project/{short_name}/publish",
}


def includeme(config):
    config.add_jinja2_renderer(".html")
    config.add_jinja2_search_path("core:templates", name=".html")
    config.add_static_view("static", "core:static", cache_max_age=3600)
    # Uploaded files; production may serve the same folder from the front web server.
    config.add_static_view("uploads", config.get_settings()["upload.dir"], cache_max_age=3600)
    # `page`: JSON for clients that ask for it, else the template the dict names.
    config.add_renderer("page", PageRenderer)
    # HTTP errors of the web pages: the 4xx templates, or their JSON form; /api keeps its own.
    config.add_view_predicate("web_page", WebPagePredicate)
    config.add_exception_view(error_page, context=HTTPException, web_page=True)
    for name, pattern in ROUTES.items():
        config.add_route(name, pattern)
    config.scan("core.web")
