"""OAuth sign-in's account side: identities, linked accounts and the tokens kept for /api/token.

A provider plugin only speaks its protocol (core/hookspecs.py, `crowdnest_auth_providers`) and
returns an `Identity` or raises `SignInError`; this module finds or creates the account and
keeps the provider's token, encrypted, in user.info. The routes are in core/web/oauth.py.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.models import User
from core.schemas.user import RESERVED_NAMES, taken
from core.services.account import create_account, is_pending, user_by_email

NAME_MAX = 35


@dataclass
class Identity:
    """Who the provider says signed in; `token` is kept for /api/token."""

    provider_user_id: str
    name: str = ""
    fullname: str = ""
    email: str = ""
    email_verified: bool = False
    token: dict = field(default_factory=dict)


class SignInError(Exception):
    """A provider refused or failed the sign-in; the message is shown to the visitor."""


# --- the enabled providers -------------------------------------------------------------------


def collect_providers(manager, enabled: list[str]) -> dict:
    """{name: provider} of the enabled plugins, in the order plugins.auth_providers lists them."""
    found = {}
    for provided in manager.hook.crowdnest_auth_providers():
        found.update(provided or {})
    order = {name: index for index, name in enumerate(enabled)}
    return dict(sorted(found.items(), key=lambda item: order.get(item[0], len(order))))


def enabled_providers(registry) -> dict:
    return registry.get("auth_providers", {})


# --- kept tokens and provider links in user.info ----------------------------------------------


def _fernet(secret: str) -> Fernet:
    key = hmac.new(secret.encode(), b"crowdnest oauth tokens", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _link_signature(secret: str, user_id: int, provider: str, provider_user_id: str) -> str:
    # user.info is writable by its owner (PUT /api/user): an unsigned link would let anyone
    # claim another person's provider account.
    message = f"{user_id}|{provider}|{provider_user_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def link_account(secret: str, user: User, provider: str, identity: Identity) -> None:
    """Record in user.info that `identity` signs in as `user`, with its token encrypted."""
    info = dict(user.info or {})
    links = dict(info.get("oauth") or {})
    links[provider] = {
        "id": identity.provider_user_id,
        "sig": _link_signature(secret, user.id, provider, identity.provider_user_id),
        "token": _fernet(secret).encrypt(json.dumps(identity.token).encode()).decode(),
    }
    info["oauth"] = links
    user.info = info


def _link(user: User, provider: str) -> dict:
    links = (user.info or {}).get("oauth")
    link = links.get(provider) if isinstance(links, dict) else None
    return link if isinstance(link, dict) else {}


def kept_token(secret: str, user: User, provider: str) -> dict | None:
    """The token `provider` gave `user` at their last sign-in, or None."""
    sealed = _link(user, provider).get("token")
    if not isinstance(sealed, str):
        return None
    try:
        token = json.loads(_fernet(secret).decrypt(sealed.encode()))
    except (InvalidToken, ValueError):
        # Sealed under an older session secret, or edited by hand.
        return None
    return token if isinstance(token, dict) else None


def user_by_provider(db, secret: str, provider: str, provider_user_id: str) -> User | None:
    """The account linked to this provider identity (only links this server signed)."""
    column = User.info["oauth"][provider]["id"].as_string()
    for user in db.scalars(select(User).where(column == provider_user_id).order_by(User.id)):
        expected = _link_signature(secret, user.id, provider, provider_user_id)
        if hmac.compare_digest(str(_link(user, provider).get("sig", "")), expected):
            return user
    return None


def _name_candidates(identity: Identity, provider: str):
    base = re.sub(r"[^A-Za-z0-9_.-]+", "", identity.name or "")
    if not base and identity.email:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "", identity.email.split("@")[0])
    base = base[:NAME_MAX]
    if len(base) < 3 or base.lower() in RESERVED_NAMES:
        base = f"{provider}-user"
    yield base
    for number in range(2, 100):
        suffix = f"-{number}"
        yield base[: NAME_MAX - len(suffix)] + suffix
    while True:
        yield f"{provider}-{secrets.token_hex(6)}"


def create_account_for(db, provider: str, identity: Identity) -> User:
    """A new account for `identity`, with a free name and no password (the first is admin)."""
    email = identity.email if identity.email and identity.email_verified else ""
    if not email or taken(db, User.email_addr, email):
        # The address column is required and unique; the owner can set a real one later.
        email = f"{provider}-{identity.provider_user_id}@users.invalid"
    fullname = (identity.fullname or identity.name or "").strip()[:NAME_MAX]
    for name in _name_candidates(identity, provider):
        if taken(db, User.name, name):
            continue
        values = {
            "fullname": fullname if len(fullname) >= 3 else name,
            "name": name,
            "email_addr": email,
            "password": secrets.token_urlsafe(32),
            "consent": False,
        }
        try:
            user = create_account(db, values)
        except IntegrityError:
            # Taken by a concurrent sign-up between the check and the insert: try the next.
            continue
        user.passwd_hash = None
        user.valid_email = email == identity.email
        return user
    raise SignInError("No free user name was found")  # pragma: no cover - the loop never ends


def create_linked_account(db, secret: str, provider: str, identity: Identity) -> User:
    user = create_account_for(db, provider, identity)
    link_account(secret, user, provider, identity)
    return user


def find_or_create_account(
    db, secret: str, provider: str, identity: Identity, current: User | None = None
) -> User:
    """The linked account, else the signed-in one (`current`), else the account with the same
    verified address, else a new one."""
    user = user_by_provider(db, secret, provider, identity.provider_user_id) or current
    if user is None and identity.email and identity.email_verified:
        user = user_by_email(db, identity.email)
        if user is not None and (not user.valid_email or is_pending(user)):
            # Whoever registered this address never proved it: merging would hand the
            # provider's user an account whose password someone else may know.
            raise SignInError(
                f"An account already uses {identity.email}. Sign in with its password, then "
                "sign in with this provider again to link the two."
            )
    if user is None:
        return create_linked_account(db, secret, provider, identity)
    link_account(secret, user, provider, identity)
    return user
