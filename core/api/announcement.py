"""/api/announcement: admins write; unpublished ones are shown to admins only."""

from core.api.base import Resource, api_resource
from core.models import Announcement


@api_resource("announcement")
class AnnouncementResource(Resource):
    model = Announcement
    target = "announcement"
    accepts_files = True
    reserved = frozenset({"id", "created", "updated", "user_id"})

    def before_create(self, announcement, data):
        if self.request.user is not None:
            announcement.user_id = self.request.user.id
