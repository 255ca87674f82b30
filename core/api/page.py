"""/api/page."""

from core.api.base import Resource, api_resource
from core.models import Page


@api_resource("page")
class PageResource(Resource):
    model = Page
    target = "page"
    accepts_files = True
    read_only = frozenset({"project_id"})
