"""/api/user: read and update; POST and DELETE are 405."""

from core.api.base import Resource, api_resource
from core.models import User
from core.services.permissions import is_admin

PROTECTED = frozenset(
    {
        "id",
        "created",
        "api_key",
        "passwd_hash",
        "restrict",
        "valid_email",
        "ldap",
        "confirmation_email_sent",
        "admin",
        "pro",
    }
)


@api_resource("user")
class UserResource(Resource):
    model = User
    target = "user"
    reserved = PROTECTED
    creatable = False
    deletable = False

    def parse_body(self, partial):
        caller, target = self.request.user, self.load()
        if is_admin(caller) and caller.id != target.id:
            # Only an admin may change admin/pro, and only of others (decision 3).
            self.reserved = PROTECTED - {"admin", "pro"}
        return super().parse_body(partial)
