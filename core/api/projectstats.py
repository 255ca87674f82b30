"""/api/projectstats: read only; detailed `info` only with ?full=1."""

from core.api.base import Resource, api_resource
from core.models import ProjectStats

DETAIL_KEYS = ("hours_stats", "dates_stats", "users_stats")


@api_resource("projectstats")
class ProjectStatsResource(Resource):
    model = ProjectStats
    target = "projectstats"

    def serialize(self, obj, links=True, extra=None):
        data = super().serialize(obj, links=links, extra=extra)
        if not self.request.GET.get("full"):
            data["info"] = {k: v for k, v in (data["info"] or {}).items() if k not in DETAIL_KEYS}
        return data
