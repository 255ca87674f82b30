"""Credential attempts are counted per address and per account before any password is hashed.

Sign-in (password or LDAP), a project's password page, forgotten and reset passwords,
registration and the current-password check of account changes (decision 21): each attempt
counts once for the caller's address and once for the account it names (an e-mail address, a
login, a project, the caller). Past `ratelimit.credentials.limit` attempts for the account, or
`ratelimit.credentials.address_limit` from the address, within `ratelimit.credentials.period`
seconds, the answer is a 429 with `Retry-After`, and no password is hashed or checked: the
limit is also a brake on the CPU argon2 costs. The counters are core.ratelimit's (process
memory, or Redis shared by every worker), one window per endpoint.
"""

import hashlib
import time

from pyramid.httpexceptions import HTTPTooManyRequests

from core.errors import ApiError, is_api_request
from core.ratelimit import RateLimiter

TOO_MANY = "Too many attempts. Please wait before trying again."


def _account_client(account) -> str:
    # Keys name a digest, not the e-mail address or login itself.
    digest = hashlib.sha256(str(account).strip().lower().encode()).hexdigest()[:24]
    return f"account:{digest}"


def limit_attempt(request, endpoint: str, account=None) -> None:
    """Count one credential attempt at `endpoint` for `account`; raise a 429 when over."""
    settings = request.registry.settings
    counter = request.registry["ratelimiter"].counter
    period = settings["ratelimit.credentials.period"]
    address_limit = settings["ratelimit.credentials.address_limit"]
    clients = [(f"ip:{request.client_ip}", address_limit)]
    if account is not None and account != "":
        clients.append((_account_client(account), settings["ratelimit.credentials.limit"]))
    refused_until = 0
    for client, limit in clients:
        limiter = RateLimiter(counter, limit, period)
        allowed, _remaining, reset = limiter.hit(f"credentials:{endpoint}", client)
        if not allowed:
            refused_until = max(refused_until, reset)
    if not refused_until:
        return
    headers = {"Retry-After": str(max(1, refused_until - int(time.time())))}
    if is_api_request(request):
        raise ApiError("TooManyRequests", TOO_MANY, headers=headers)
    raise HTTPTooManyRequests(detail=TOO_MANY, headers=headers)
