"""/api/user: read and update; POST and DELETE are 405."""

from core.api.base import Resource, api_resource
from core.errors import DomainError
from core.models import User
from core.services.account import PENDING
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
# info keys the server writes (the avatar file, OAuth links, a registration awaiting its e-mail
# confirmation): never taken from a client, kept as stored on PUT.
SERVER_INFO_KEYS = frozenset({"container", "avatar", "oauth", PENDING})
# Columns only admins may filter on: filtering would reveal them.
ADMIN_FILTERS = frozenset({"email_addr", "api_key", "passwd_hash", "ldap", "ckan_api"})


@api_resource("user")
class UserResource(Resource):
    model = User
    target = "user"
    reserved = PROTECTED
    server_info_keys = SERVER_INFO_KEYS
    creatable = False
    deletable = False

    def parse_body(self, partial):
        caller, target = self.request.user, self.load()
        if is_admin(caller) and caller.id != target.id:
            # Only an admin may change admin/pro, and only of others (decision 3).
            self.reserved = PROTECTED - {"admin", "pro"}
        return super().parse_body(partial)

    def collection_get(self):
        caller = self.request.user
        if not is_admin(caller):
            for key in self.request.GET:
                if key in ADMIN_FILTERS:
                    raise DomainError(
                        "AttributeError", f"type object 'User' has no attribute '{key}'"
                    )
            if "fullname" in self.request.GET or "created" in self.request.GET:
                self.request.GET["privacy_mode"] = "false"
        return super().collection_get()
