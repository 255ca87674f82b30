"""The api key's account: part of the request's session, read outside its transaction."""

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from core.db import CONNECTED, get_session_factory, reads_alone
from core.models import User
from core.security import user_by_api_key
from tests.factories import UserFactory


def test_the_api_keys_account_is_in_the_session_as_if_loaded(db, engine):
    volunteer = UserFactory(info={"avatar": "a.png"})
    session = get_session_factory(engine)()
    try:
        found = user_by_api_key(session, volunteer.api_key)
        state = inspect(found)
        assert state.persistent and not state.modified
        assert (found.id, found.name, found.info) == (volunteer.id, volunteer.name, volunteer.info)
        assert session.get(User, volunteer.id) is found
        assert user_by_api_key(session, "not-a-key") is None
        if engine.dialect.name == "postgresql":
            # No transaction begun for it: a read that follows may go alone as well.
            assert not session.info.get(CONNECTED) and reads_alone(session)
        # The account can be written like one the session loaded.
        found.fullname = "Renamed"
        session.commit()
    finally:
        session.close()
    db.expire_all()
    assert db.get(User, volunteer.id).fullname == "Renamed"


def test_reads_alone_only_without_a_connection_or_pending_writes(db, engine):
    session = get_session_factory(engine)()
    try:
        postgresql = engine.dialect.name == "postgresql"
        assert reads_alone(session) is postgresql
        session.add(User(name="pending", fullname="Pending", email_addr="p@example.com"))
        assert not reads_alone(session)  # a pending object: the read must see it flushed
        session.rollback()
        assert reads_alone(session) is postgresql
        session.connection()
        assert not reads_alone(session)  # its transaction's snapshot and writes
        session.rollback()
        assert reads_alone(session) is postgresql
    finally:
        session.close()


def test_a_session_from_another_factory_reads_alone_only_before_it_begins(engine):
    session = Session(engine)
    try:
        assert reads_alone(session) is (engine.dialect.name == "postgresql")
        session.connection()
        assert not reads_alone(session)
    finally:
        session.close()
