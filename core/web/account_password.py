"""Links sent by mail: forgotten password, password reset, e-mail confirmation."""

import colander
from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound
from pyramid.view import view_config

from core.credentials import limit_attempt
from core.mail import mail_link, send_mail
from core.models import User
from core.schemas.user import password_validator, taken
from core.services.account import (
    confirm_email,
    is_pending,
    make_link_token,
    read_link_token,
    set_password,
    user_by_email,
)
from core.web.account import (
    CORRECT_ERRORS,
    account_url,
    passwords_match,
    send_confirmation,
    sign_in,
)
from core.web.forms import Form
from core.web.forms import text as text_field
from core.web.project_access import require_signed_in
from core.web.render import flash, form_data, redirect, require_csrf

SENT = "We've sent you an email with account recovery instructions!"
UNKNOWN = (
    "We don't have this email in our records. You may have signed up with a different email "
    "or used Twitter, Facebook, or Google to sign-in"
)
NO_PASSWORD = (
    "We don't have a password for this account: you signed up with an external service; "
    "sign in with it instead."
)
FORM_ERRORS = "Something went wrong, please correct the errors on the form"


class PasswordForm(Form):
    secret = ("current_password", "new_password", "confirm")


def forgot_schema() -> colander.Schema:
    schema = colander.Schema()
    email = colander.Email(msg="Invalid email address.")
    schema.add(text_field("email_addr", "Email is required", email))
    return schema


def new_password_schema(settings) -> colander.Schema:
    """New password twice; `current_password` is in the form only for PYBOSSA's JSON keys."""
    schema = colander.Schema(validator=passwords_match("new_password"))
    schema.add(text_field("current_password"))
    schema.add(
        text_field("new_password", "Password cannot be empty", password_validator(settings))
    )
    schema.add(text_field("confirm", "Please confirm your password"))
    return schema


def _settings(request):
    return request.registry.settings


def send_reset(request, user: User) -> None:
    """Mail the account a link to choose a new password."""
    settings = _settings(request)
    token = make_link_token(settings["session.secret"], "reset", user)
    url = mail_link(request, "account_reset_password", _query={"key": token})
    hours = settings["account.link_expiration"] // 3600
    text = (
        f"Hello {user.fullname},\n\nTo choose a new password, follow this link (valid {hours} "
        f"hours):\n\n{url}\n\nIf you did not ask for it, ignore this mail: your password stays "
        "as it is.\n"
    )
    values = {"user": user, "url": url, "hours": hours, "text": text}
    send_mail(request, user.email_addr, "Reset your password", "account/mail_reset.html", values)


@view_config(route_name="account_forgot_password", request_method=("GET", "POST"), renderer="page")
def forgot_password(request):
    form = Form(forgot_schema())
    if request.method == "POST":
        data = form_data(request)
        require_csrf(request, data)
        limit_attempt(request, "forgot_password", data.get("email_addr"))
        form = Form(forgot_schema(), data)
        values = form.valid()
        user = None if values is None else user_by_email(request.dbsession, values["email_addr"])
        if values is None:
            flash(request, FORM_ERRORS, "error")
        elif user is None:
            flash(request, UNKNOWN, "error")
        elif not user.passwd_hash:
            flash(request, NO_PASSWORD, "info")
        else:
            send_reset(request, user)
            flash(request, SENT, "success")
    return {
        "form": form,
        "title": "Forgot your password?",
        "template": "account/password_forgot.html",
    }


def _reset_target(request) -> User:
    settings = _settings(request)
    found = read_link_token(
        request.dbsession,
        settings["session.secret"],
        "reset",
        request.GET.get("key"),
        settings["account.link_expiration"],
    )
    if found is None:
        raise HTTPForbidden(detail="This link is invalid or has expired.")
    return found[0]


@view_config(route_name="account_reset_password", request_method=("GET", "POST"), renderer="page")
def reset_password(request):
    data = form_data(request) if request.method == "POST" else None
    if data is not None:
        require_csrf(request, data)
        # The key is the credential here (unguessable); the address is what is counted.
        limit_attempt(request, "reset_password")
    user = _reset_target(request)
    form = PasswordForm(new_password_schema(request.registry.settings), data)
    if data is not None:
        values = form.valid()
        if values is not None:
            set_password(user, values["new_password"])
            if is_pending(user):
                # The link reached the account's address: that proves it as well.
                confirm_email(user, user.email_addr)
            sign_in(request, user)
            return redirect(request, "/", "You reset your password successfully!", "success")
        flash(request, CORRECT_ERRORS, "error")
    return {
        "form": form,
        "key": request.GET.get("key"),
        "title": "Reset your password",
        "template": "account/password_reset.html",
    }


@view_config(route_name="account_confirm_email", request_method="GET")
def confirm_email_request(request):
    """Mail the signed-in account a link confirming its address (a GET with ?csrf=)."""
    if not _settings(request)["account.confirm_email"]:
        raise HTTPNotFound()
    require_signed_in(request)
    require_csrf(request)
    user = request.user
    if user.valid_email:
        return redirect(request, account_url(user), "Your e-mail is already confirmed.", "info")
    send_confirmation(request, user, user.email_addr)
    message = "An e-mail has been sent to validate your e-mail address."
    return redirect(request, account_url(user), message, "info")


@view_config(route_name="account_confirmation", request_method="GET")
def confirmation(request):
    """The link of a confirmation mail: the address becomes the account's, proven."""
    settings = _settings(request)
    found = read_link_token(
        request.dbsession,
        settings["session.secret"],
        "confirm",
        request.GET.get("key"),
        settings["account.link_expiration"],
    )
    if found is None or not isinstance(found[1].get("e"), str):
        raise HTTPForbidden(detail="This link is invalid or has expired.")
    user, payload = found
    if taken(request.dbsession, User.email_addr, payload["e"], user.id):
        return redirect(request, "/", "The e-mail is already taken", "error")
    registering = is_pending(user)
    confirm_email(user, payload["e"])
    if registering:
        sign_in(request, user)
        return redirect(request, "/", "Thanks for signing-up", "success")
    return redirect(request, account_url(user), "Your e-mail has been confirmed.", "success")
