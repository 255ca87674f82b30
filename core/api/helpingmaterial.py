"""/api/helpingmaterial."""

from core.api.base import Resource, api_resource
from core.models import HelpingMaterial


@api_resource("helpingmaterial")
class HelpingMaterialResource(Resource):
    model = HelpingMaterial
    target = "helpingmaterial"
    accepts_files = True
    read_only = frozenset({"project_id"})
