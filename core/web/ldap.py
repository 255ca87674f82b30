"""LDAP sign-in (behind `ldap.enabled`): a login and password checked by binding to the directory.

The account is found by its `ldap` column (the directory login) or created on the first
sign-in, with no password here; the directory stays the only judge of the password.
"""

import logging

import colander
from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config
from sqlalchemy import select

from core.credentials import limit_attempt
from core.models import User
from core.services.oauth import Identity, create_account_for
from core.web import add_routes
from core.web.account import safe_next, sign_in
from core.web.forms import Form
from core.web.forms import text as text_field
from core.web.render import flash, form_data, redirect, require_csrf

log = logging.getLogger(__name__)

ROUTES = {"ldap_signin": "/account/signin/ldap"}
REFUSED = "Ooops, incorrect login or password"


class DirectoryError(Exception):
    """The directory could not be reached or searched."""


def ldap_schema() -> colander.Schema:
    schema = colander.Schema()
    schema.add(text_field("username", "The login is required", colander.Length(max=256)))
    schema.add(text_field("password", "You must provide a password"))
    return schema


def _first(entry, attribute: str) -> str:
    if not attribute or attribute not in entry.entry_attributes:
        return ""
    values = entry[attribute].values
    return str(values[0]) if values else ""


def authenticate(settings, server, username: str, password: str) -> Identity | None:
    """The directory's Identity for this login and password, or None when it refuses them."""
    import ldap3
    from ldap3.core.exceptions import LDAPException
    from ldap3.utils.conv import escape_filter_chars

    if not password:
        # An empty password is an anonymous bind, which many servers accept.
        return None
    strategy = getattr(ldap3, settings["ldap.client_strategy"])
    search_filter = settings["ldap.user_filter"].format(username=escape_filter_chars(username))
    attributes = [
        settings[key]
        for key in ("ldap.name_attribute", "ldap.fullname_attribute", "ldap.email_attribute")
        if settings[key]
    ]
    try:
        searcher = ldap3.Connection(
            server,
            user=settings["ldap.bind_dn"] or None,
            password=settings["ldap.bind_password"] or None,
            client_strategy=strategy,
            receive_timeout=settings["ldap.timeout"],
        )
        if not searcher.bind():
            raise DirectoryError("the search account was refused")
        searcher.search(settings["ldap.base_dn"], search_filter, attributes=attributes)
        entries = list(searcher.entries)
        searcher.unbind()
        if len(entries) != 1:
            return None
        entry = entries[0]
        checker = ldap3.Connection(
            server,
            user=entry.entry_dn,
            password=password,
            client_strategy=strategy,
            receive_timeout=settings["ldap.timeout"],
        )
        if not checker.bind():
            return None
        checker.unbind()
    except LDAPException as error:
        raise DirectoryError(str(error)) from error
    login = _first(entry, settings["ldap.name_attribute"]) or username
    return Identity(
        provider_user_id=login,
        name=login,
        fullname=_first(entry, settings["ldap.fullname_attribute"]),
        email=_first(entry, settings["ldap.email_attribute"]),
        email_verified=True,
    )


def find_or_create_ldap_account(db, identity: Identity) -> User:
    user = db.scalars(select(User).where(User.ldap == identity.provider_user_id)).first()
    if user is None:
        user = create_account_for(db, "ldap", identity)
        user.ldap = identity.provider_user_id
    return user


@view_config(route_name="ldap_signin", request_method=("GET", "POST"), renderer="page")
def ldap_signin(request):
    settings = request.registry.settings
    if not settings["ldap.enabled"]:
        raise HTTPNotFound()
    next_url = safe_next(request.GET.get("next"))
    form = Form(ldap_schema())
    if request.method == "POST":
        data = form_data(request)
        require_csrf(request, data)
        limit_attempt(request, "ldap_signin", data.get("username"))
        form = Form(ldap_schema(), data)
        values = form.valid()
        if values is None:
            flash(request, "Please correct the errors", "error")
        else:
            try:
                identity = authenticate(
                    settings,
                    request.registry["ldap_server"],
                    values["username"],
                    values["password"],
                )
            except DirectoryError as error:
                log.warning("LDAP sign-in failed: %s", error)
                identity = None
                flash(request, "The directory is unavailable. Please try again later.", "error")
            else:
                if identity is None:
                    flash(request, REFUSED, "error")
            if identity is not None:
                user = find_or_create_ldap_account(request.dbsession, identity)
                request.dbsession.flush()
                sign_in(request, user)
                return redirect(request, next_url, f"Welcome {user.fullname}", "success")
    return {
        "form": form,
        "next": next_url,
        "title": settings["ldap.title"],
        "template": "oauth/ldap.html",
    }


def includeme(config):
    settings = config.get_settings()
    if settings["ldap.enabled"]:
        # core.main refused to start without it (core.plugins.require_extras).
        import ldap3

        config.registry["ldap_server"] = ldap3.Server(
            settings["ldap.host"], get_info=ldap3.NONE, connect_timeout=settings["ldap.timeout"]
        )
    add_routes(config, ROUTES)
    config.scan(__name__)
