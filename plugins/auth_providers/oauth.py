"""What the built-in providers share: settings, the OAuth 2 code flow, the OAuth 1.0a flow.

A provider reads `auth_provider.<name>.client_id` and `client_secret`, and may have any of its
endpoint URLs replaced by `auth_provider.<name>.<endpoint>` (a test's fake provider, a proxy);
its plugin declares them all (crowdnest_settings: `declared_settings`), so each can also come
from its CROWDNEST_* variable.
"""

from urllib.parse import urlencode

from authlib.integrations.requests_client import OAuth1Session, OAuth2Session

from core.services.oauth import Identity, SignInError

# Seconds to wait for the provider, per request.
TIMEOUT = 10


def json_object(response, what: str, title: str) -> dict:
    """The response's JSON object, or a SignInError naming what was expected."""
    if response.status_code != 200:
        raise SignInError(f"{title} refused to give {what} (HTTP {response.status_code})")
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise SignInError(f"{title} answered something that is not {what}")
    return data


class Provider:
    """Settings and endpoints of one provider; subclasses set the class attributes."""

    name = ""
    title = ""
    # endpoint name -> default URL; each can be replaced by a setting of the same name.
    endpoints: dict[str, str] = {}

    def declared_settings(self) -> dict:
        """The provider's settings as its plugin's crowdnest_settings gives them."""
        keys = {"client_id": "", "client_secret": "", **self.endpoints}
        return {f"auth_provider.{self.name}.{key}": (value, str) for key, value in keys.items()}

    def setting(self, settings, key: str) -> str:
        """The setting's value; an endpoint left empty in the .ini keeps its default URL."""
        value = settings.get(f"auth_provider.{self.name}.{key}")
        return str(value) if value else self.endpoints.get(key, "")

    def credentials(self, settings) -> tuple[str, str]:
        return self.setting(settings, "client_id"), self.setting(settings, "client_secret")


class OAuth2Provider(Provider):
    """The authorization code flow; subclasses turn the profile into an Identity."""

    scope = ""

    def session(self, settings, callback_url: str) -> OAuth2Session:
        client_id, client_secret = self.credentials(settings)
        return OAuth2Session(
            client_id,
            client_secret,
            scope=self.scope,
            redirect_uri=callback_url,
            token_endpoint_auth_method="client_secret_post",
            default_timeout=TIMEOUT,
        )

    def authorize_url(self, settings, callback_url: str, state: str) -> tuple[str, dict]:
        session = self.session(settings, callback_url)
        url, _ = session.create_authorization_url(
            self.setting(settings, "authorize_url"), state=state
        )
        return url, {}

    def fetch_identity(self, settings, callback_url: str, params: dict, pending: dict):
        if params.get("error"):
            raise SignInError(f"You did not allow {self.title} to sign you in")
        code = params.get("code")
        if not code:
            raise SignInError(f"{self.title} sent no authorization code")
        session = self.session(settings, callback_url)
        token = session.fetch_token(self.setting(settings, "token_url"), code=code)
        if not token.get("access_token"):
            raise SignInError(f"{self.title} gave no access token")
        profile = json_object(
            session.get(self.setting(settings, "userinfo_url")), "a profile", self.title
        )
        identity = self.identity(session, settings, profile)
        identity.token = {"oauth_token": token["access_token"]}
        return identity

    def identity(self, session, settings, profile: dict) -> Identity:
        """The Identity a profile describes; `session` may fetch more (it holds the token)."""
        raise NotImplementedError


class OAuth1Provider(Provider):
    """OAuth 1.0a: a request token, the user's authorization, an access token."""

    def authorize_url(self, settings, callback_url: str, state: str) -> tuple[str, dict]:
        client_id, client_secret = self.credentials(settings)
        # OAuth 1 has no `state`: it rides on the callback URL, which the provider keeps.
        callback = f"{callback_url}?{urlencode({'state': state})}"
        session = OAuth1Session(client_id, client_secret, redirect_uri=callback)
        request_token = session.fetch_request_token(
            self.setting(settings, "request_token_url"), timeout=TIMEOUT
        )
        if not request_token.get("oauth_token") or not request_token.get("oauth_token_secret"):
            raise SignInError(f"{self.title} gave no request token")
        url = session.create_authorization_url(self.setting(settings, "authorize_url"))
        pending = {
            "oauth_token": request_token["oauth_token"],
            "oauth_token_secret": request_token["oauth_token_secret"],
        }
        return url, pending

    def fetch_identity(self, settings, callback_url: str, params: dict, pending: dict):
        if params.get("denied"):
            raise SignInError(f"You did not allow {self.title} to sign you in")
        verifier = params.get("oauth_verifier")
        if not verifier or params.get("oauth_token") != pending.get("oauth_token"):
            raise SignInError(f"{self.title} sent back a different sign-in than this one")
        client_id, client_secret = self.credentials(settings)
        session = OAuth1Session(
            client_id,
            client_secret,
            token=pending["oauth_token"],
            token_secret=pending.get("oauth_token_secret"),
        )
        access = session.fetch_access_token(
            self.setting(settings, "access_token_url"), verifier=verifier, timeout=TIMEOUT
        )
        if not access.get("oauth_token") or not access.get("oauth_token_secret"):
            raise SignInError(f"{self.title} gave no access token")
        profile = json_object(
            session.get(self.setting(settings, "userinfo_url"), timeout=TIMEOUT),
            "a profile",
            self.title,
        )
        identity = self.identity(session, settings, profile)
        identity.token = {
            "oauth_token": access["oauth_token"],
            "oauth_token_secret": access["oauth_token_secret"],
        }
        return identity

    def identity(self, session, settings, profile: dict) -> Identity:
        raise NotImplementedError


def text(value) -> str:
    """A profile field as text ('' for missing or non-text values)."""
    if isinstance(value, bool) or value is None:
        return ""
    return str(value) if isinstance(value, (str, int)) else ""
