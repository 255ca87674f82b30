"""Sign in with GitHub (OAuth 2): the login is the user name, the verified primary address
comes from /user/emails."""

from core.hookspecs import hookimpl
from core.services.oauth import Identity, SignInError
from plugins.auth_providers.oauth import OAuth2Provider, text


class GitHubProvider(OAuth2Provider):
    name = "github"
    title = "GitHub"
    scope = "read:user user:email"
    endpoints = {
        "authorize_url": "https://github.com/login/oauth/authorize",
        "token_url": "https://github.com/login/oauth/access_token",
        "userinfo_url": "https://api.github.com/user",
        "emails_url": "https://api.github.com/user/emails",
    }

    def identity(self, session, settings, profile: dict) -> Identity:
        user_id = text(profile.get("id"))
        if not user_id:
            raise SignInError("GitHub did not say who you are")
        email = ""
        response = session.get(self.setting(settings, "emails_url"))
        emails = response.json() if response.status_code == 200 else []
        for entry in emails if isinstance(emails, list) else []:
            if isinstance(entry, dict) and entry.get("primary") and entry.get("verified"):
                email = text(entry.get("email"))
        return Identity(
            provider_user_id=user_id,
            name=text(profile.get("login")),
            fullname=text(profile.get("name")),
            email=email,
            email_verified=bool(email),
        )


@hookimpl
def crowdnest_settings():
    return GitHubProvider().declared_settings()


@hookimpl
def crowdnest_auth_providers():
    return {"github": GitHubProvider()}
