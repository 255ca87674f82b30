"""Sign in with Twitter (OAuth 1.0a; verify_credentials gives the profile)."""

from core.hookspecs import hookimpl
from core.services.oauth import Identity, SignInError
from plugins.auth_providers.oauth import OAuth1Provider, text


class TwitterProvider(OAuth1Provider):
    name = "twitter"
    title = "Twitter"
    endpoints = {
        "request_token_url": "https://api.twitter.com/oauth/request_token",
        "authorize_url": "https://api.twitter.com/oauth/authenticate",
        "access_token_url": "https://api.twitter.com/oauth/access_token",
        "userinfo_url": (
            "https://api.twitter.com/1.1/account/verify_credentials.json?include_email=true"
        ),
    }

    def identity(self, session, settings, profile: dict) -> Identity:
        user_id = text(profile.get("id_str") or profile.get("id"))
        if not user_id:
            raise SignInError("Twitter did not say who you are")
        email = text(profile.get("email"))
        return Identity(
            provider_user_id=user_id,
            name=text(profile.get("screen_name")),
            fullname=text(profile.get("name")),
            email=email,
            # Twitter only shares addresses its users have verified.
            email_verified=bool(email),
        )


@hookimpl
def crowdnest_settings():
    return TwitterProvider().declared_settings()


@hookimpl
def crowdnest_auth_providers():
    return {"twitter": TwitterProvider()}
