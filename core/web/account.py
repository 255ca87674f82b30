"""Account pages: register (with e-mail confirmation when on), sign in and sign out.

Every /account route is declared here, in matching order (fixed paths before
`/account/{name}/...`); the views live in this module and in account_profile (community,
profiles, own projects), account_password (forgot/reset password, e-mail confirmation) and
account_update (profile forms, API key, newsletter) and account_data (export, deletion).
"""

from urllib.parse import urlsplit

import colander
from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound
from pyramid.security import forget, remember
from pyramid.view import view_config
from sqlalchemy.exc import IntegrityError

from core.credentials import limit_attempt
from core.mail import mail_link, send_mail
from core.models import User
from core.passwords import verify_password
from core.schemas.user import (
    RESERVED_NAMES,
    email_validator,
    fullname_validator,
    name_validator,
    password_validator,
)
from core.services.account import (
    create_account,
    end_sessions,
    is_pending,
    make_link_token,
    user_by_email,
    user_by_name,
)
from core.services.permissions import is_admin
from core.web import add_routes
from core.web.forms import Form, checkbox
from core.web.forms import text as text_field
from core.web.project_access import require_signed_in
from core.web.render import flash, form_data, redirect, require_csrf

__all__ = ["RESERVED_NAMES", "create_account"]

ROUTES = {
    "account_index": "/account/",
    "account_index_page": "/account/page/{page:\\d+}",
    "account_register": "/account/register",
    "account_confirmation": "/account/register/confirmation",
    "account_signin": "/account/signin",
    "account_signout": "/account/signout",
    "account_profile": "/account/profile",
    "account_forgot_password": "/account/forgot-password",
    "account_reset_password": "/account/reset-password",
    "account_confirm_email": "/account/confirm-email",
    "account_newsletter": "/account/newsletter",
    "account_projects": "/account/{name}/projects",
    "account_applications": "/account/{name}/applications",
    "account_export": "/account/{name}/export",
    "account_delete": "/account/{name}/delete",
    "account_update": "/account/{name}/update",
    "account_reset_api_key": "/account/{name}/resetapikey",
    "account_public": "/account/{name}/",
    "account_public_bare": "/account/{name}",
}

CORRECT_ERRORS = "Please correct the errors"


def passwords_match(first: str, second: str = "confirm"):
    """A schema validator: field `second` must repeat field `first`."""

    def validate(form, values):
        if values[first] != values[second]:
            invalid = colander.Invalid(form)
            invalid[second] = "Passwords must match"
            raise invalid

    return validate


def register_schema(db, settings) -> colander.Schema:
    schema = colander.Schema(validator=passwords_match("password"))
    schema.add(text_field("fullname", "The full name is required", fullname_validator()))
    schema.add(text_field("name", "The user name is required", name_validator(db)))
    schema.add(text_field("email_addr", "Email is required", email_validator(db)))
    password = password_validator(settings)
    schema.add(text_field("password", "Password cannot be empty", password))
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


def account_url(user: User) -> str:
    return f"/account/{user.name}/"


def load_account(request, mode: str = "view") -> User:
    """The account named in the URL (404 if none); mode "self" lets only it or an admin in."""
    user = user_by_name(request.dbsession, request.matchdict["name"])
    if user is None:
        raise HTTPNotFound()
    if mode == "self":
        require_signed_in(request)
        if request.user.id != user.id and not is_admin(request.user):
            raise HTTPForbidden()
    return user


def send_confirmation(request, user: User, email: str) -> None:
    """Mail `email` a link proving it belongs to `user`; it becomes the address once followed."""
    settings = request.registry.settings
    token = make_link_token(settings["session.secret"], "confirm", user, {"e": email})
    url = mail_link(request, "account_confirmation", _query={"key": token})
    hours = settings["account.link_expiration"] // 3600
    text = (
        f"Hello {user.fullname},\n\nPlease confirm your e-mail address by following this "
        f"link (valid {hours} hours):\n\n{url}\n\nIf you did not ask for it, ignore this mail.\n"
    )
    values = {"user": user, "url": url, "hours": hours, "text": text}
    send_mail(request, email, "Confirm your e-mail address", "account/mail_confirm.html", values)
    user.confirmation_email_sent = True


@view_config(route_name="account_register", request_method=("GET", "POST"), renderer="page")
def register(request):
    db = request.dbsession
    form = Form(register_schema(db, request.registry.settings))
    if request.method == "POST":
        data = form_data(request)
        require_csrf(request, data)
        limit_attempt(request, "register", data.get("email_addr"))
        form = Form(register_schema(db, request.registry.settings), data)
        values = form.valid()
        if values is not None:
            confirm = request.registry.settings["account.confirm_email"]
            try:
                user = create_account(db, values, pending=confirm)
            except IntegrityError:
                # A concurrent registration took the name or e-mail after the check.
                form.add_error("name", "The user name or e-mail is already taken")
            else:
                if confirm:
                    send_confirmation(request, user, user.email_addr)
                    return {
                        "status": "sent",
                        "email": user.email_addr,
                        "title": "Account validation",
                        "template": "account/account_validation.html",
                    }
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
        limit_attempt(request, "signin", data.get("email"))
        form = Form(signin_schema(), data)
        values = form.valid()
        user = None if values is None else user_by_email(request.dbsession, values["email"])
        if values is None:
            flash(request, CORRECT_ERRORS, "error")
        elif user is None:
            flash(request, "Ooops, we didn't find you in the system, did you sign up?", "info")
        elif not verify_password(user.passwd_hash, values["password"]):
            flash(request, "Ooops, Incorrect email/password", "error")
        elif is_pending(user):
            # The registration is not confirmed: a fresh link replaces a lost or expired one.
            send_confirmation(request, user, user.email_addr)
            flash(request, "Please confirm your e-mail first: we sent you a new link.", "info")
        else:
            sign_in(request, user)
            return redirect(request, next_url, f"Welcome back {user.fullname}", "success")
    return {"form": form, "next": next_url, "title": "Sign in", "template": "account/signin.html"}


@view_config(route_name="account_signout", request_method=("GET", "POST"))
def signout(request):
    require_csrf(request, form_data(request) if request.method == "POST" else None)
    if request.auth_method == "session":
        # A copy of this cookie (or of the account's other sessions) must not outlive it.
        end_sessions(request.user)
    forget(request)
    return redirect(request, "/", "You are now signed out", "success")


def includeme(config):
    config.include("core.mail")
    add_routes(config, ROUTES)
    config.scan(__name__)
    config.scan("core.web.account_profile")
    config.scan("core.web.account_password")
    config.scan("core.web.account_update")
    config.scan("core.web.account_data")
