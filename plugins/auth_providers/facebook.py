"""Sign in with Facebook (OAuth 2 and the Graph API's /me)."""

from core.hookspecs import hookimpl
from core.services.oauth import Identity, SignInError
from plugins.auth_providers.oauth import OAuth2Provider, text


class FacebookProvider(OAuth2Provider):
    name = "facebook"
    title = "Facebook"
    scope = "email public_profile"
    endpoints = {
        "authorize_url": "https://www.facebook.com/v19.0/dialog/oauth",
        "token_url": "https://graph.facebook.com/v19.0/oauth/access_token",
        "userinfo_url": "https://graph.facebook.com/v19.0/me?fields=id,name,email",
    }

    def identity(self, session, settings, profile: dict) -> Identity:
        user_id = text(profile.get("id"))
        if not user_id:
            raise SignInError("Facebook did not say who you are")
        fullname = text(profile.get("name"))
        email = text(profile.get("email"))
        return Identity(
            provider_user_id=user_id,
            name=fullname.replace(" ", ".") or email.split("@")[0],
            fullname=fullname,
            email=email,
            # Facebook only shares addresses its users have confirmed.
            email_verified=bool(email),
        )


@hookimpl
def crowdnest_settings():
    return FacebookProvider().declared_settings()


@hookimpl
def crowdnest_auth_providers():
    return {"facebook": FacebookProvider()}
