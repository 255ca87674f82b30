"""Accounts: creation (the first one becomes admin), profile changes and signed mail links.

Domain code: knows nothing of HTTP.

Links sent by mail (e-mail confirmation, password reset) carry a token: a base64 JSON payload
{"u": user id, "t": issue time, ...} and an HMAC-SHA256 over it, keyed by the session secret and
bound to the account's current e-mail, password hash and confirmation state. A token therefore
dies when it expires, and as soon as the password, the address or the confirmation changes, so
each link works once. No token ever holds a password.

Sensitive changes (the e-mail address, the password) need the current password of whoever
makes them (decision 16): `check_current_password`. A new address waits for its confirmation
link when confirmation is on: `hold_new_email`. Setting a password ends every session of the
account (`end_sessions`; core.security refuses a session issued under an older epoch).
"""

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from core.errors import DomainError
from core.models import User
from core.passwords import hash_password, verify_password

# info key of an account registered while e-mail confirmation is on, until it is confirmed.
PENDING = "pending_confirmation"


def create_account(db, values: dict, pending: bool = False) -> User:
    """Add the account; the first one ever becomes admin. `pending` awaits e-mail confirmation."""
    if db.get_bind().dialect.name == "postgresql":
        # Two first registrations must not both see an empty table: this lock conflicts with
        # itself and with inserts, so the count below reads every committed account.
        # SQLite needs nothing: one writer at a time, and a transaction whose snapshot
        # predates another's commit cannot write (SQLITE_BUSY), so a stale "empty" never wins.
        db.execute(text('LOCK TABLE "user" IN SHARE ROW EXCLUSIVE MODE'))
    first = db.scalar(select(User.id).limit(1)) is None
    user = User(
        fullname=values["fullname"],
        name=values["name"],
        email_addr=values["email_addr"],
        passwd_hash=hash_password(values["password"]),
        consent=values["consent"],
        admin=first,
        info={PENDING: True} if pending else {},
        confirmation_email_sent=pending,
    )
    with db.begin_nested():
        db.add(user)
    return user


def is_pending(user: User) -> bool:
    """True for an account whose registration waits for its e-mail confirmation."""
    return bool((user.info or {}).get(PENDING))


def user_by_name(db, name: str) -> User | None:
    return db.scalars(select(User).where(User.name == name)).first()


def user_by_email(db, email: str) -> User | None:
    """The account with this address, in any letter case."""
    return db.scalars(
        select(User).where(func.lower(User.email_addr) == email.lower()).order_by(User.id)
    ).first()


def end_sessions(user: User) -> None:
    """Every session issued to the account so far stops being honoured (core.security)."""
    user.session_epoch = (user.session_epoch or 0) + 1


def set_password(user: User, password: str) -> None:
    """A new password; the sessions opened with the old one end."""
    user.passwd_hash = hash_password(password)
    end_sessions(user)


NO_PASSWORD = "This account has no password: it cannot change its e-mail address or password"
PASSWORD_REQUIRED = "current_password is required to change the e-mail address or the password"
PASSWORD_WRONG = "current_password does not match"


def check_current_password(caller: User, supplied) -> None:
    """Refuse a sensitive change unless `supplied` is the caller's own current password.

    The caller is whoever makes the change: the account itself, or an admin changing another
    account (who proves it is still them, not a script riding their session).
    """
    if not caller.passwd_hash:
        # Signed in through an external service: nothing to prove it with. A new address could
        # otherwise be linked to an outside identity carrying it (core.services.oauth).
        raise DomainError("Forbidden", NO_PASSWORD)
    if not isinstance(supplied, str) or not supplied:
        raise DomainError("BadRequest", PASSWORD_REQUIRED)
    if not verify_password(caller.passwd_hash, supplied):
        raise DomainError("Forbidden", PASSWORD_WRONG)


def email_changes(user: User, values: dict) -> bool:
    """True when `values` gives the account another e-mail address (letter case aside)."""
    new = values.get("email_addr")
    return isinstance(new, str) and new.lower() != (user.email_addr or "").lower()


def hold_new_email(user: User, values: dict, confirm: bool) -> str | None:
    """Apply the rule of a new address to the columns `values` about to be set.

    With confirmation on, the account keeps its address and the new one is returned, to be
    mailed a link (`confirm_email` sets it once followed); otherwise the new address is set,
    not yet proven. None when the address does not change.
    """
    if not email_changes(user, values):
        return None
    if confirm:
        new = values["email_addr"]
        values["email_addr"] = user.email_addr
        return new
    values["valid_email"] = False
    return None


def reset_api_key(user: User) -> str:
    user.api_key = str(uuid.uuid4())
    return user.api_key


def confirm_email(user: User, email: str) -> None:
    """The address is proven: it becomes the account's, and a pending registration completes."""
    user.email_addr = email
    user.valid_email = True
    user.confirmation_email_sent = False
    user.info = {key: value for key, value in (user.info or {}).items() if key != PENDING}


def update_fields(db, user: User, values: dict) -> bool:
    """Set the given columns; False (and nothing changed) when a unique value was taken."""
    before = {name: getattr(user, name) for name in values}
    try:
        with db.begin_nested():
            for name, value in values.items():
                setattr(user, name, value)
    except IntegrityError:
        for name, value in before.items():
            setattr(user, name, value)
        return False
    return True


def set_avatar(user: User, container: str, name: str) -> tuple[str | None, str | None]:
    """Point info.container/info.avatar at a stored image; returns the previous pair."""
    info = dict(user.info or {})
    previous = (info.get("container"), info.get("avatar"))
    info.update(container=container, avatar=name)
    user.info = info
    return previous


# --- signed links ---------------------------------------------------------------------------


def _encode(payload: dict) -> str:
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(body: str) -> dict | None:
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _signature(secret: str, purpose: str, body: str, user: User) -> str:
    bound = "|".join(
        [
            purpose,
            body,
            str(user.id),
            user.email_addr,
            user.passwd_hash or "",
            str(user.valid_email),
        ]
    )
    return hmac.new(secret.encode(), bound.encode(), hashlib.sha256).hexdigest()


def make_link_token(
    secret: str, purpose: str, user: User, extra: dict | None = None, now: float | None = None
) -> str:
    """A token for a `purpose` link ("confirm", "reset") to the account `user`."""
    payload = {**(extra or {}), "u": user.id, "t": int(time.time() if now is None else now)}
    body = _encode(payload)
    return f"{body}.{_signature(secret, purpose, body, user)}"


def read_link_token(
    db, secret: str, purpose: str, token, max_age: int, now: float | None = None
) -> tuple[User, dict] | None:
    """(account, payload) of a genuine, unexpired, still-valid token; else None."""
    if not isinstance(token, str) or token.count(".") != 1:
        return None
    body, signature = token.split(".")
    payload = _decode(body)
    if payload is None or type(payload.get("u")) is not int or type(payload.get("t")) is not int:
        return None
    age = (time.time() if now is None else now) - payload["t"]
    if age < 0 or age > max_age:
        return None
    user = db.get(User, payload["u"])
    if user is None:
        return None
    if not hmac.compare_digest(_signature(secret, purpose, body, user), signature):
        return None
    return user, payload
