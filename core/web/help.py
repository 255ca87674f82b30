"""Help pages: the API guide, about, and the privacy, cookies, terms and license texts.

The texts are the operator's: the setting `help.<page>` names a file of HTML or holds the HTML
itself; left empty, Crowdnest's own text (templates/help/text_<page>.html) is shown.
"""

import os

from pyramid.renderers import render
from pyramid.view import view_config
from sqlalchemy import select

from core.models import Project
from core.services import project_listing
from core.web import add_routes

ROUTES = {
    "help_api": "/help/api",
    "help_about": "/help/about",
    "help_privacy": "/help/privacy",
    "help_cookies": "/help/cookies-policy",
    "help_terms": "/help/terms-of-use",
    "help_license": "/help/license",
}
# route: (setting and default text name, title)
TEXT_PAGES = {
    "help_about": ("about", "About"),
    "help_privacy": ("privacy", "Privacy Policy"),
    "help_cookies": ("cookies_policy", "Help: Cookies Policy"),
    "help_terms": ("terms_of_use", "Help: Terms of Use"),
    "help_license": ("license", "Help: Licenses"),
}


def help_text(request, name: str) -> str:
    """The operator's HTML for the page, else Crowdnest's default text."""
    configured = request.registry.settings[f"help.{name}"]
    if configured and os.path.isfile(configured):
        with open(configured, encoding="utf-8") as text:
            return text.read()
    if configured:
        return configured
    return render(f"help/text_{name}.html", {}, request=request)


@view_config(route_name="help_api", request_method="GET", renderer="page")
def api_help(request):
    # An example project for the guide's URLs: the first public one of the first category used.
    used = project_listing.used_categories(request.dbsession)
    project_id = None
    if used:
        project_id = request.dbsession.scalar(
            select(Project.id)
            .where(
                Project.category_id == used[0]["id"],
                Project.published,
                Project.info["passwd_hash"].as_string().is_(None),
            )
            .order_by(Project.id)
            .limit(1)
        )
    return {"project_id": project_id, "title": "API Help", "template": "help/api.html"}


def text_page(request):
    name, title = TEXT_PAGES[request.matched_route.name]
    return {"content": help_text(request, name), "title": title, "template": "help/text.html"}


def includeme(config):
    add_routes(config, ROUTES)
    for route_name in TEXT_PAGES:
        config.add_view(text_page, route_name=route_name, request_method="GET", renderer="page")
    config.scan(__name__)
