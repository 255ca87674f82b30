"""GET /api/token[/<provider>]: the caller's own tokens from the sign-in providers (decision 2).

Each answer is {"<provider>_token": {"oauth_token": ..., "oauth_token_secret"?: ...}}, read
from what the provider gave at the caller's last sign-in with it; nobody sees another's tokens.
"""

from cornice import Service

from core.errors import DomainError
from core.services.oauth import enabled_providers, kept_token

tokens = Service(name="oauth_tokens", path="/api/token", cors_origins=("*",))
provider_token = Service(
    name="oauth_provider_token", path="/api/token/{provider}", cors_origins=("*",)
)


def _caller(request):
    request.api_target = "token"
    if request.user is None:
        raise DomainError("Unauthorized")
    return request.user


@tokens.get()
def get_tokens(request):
    """Every token the caller holds from an enabled provider ({} when none)."""
    user = _caller(request)
    secret = request.registry.settings["session.secret"]
    found = {}
    for name in enabled_providers(request.registry):
        token = kept_token(secret, user, name)
        if token is not None:
            found[f"{name}_token"] = token
    return found


@provider_token.get()
def get_provider_token(request):
    """The caller's token from one enabled provider; 404 when it is unknown or there is none."""
    user = _caller(request)
    name = request.matchdict["provider"]
    token = None
    if name in enabled_providers(request.registry):
        token = kept_token(request.registry.settings["session.secret"], user, name)
    if token is None:
        raise DomainError("NotFound")
    return {f"{name}_token": token}
