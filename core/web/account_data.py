"""An account's own data: `/account/<name>/export` (mailed zip) and `/account/<name>/delete`.

Both are for the account itself or an admin (others 403), both queue a job
(core.services.account_data) and say so at once. Deleting needs the caller's current password
(decision 16): a script riding the session cannot delete the account.
"""

import logging
import uuid

import colander
from pyramid.security import forget
from pyramid.view import view_config

from core import jobs
from core.credentials import limit_attempt
from core.errors import DomainError
from core.services import account as accounts
from core.services.account_data import (
    STILL_OWNER,
    delete_account_job,
    export_account_job,
    primary_projects,
)
from core.web.account import load_account
from core.web.account_update import CURRENT_PASSWORD_ERRORS
from core.web.forms import Form, text
from core.web.render import flash, form_data, redirect, require_csrf

log = logging.getLogger(__name__)

EXPORT_QUEUED = "We are preparing your data: it will be sent to your e-mail address shortly."
DELETE_QUEUED = "The account is being deleted: a last e-mail will confirm it."


class DeleteForm(Form):
    secret = ("current_password",)


def delete_schema() -> colander.Schema:
    schema = colander.Schema()
    schema.add(text("current_password", "You must give your current password"))
    return schema


def _account(user) -> dict:
    return {"name": user.name, "fullname": user.fullname}


@view_config(route_name="account_export", request_method=("GET", "POST"), renderer="page")
def export(request):
    """GET: what the export holds; POST: queue it, to be mailed to the account's address."""
    user = load_account(request, "self")
    if request.method == "POST":
        require_csrf(request, form_data(request))
        jobs.enqueue(request, export_account_job, user.id)
        log.info("personal data export of account %s asked by %s", user.id, request.user.id)
        return redirect(request, f"/account/{user.name}/", EXPORT_QUEUED, "success")
    return {
        "user": _account(user),
        "form": Form(colander.Schema()),
        "title": "Export your data",
        "template": "account/export.html",
    }


@view_config(route_name="account_delete", request_method=("GET", "POST"), renderer="page")
def delete(request):
    """GET: the confirmation form; POST with the current password: queue the deletion."""
    user = load_account(request, "self")
    form = DeleteForm(delete_schema())
    blocking = primary_projects(request.dbsession, user)
    if request.method == "POST":
        data = form_data(request)
        require_csrf(request, data)
        form = DeleteForm(delete_schema(), data)
        values = form.valid()
        if values is not None and blocking:
            form.add_error("form", STILL_OWNER)
        elif values is not None and _password_checked(request, form, values):
            return _queue_deletion(request, user)
        flash(request, "Please correct the errors", "error")
    return {
        "user": _account(user),
        "form": form,
        "projects_owned": blocking,
        "title": "Delete your account",
        "template": "account/delete.html",
    }


def _password_checked(request, form: Form, values: dict) -> bool:
    limit_attempt(request, "current_password", request.user.id)
    try:
        accounts.check_current_password(request.user, values["current_password"])
    except DomainError as error:
        message = CURRENT_PASSWORD_ERRORS.get(error.message, error.message)
        form.add_error("current_password", message)
        return False
    return True


def _queue_deletion(request, user):
    # Until the job runs, nothing the account held still opens it: its sessions end and its
    # API key is replaced now, whatever the queue's delay.
    accounts.end_sessions(user)
    user.api_key = str(uuid.uuid4())
    jobs.enqueue(request, delete_account_job, user.id)
    log.info("deletion of account %s asked by %s", user.id, request.user.id)
    if request.user.id == user.id:
        forget(request)
        return redirect(request, "/", DELETE_QUEUED, "success")
    return redirect(request, "/admin/users", DELETE_QUEUED, "success")
