"""Sign in with Google (OAuth 2 with OpenID Connect's userinfo endpoint)."""

from core.hookspecs import hookimpl
from core.services.oauth import Identity, SignInError
from plugins.auth_providers.oauth import OAuth2Provider, text


class GoogleProvider(OAuth2Provider):
    name = "google"
    title = "Google"
    scope = "openid email profile"
    endpoints = {
        "authorize_url": "https://accounts.google.com/o/oauth2/v2/auth",
        "token_url": "https://oauth2.googleapis.com/token",
        "userinfo_url": "https://openidconnect.googleapis.com/v1/userinfo",
    }

    def identity(self, session, settings, profile: dict) -> Identity:
        user_id = text(profile.get("sub"))
        if not user_id:
            raise SignInError("Google did not say who you are")
        email = text(profile.get("email"))
        return Identity(
            provider_user_id=user_id,
            name=email.split("@")[0] or text(profile.get("given_name")),
            fullname=text(profile.get("name")),
            email=email,
            email_verified=profile.get("email_verified") is True,
        )


@hookimpl
def crowdnest_settings():
    return GoogleProvider().declared_settings()


@hookimpl
def crowdnest_auth_providers():
    return {"google": GoogleProvider()}
