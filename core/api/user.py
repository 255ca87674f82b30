"""/api/user: read and update; POST and DELETE are 405.

`name`, `email_addr` and `locale` follow the profile page's rules (core.schemas.user). A new
e-mail address needs `current_password` in the body: the password of the caller (the account
itself, or the admin changing it), never stored (decision 16); with e-mail confirmation on, the
address changes only once the link mailed to it is followed, as on the profile page.
"""

from core.api.base import Resource, api_resource
from core.credentials import limit_attempt
from core.errors import DomainError
from core.models import User
from core.schemas.user import account_field_errors, taken
from core.services import account as accounts
from core.services.account import PENDING
from core.services.permissions import is_admin
from core.web.account import send_confirmation

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
# Checked by the caller's password, never written: not a column.
CURRENT_PASSWORD = "current_password"
UNIQUE = {"name": (User.name, "user name"), "email_addr": (User.email_addr, "e-mail")}


@api_resource("user")
class UserResource(Resource):
    model = User
    target = "user"
    reserved = PROTECTED
    server_info_keys = SERVER_INFO_KEYS
    creatable = False
    deletable = False

    def extra_fields(self):
        return (CURRENT_PASSWORD,)

    def parse_body(self, partial):
        caller, target = self.request.user, self.load()
        if is_admin(caller) and caller.id != target.id:
            # Only an admin may change admin/pro, and only of others (decision 3).
            self.reserved = PROTECTED - {"admin", "pro"}
        return super().parse_body(partial)

    def before_update(self, user, data):
        supplied = data.pop(CURRENT_PASSWORD, None)
        settings = self.request.registry.settings
        errors = account_field_errors(data, settings["account.locales"])
        if errors:
            details = "; ".join(f"{field}: {message}" for field, message in sorted(errors.items()))
            raise DomainError("DataError", details)
        for field, (column, label) in UNIQUE.items():
            # In any letter case, as the profile page checks (the unique index is exact).
            if field in data and taken(self.db, column, data[field], user.id):
                raise DomainError("DBIntegrityError", f"The {label} is already taken")
        if accounts.email_changes(user, data):
            caller = self.request.user
            limit_attempt(self.request, "current_password", caller.id)
            accounts.check_current_password(caller, supplied)
            new_email = accounts.hold_new_email(user, data, settings["account.confirm_email"])
            if new_email is not None:
                send_confirmation(self.request, user, new_email)
