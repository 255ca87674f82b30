"""/api/category: admins write, everyone reads."""

from core.api.base import Resource, api_resource
from core.models import Category


@api_resource("category")
class CategoryResource(Resource):
    model = Category
    target = "category"
    reserved_suffix = True
