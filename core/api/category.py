"""/api/category: admins write, everyone reads."""

from core.api.base import Resource, api_resource
from core.errors import DomainError
from core.models import Category
from core.services.project import only_category_left


@api_resource("category")
class CategoryResource(Resource):
    model = Category
    target = "category"
    reserved_suffix = True

    def before_delete(self, category):
        if only_category_left(self.db):
            raise DomainError("BadRequest", "The last category cannot be deleted")
