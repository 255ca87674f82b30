"""The first account ever registered becomes admin, even when two sign up at once."""

import threading
import time

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from core.db import get_session_factory
from core.models import User
from core.web.account import create_account


def account(name: str) -> dict:
    return {
        "fullname": name.title(),
        "name": name,
        "email_addr": f"{name}@example.org",
        "password": "pw",
        "consent": False,
    }


def test_two_concurrent_first_registrations_make_one_admin(engine, db):
    sessions = get_session_factory(engine)
    first, second = sessions(), sessions()
    failures = []

    def register_second():
        try:
            create_account(second, account("second"))
            second.commit()
        except OperationalError as error:  # SQLite refuses a write from a stale snapshot
            failures.append(error)
            second.rollback()

    create_account(first, account("first"))
    first.flush()
    # `second` starts while `first` is uncommitted: without a lock both would see no user yet.
    worker = threading.Thread(target=register_second)
    worker.start()
    time.sleep(0.5)
    first.commit()
    worker.join(timeout=30)
    first.close()
    second.close()

    assert db.scalars(select(User.name).where(User.admin)).all() == ["first"]
    if engine.dialect.name == "postgresql":
        # The table lock made `second` wait, then count `first`: both accounts exist.
        assert failures == []
        assert db.scalar(select(func.count()).select_from(User)) == 2
