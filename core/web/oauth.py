"""Sign-in through the auth-provider plugins: the routes and the sign-in buttons.

The account side (identities, linked accounts, kept tokens) is core/services/oauth.py; this
module owns the `state` kept in the session and signing the account in.
"""

import hmac
import logging
import secrets

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from core.services.oauth import (
    Identity,
    SignInError,
    collect_providers,
    enabled_providers,
    find_or_create_account,
)
from core.web import add_routes
from core.web.account import safe_next, sign_in
from core.web.render import redirect

log = logging.getLogger(__name__)

ROUTES = {
    "oauth_signin": "/account/signin/{provider}",
    "oauth_callback": "/account/signin/{provider}/callback",
}
# Session key of the sign-in under way: provider, state, next page, the provider's pending data.
SESSION_KEY = "oauth.pending"


def signin_buttons(request) -> list[dict]:
    """The sign-in page's provider buttons: name, title and the URL that starts the sign-in."""
    next_url = safe_next(request.GET.get("next"))
    query = {"next": next_url} if next_url != "/" else {}
    buttons = [
        {
            "name": name,
            "title": provider.title,
            "url": request.route_path("oauth_signin", provider=name, _query=query),
        }
        for name, provider in enabled_providers(request.registry).items()
    ]
    settings = request.registry.settings
    if settings["ldap.enabled"]:
        url = request.route_path("ldap_signin", _query=query)
        buttons.append({"name": "ldap", "title": settings["ldap.title"], "url": url})
    return buttons


# --- the routes ---------------------------------------------------------------------------------


def _provider(request):
    name = request.matchdict["provider"]
    provider = enabled_providers(request.registry).get(name)
    if provider is None:
        raise HTTPNotFound()
    return name, provider


def _back_to_signin(request, next_url: str, message: str):
    query = {"next": next_url} if next_url != "/" else {}
    return redirect(request, request.route_path("account_signin", _query=query), message, "error")


@view_config(route_name="oauth_signin", request_method="GET")
def oauth_signin(request):
    """Send the browser to the provider, remembering a fresh `state` in the session."""
    name, provider = _provider(request)
    next_url = safe_next(request.GET.get("next"))
    settings = request.registry.settings
    state = secrets.token_urlsafe(24)
    callback_url = request.route_url("oauth_callback", provider=name)
    try:
        url, pending = provider.authorize_url(settings, callback_url, state)
    except Exception as error:
        log.warning("sign-in with %s could not start: %r", name, error)
        message = error if isinstance(error, SignInError) else f"{provider.title} is unavailable"
        return _back_to_signin(request, next_url, f"{message}. Please try again later.")
    request.session[SESSION_KEY] = {
        "provider": name,
        "state": state,
        "next": next_url,
        "pending": pending or {},
    }
    return redirect(request, url)


@view_config(route_name="oauth_callback", request_method="GET")
def oauth_callback(request):
    """The provider sends the browser back: check `state`, identify, sign in."""
    name, provider = _provider(request)
    started = request.session.pop(SESSION_KEY, None) or {}
    next_url = safe_next(started.get("next"))
    state = request.GET.get("state")
    if (
        started.get("provider") != name
        or not isinstance(state, str)
        or not hmac.compare_digest(state.encode(), str(started.get("state", "")).encode())
    ):
        return _back_to_signin(
            request,
            next_url,
            f"The sign-in with {provider.title} expired or was not started "
            "here. Please try again.",
        )
    settings = request.registry.settings
    callback_url = request.route_url("oauth_callback", provider=name)
    params = dict(request.GET)
    try:
        identity = provider.fetch_identity(
            settings, callback_url, params, started.get("pending") or {}
        )
        if not isinstance(identity, Identity) or not identity.provider_user_id:
            raise SignInError(f"{provider.title} did not say who you are")
    except SignInError as error:
        return _back_to_signin(request, next_url, str(error))
    except Exception as error:
        # Down, timing out, or answering something that is not its protocol.
        log.warning("sign-in with %s failed: %r", name, error)
        return _back_to_signin(
            request, next_url, f"{provider.title} did not answer as expected. Please try again."
        )
    secret = settings["session.secret"]
    try:
        user = find_or_create_account(request.dbsession, secret, name, identity, request.user)
    except SignInError as error:
        return _back_to_signin(request, next_url, str(error))
    request.dbsession.flush()
    sign_in(request, user)
    return redirect(request, next_url, f"Welcome {user.fullname}", "success")


def includeme(config):
    settings = config.get_settings()
    config.registry["auth_providers"] = collect_providers(
        config.registry["plugins"], settings["plugins.auth_providers"]
    )
    # Before the provider routes: /account/signin/ldap is LDAP's form, not a provider.
    config.include("core.web.ldap")
    add_routes(config, ROUTES)
    config.add_request_method(signin_buttons, "signin_providers", reify=True)
    config.scan(__name__)
