"""GET /api/disqus/sso: Disqus single sign-on parameters for the caller (decision 2)."""

import base64
import hashlib
import hmac
import json
import time

from cornice import Service

from core.errors import ApiError

disqus_sso = Service(name="disqus_sso", path="/api/disqus/sso", cors_origins=("*",))


def remote_auth(user, secret_key: str, now: int) -> str:
    """`<base64 JSON> <HMAC-SHA1 hex> <timestamp>`, signed as Disqus specifies."""
    identity = {"id": user.id, "username": user.name, "email": user.email_addr} if user else {}
    message = base64.b64encode(json.dumps(identity).encode()).decode()
    signature = hmac.new(secret_key.encode(), f"{message} {now}".encode(), hashlib.sha1)
    return f"{message} {signature.hexdigest()} {now}"


@disqus_sso.get()
def get_disqus_sso(request):
    """The signed-in user's signed identity ({} when anonymous) and the public key."""
    settings = request.registry.settings
    public_key, secret_key = settings["disqus.public_key"], settings["disqus.secret_key"]
    if not public_key or not secret_key:
        raise ApiError(
            "MethodNotAllowed", "Disqus keys are missing", target="DISQUS_SSO", action="GET"
        )
    return {
        "remote_auth_s3": remote_auth(request.user, secret_key, int(time.time())),
        "api_key": public_key,
    }
