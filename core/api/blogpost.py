"""/api/blogpost: a project's owners write, the author is set by the server."""

from core.api.base import Resource, api_resource
from core.models import Blogpost
from core.services import stats


@api_resource("blogpost")
class BlogpostResource(Resource):
    model = Blogpost
    target = "blogpost"
    accepts_files = True
    reserved = frozenset({"id", "created", "updated", "user_id"})
    reserved_suffix = True
    read_only = frozenset({"project_id"})

    def before_create(self, blogpost, data):
        if self.request.user is not None:
            blogpost.user_id = self.request.user.id

    def after_create(self, blogpost):
        stats.bump(self.db, blogpost.project_id, n_blogposts=1)

    def before_delete(self, blogpost):
        stats.bump(self.db, blogpost.project_id, n_blogposts=-1)
