"""Changing an account: the four forms of its update page, the API key, the newsletter."""

import colander
from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPUnsupportedMediaType
from pyramid.security import remember
from pyramid.view import view_config
from sqlalchemy import select

from core.credentials import limit_attempt
from core.errors import DomainError
from core.models import User
from core.schemas.user import locale_validator, password_validator
from core.services import account as accounts
from core.services import uploads
from core.services.account import reset_api_key, set_avatar, set_password, update_fields
from core.services.images import save_image
from core.web.account import (
    CORRECT_ERRORS,
    account_url,
    email_validator,
    fullname_validator,
    load_account,
    name_validator,
    passwords_match,
    safe_next,
    send_confirmation,
)
from core.web.account_password import PasswordForm
from core.web.forms import Form, checkbox, crop_corner
from core.web.forms import text as text_field
from core.web.project_access import require_signed_in
from core.web.render import flash, form_data, redirect, require_csrf

BUTTONS = ("Profile", "Upload", "Password", "External")
PROFILE_COLUMNS = ("fullname", "name", "email_addr", "locale", "subscribed", "privacy_mode")
PROFILE_FORM = ("id", *PROFILE_COLUMNS, "ckan_api", "restrict")
UPDATED = "Your profile has been updated!"
# The web wording of core.services.account's refusals of the current password.
CURRENT_PASSWORD_ERRORS = {
    accounts.PASSWORD_REQUIRED: "You must give your current password",
    accounts.PASSWORD_WRONG: "Your current password doesn't match the one in our records",
}
AVATAR_SIZE = 512


class UploadedFile(colander.SchemaType):
    """A file of a multipart form (anything else is refused); nothing to send back."""

    def serialize(self, node, appstruct):
        return colander.null

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct == "":
            return colander.null
        if not hasattr(cstruct, "file"):
            raise colander.Invalid(node, "Please choose an image file")
        return cstruct


class ProfileForm(Form):
    # The current password a new e-mail address needs is never echoed back.
    secret = ("current_password",)


class UploadForm(Form):
    # The uploaded file is never echoed back.
    secret = ("avatar",)


def profile_schema(db, user: User, locales: list[str]) -> colander.Schema:
    schema = colander.Schema()
    schema.add(colander.SchemaNode(colander.Integer(), name="id", missing=None))
    schema.add(text_field("fullname", "The full name is required", fullname_validator()))
    schema.add(text_field("name", "The user name is required", name_validator(db, user.id)))
    schema.add(text_field("email_addr", "Email is required", email_validator(db, user.id)))
    schema.add(text_field("locale", "Not a valid choice", locale_validator(locales)))
    schema.add(checkbox("subscribed"))
    schema.add(checkbox("privacy_mode"))
    schema.add(text_field("ckan_api"))
    schema.add(checkbox("restrict"))
    # Needed only when the e-mail address changes (decision 16).
    schema.add(text_field("current_password"))
    return schema


def external_schema(db, user: User) -> colander.Schema:
    def ckan_key_free(node, value):
        clash = select(User.id).where(User.ckan_api == value, User.id != user.id).limit(1)
        if value and db.scalar(clash) is not None:
            raise colander.Invalid(node, "This CKAN API key is already used by another account")

    schema = colander.Schema()
    schema.add(
        text_field("ckan_api", validator=colander.All(colander.Length(max=64), ckan_key_free))
    )
    return schema


def upload_schema() -> colander.Schema:
    schema = colander.Schema()
    schema.add(colander.SchemaNode(UploadedFile(), name="avatar", missing=None))
    schema.add(colander.SchemaNode(colander.Integer(), name="id", missing=None))
    for corner in ("x1", "y1", "x2", "y2"):
        schema.add(crop_corner(corner))
    return schema


def password_schema(settings) -> colander.Schema:
    schema = colander.Schema(validator=passwords_match("new_password"))
    schema.add(text_field("current_password", "You must give your current password"))
    schema.add(
        text_field("new_password", "Password cannot be empty", password_validator(settings))
    )
    schema.add(text_field("confirm", "Please confirm your password"))
    return schema


class UpdatePage:
    """The four forms of /account/<name>/update, filled with the account's current values."""

    def __init__(self, request, user: User):
        self.request = request
        self.user = user
        self.db = request.dbsession
        self.locales = request.registry.settings["account.locales"]
        current = {name: getattr(user, name) for name in PROFILE_FORM}
        self.form = ProfileForm(profile_schema(self.db, user, self.locales), None, **current)
        self.upload_form = UploadForm(upload_schema(), None, id=user.id, x1=0, y1=0, x2=0, y2=0)
        self.password_form = PasswordForm(password_schema(request.registry.settings))

    def value(self) -> dict:
        self.form.choices["locale"] = [(locale, locale) for locale in self.locales]
        info = self.user.info or {}
        return {
            "form": self.form,
            "upload_form": self.upload_form,
            "password_form": self.password_form,
            # Accounts made through an external service have no password to change.
            "show_passwd_form": bool(self.user.passwd_hash),
            "user": {"name": self.user.name, "fullname": self.user.fullname, "info": info},
            "title": f"Update your profile: {self.user.fullname}",
            "template": "account/update.html",
        }

    def done(self, message: str = UPDATED):
        return redirect(self.request, f"/account/{self.user.name}/update", message, "success")

    def current_password_checked(self, form: Form, supplied) -> bool:
        """Is `supplied` the caller's current password? If not, the form says why."""
        limit_attempt(self.request, "current_password", self.request.user.id)
        try:
            accounts.check_current_password(self.request.user, supplied)
        except DomainError as error:
            form.add_error(
                "current_password", CURRENT_PASSWORD_ERRORS.get(error.message, error.message)
            )
            return False
        return True

    def profile(self, data: dict):
        self.form = ProfileForm(profile_schema(self.db, self.user, self.locales), data)
        values = self.form.valid()
        if values is None:
            return None
        columns = {name: values[name] for name in PROFILE_COLUMNS}
        columns["restrict"] = values["restrict"]
        if accounts.email_changes(self.user, columns) and not self.current_password_checked(
            self.form, values["current_password"]
        ):
            return None
        confirm = self.request.registry.settings["account.confirm_email"]
        new_email = accounts.hold_new_email(self.user, columns, confirm)
        if not update_fields(self.db, self.user, columns):
            self.form.add_error("name", "The user name or e-mail is already taken")
            return None
        if new_email is not None:
            send_confirmation(self.request, self.user, new_email)
            message = f"{UPDATED} We sent a link to {new_email}: follow it to use that address."
            return self.done(message)
        return self.done()

    def external(self, data: dict):
        external = Form(external_schema(self.db, self.user), data)
        values = external.valid()
        if values is not None and update_fields(self.db, self.user, values):
            return self.done()
        self.form.data["ckan_api"] = data.get("ckan_api")
        self.form.errors = external.errors or {"ckan_api": ["This CKAN API key is already used"]}
        return None

    def upload(self, data: dict):
        self.upload_form = UploadForm(upload_schema(), data)
        values = self.upload_form.valid()
        if values is None:
            return None
        upload = values["avatar"]
        if upload is None:
            self.upload_form.add_error("avatar", "Please choose an image file")
            return None
        x1, y1, width, height = (int(values[key]) for key in ("x1", "y1", "x2", "y2"))
        # PYBOSSA's crop: (x1, y1) is the top-left corner, (x2, y2) the width and height.
        crop = (x1, y1, x1 + width, y1 + height) if width and height else None
        settings = self.request.registry.settings
        container = f"user_{self.user.id}"
        try:
            name = save_image(
                settings["upload.dir"],
                container,
                upload.file.read(),
                crop=crop,
                size=AVATAR_SIZE,
                max_bytes=settings["upload.max_bytes"],
                max_pixels=settings["upload.max_pixels"],
            )
        except DomainError as error:
            self.upload_form.add_error("avatar", error.message)
            return None
        old_container, old_name = set_avatar(self.user, container, name)
        # Only a file of the user's own container: never one that info names elsewhere.
        old = uploads.owned_path(settings["upload.dir"], old_container, old_name, {container})
        if old and old_name != name:
            # The old file goes only once the new avatar is saved for good.
            self.request.after_commit(uploads.remove, old)
        return self.done()

    def password(self, data: dict):
        self.password_form = PasswordForm(password_schema(self.request.registry.settings), data)
        values = self.password_form.valid()
        if values is None:
            return None
        if not self.current_password_checked(self.password_form, values["current_password"]):
            return None
        set_password(self.user, values["new_password"])
        if self.request.user.id == self.user.id and self.request.auth_method == "session":
            # Every other session of the account has ended; this one goes on, re-issued.
            remember(self.request, self.user.id)
        return self.done("Yay, you changed your password succesfully!")


@view_config(route_name="account_update", request_method=("GET", "POST"), renderer="page")
def update(request):
    data = form_data(request) if request.method == "POST" else None
    if data is not None:
        require_csrf(request, data)
    user = load_account(request, "self")
    page = UpdatePage(request, user)
    if data is None:
        return page.value()
    button = str(data.get("btn") or "").capitalize()
    if button not in BUTTONS:
        raise HTTPUnsupportedMediaType()
    if button == "Password" and not user.passwd_hash:
        raise HTTPUnsupportedMediaType()
    response = getattr(page, button.lower())(data)
    if response is not None:
        return response
    flash(request, CORRECT_ERRORS, "error")
    return page.value()


@view_config(route_name="account_reset_api_key", request_method=("GET", "POST"), renderer="page")
def reset_api_key_view(request):
    data = form_data(request) if request.method == "POST" else None
    if data is not None:
        require_csrf(request, data)
    user = load_account(request, "self")
    if data is None:
        return {
            "form": {"csrf": get_csrf_token(request)},
            "user": {"name": user.name, "fullname": user.fullname},
            "title": "Reset the API key",
            "template": "account/reset_api_key.html",
        }
    reset_api_key(user)
    return redirect(request, account_url(user), "New API-KEY generated", "success")


@view_config(route_name="account_newsletter", request_method="GET", renderer="page")
def newsletter(request):
    require_signed_in(request)
    next_url = safe_next(request.GET.get("next"))
    user = request.user
    user.newsletter_prompted = True
    if str(request.GET.get("subscribe", "")).lower() == "true":
        # Subscribing changes the account: the link carries the CSRF token (decision 11).
        require_csrf(request)
        user.subscribed = True
        return redirect(request, next_url, "You are subscribed to our newsletter", "success")
    return {
        "next": next_url,
        "csrf": get_csrf_token(request),
        "title": "Subscribe to our Newsletter",
        "template": "account/newsletter.html",
    }
