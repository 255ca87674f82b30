"""Accounts: creation, with the first account becoming admin.

Domain code: knows nothing of HTTP.
"""

from sqlalchemy import select, text

from core.models import User
from core.passwords import hash_password


def create_account(db, values: dict) -> User:
    """Add the account; the first one ever becomes admin."""
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
    )
    with db.begin_nested():
        db.add(user)
    return user
