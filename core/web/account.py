"""Account pages: register, sign in, sign out and the signed-in user's own profile."""

from urllib.parse import urlsplit

import colander
from pyramid.csrf import get_csrf_token
from pyramid.security import forget, remember
from pyramid.view import view_config
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.models import Project, ProjectOwner, TaskRun, User
from core.passwords import verify_password
from core.services.account import create_account
from core.web import add_routes
from core.web.forms import Form, checkbox, forbidden_chars
from core.web.forms import text as text_field
from core.web.render import flash, form_data, redirect, require_csrf

ROUTES = {
    "account_register": "/account/register",
    "account_signin": "/account/signin",
    "account_signout": "/account/signout",
    "account_profile": "/account/profile",
}

FORBIDDEN_NAME_CHARS = "$#&\\/| "
# Names that would shadow an /account/<name> route.
RESERVED_NAMES = frozenset(
    [
        "register",
        "signin",
        "signout",
        "profile",
        "forgot-password",
        "reset-password",
        "confirm-email",
        "newsletter",
        "page",
        "search",
        "static",
        "api",
        "admin",
        "account",
    ]
)
# The private summary of one's own account (behavior.md 9.3), plus n_answers.
PRIVATE_FIELDS = [
    "id",
    "name",
    "fullname",
    "created",
    "api_key",
    "info",
    "admin",
    "locale",
    "email_addr",
    "valid_email",
    "confirmation_email_sent",
    "restrict",
]
CORRECT_ERRORS = "Please correct the errors"


def _new_name(db):
    """Length, characters, reserved words and uniqueness of a new user name."""

    def validate(node, value):
        if value.lower() in RESERVED_NAMES:
            raise colander.Invalid(node, "This name is used by the system.")
        if db.scalar(select(User.id).where(func.lower(User.name) == value.lower())):
            raise colander.Invalid(node, "The user name is already taken")

    length = colander.Length(
        3,
        35,
        min_err="User name must be between 3 and 35 characters long",
        max_err="User name must be between 3 and 35 characters long",
    )
    chars = forbidden_chars(FORBIDDEN_NAME_CHARS, "$#&\\/| and space symbols are forbidden")
    return colander.All(length, chars, validate)


def _new_email(db):
    """Format, length and uniqueness of a new e-mail address."""

    def validate(node, value):
        if db.scalar(select(User.id).where(func.lower(User.email_addr) == value.lower())):
            raise colander.Invalid(node, "The e-mail is already taken")

    length = colander.Length(max=254, max_err="Email must be at most 254 characters long")
    return colander.All(length, colander.Email(msg="Invalid email address."), validate)


def _passwords_match(form, values):
    if values["password"] != values["confirm"]:
        invalid = colander.Invalid(form)
        invalid["confirm"] = "Passwords must match"
        raise invalid


def register_schema(db) -> colander.Schema:
    fullname_length = colander.Length(
        3,
        35,
        min_err="Full name must be between 3 and 35 characters long",
        max_err="Full name must be between 3 and 35 characters long",
    )
    schema = colander.Schema(validator=_passwords_match)
    schema.add(text_field("fullname", "The full name is required", fullname_length))
    schema.add(text_field("name", "The user name is required", _new_name(db)))
    schema.add(text_field("email_addr", "Email is required", _new_email(db)))
    schema.add(text_field("password", "Password cannot be empty"))
    schema.add(text_field("confirm", "Please confirm your password"))
    schema.add(checkbox("consent"))
    return schema


def signin_schema() -> colander.Schema:
    schema = colander.Schema()
    schema.add(text_field("email", "The e-mail is required", colander.Email()))
    schema.add(text_field("password", "You must provide a password"))
    return schema


def safe_next(url: str | None, default: str = "/") -> str:
    """A same-site relative path, or `default` (no open redirects)."""
    if not url or not isinstance(url, str) or "\\" in url or any(ord(c) < 32 for c in url):
        return default
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//"):
        return default
    return url


def sign_in(request, user: User) -> None:
    # A fresh session at sign-in: nothing from the anonymous session carries over.
    request.session.invalidate()
    remember(request, user.id)


@view_config(route_name="account_register", request_method=("GET", "POST"), renderer="page")
def register(request):
    db = request.dbsession
    form = Form(register_schema(db))
    if request.method == "POST":
        data = form_data(request)
        require_csrf(request, data)
        form = Form(register_schema(db), data)
        values = form.valid()
        if values is not None:
            try:
                user = create_account(db, values)
            except IntegrityError:
                # A concurrent registration took the name or e-mail after the check.
                form.add_error("name", "The user name or e-mail is already taken")
            else:
                sign_in(request, user)
                return redirect(request, "/", "Thanks for signing-up", "success")
        flash(request, CORRECT_ERRORS, "error")
    return {"form": form, "title": "Register", "template": "account/register.html"}


@view_config(route_name="account_signin", request_method=("GET", "POST"), renderer="page")
def signin(request):
    next_url = safe_next(request.GET.get("next"))
    if request.user is not None:
        return redirect(request, "/")
    form = Form(signin_schema())
    if request.method == "POST":
        data = form_data(request)
        require_csrf(request, data)
        form = Form(signin_schema(), data)
        values = form.valid()
        if values is None:
            flash(request, CORRECT_ERRORS, "error")
        else:
            user = request.dbsession.scalars(
                select(User)
                .where(func.lower(User.email_addr) == values["email"].lower())
                .order_by(User.id)
            ).first()
            if user is None:
                flash(request, "Ooops, we didn't find you in the system, did you sign up?", "info")
            elif not verify_password(user.passwd_hash, values["password"]):
                flash(request, "Ooops, Incorrect email/password", "error")
            else:
                sign_in(request, user)
                return redirect(request, next_url, f"Welcome back {user.fullname}", "success")
    return {"form": form, "next": next_url, "title": "Sign in", "template": "account/signin.html"}


@view_config(route_name="account_signout", request_method=("GET", "POST"))
def signout(request):
    require_csrf(request, form_data(request) if request.method == "POST" else None)
    forget(request)
    return redirect(request, "/", "You are now signed out", "success")


def private_summary(db, user: User) -> dict:
    """The signed-in user's own fields, api_key included, never the password hash."""
    summary = {field: getattr(user, field) for field in PRIVATE_FIELDS}
    summary["n_answers"] = db.scalar(select(func.count()).where(TaskRun.user_id == user.id))
    return summary


def owned_projects(db, user: User) -> list[Project]:
    owned = select(ProjectOwner.project_id).where(ProjectOwner.user_id == user.id)
    return list(db.scalars(select(Project).where(Project.id.in_(owned)).order_by(Project.id)))


@view_config(route_name="account_profile", request_method="GET", renderer="page")
def profile(request):
    user = request.user
    if user is None:
        if request.wants_json:
            return redirect(request, "/account/signin", status="not_signed_in")
        return redirect(request, "/account/signin?next=/account/profile")
    db = request.dbsession
    projects = [
        {key: getattr(p, key) for key in ("id", "name", "short_name", "description", "published")}
        for p in owned_projects(db, user)
    ]
    return {
        "user": private_summary(db, user),
        "projects_published": [p for p in projects if p["published"]],
        "projects_draft": [p for p in projects if not p["published"]],
        # The token a signed-in single-page app sends with its writes (decision 11).
        "csrf": get_csrf_token(request),
        "title": "Profile",
        "template": "account/profile.html",
    }


def includeme(config):
    add_routes(config, ROUTES)
    config.scan(__name__)
