"""The api key's account: part of the request's session, read outside its transaction."""

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from core.db import CONNECTED, get_session_factory, reads_alone
from core.models import ProjectOwner, User
from core.security import OWNED, user_by_api_key
from core.services import query
from tests.factories import ProjectFactory, UserFactory


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


def test_query_pairs_split_as_webob_does():
    """The middlewares in front of Pyramid read the query as its request will."""
    from webob import Request

    from core.security import query_pairs

    environ = Request.blank("/api/task?limit=5;api_key=KEY&a=1").environ

    assert query_pairs(environ) == list(Request(environ).GET.items())


def test_the_api_keys_account_brings_the_projects_it_owns(db, engine, monkeypatch):
    owner, coowner, volunteer = UserFactory(), UserFactory(), UserFactory()
    mine = ProjectFactory(owner=owner)
    shared = ProjectFactory(owner=coowner, coowners=[owner])
    other = ProjectFactory(owner=coowner)
    postgresql = engine.dialect.name == "postgresql"
    reads = []
    real_read = query.read
    monkeypatch.setattr(query, "read", lambda *a, **k: reads.append(a[1]) or real_read(*a, **k))
    session = get_session_factory(engine)()
    try:
        found = user_by_api_key(session, owner.api_key)
        assert set(query.owned_ids(session, found)) == {mine.id, shared.id}
        # On PostgreSQL the account's round trip brought them: no read of their own.
        assert (reads == []) is postgresql
        assert (OWNED in session.info) is postgresql
        # Another caller in the same session is read, not taken from the account's.
        assert set(query.owned_ids(session, session.get(User, coowner.id))) == {
            shared.id,
            other.id,
        }
        reads.clear()
        # Once the session has written, they are read again, in its transaction.
        session.add(ProjectOwner(project_id=other.id, user_id=owner.id))
        session.flush()
        assert set(query.owned_ids(session, found)) == {mine.id, shared.id, other.id}
        assert len(reads) == 1
        session.rollback()
        nobody = user_by_api_key(session, volunteer.api_key)
        reads.clear()
        assert query.owned_ids(session, nobody) == []
        assert (reads == []) is postgresql
    finally:
        session.close()


@pytest.mark.parametrize("key", ["owner", "volunteer"])
def test_signed_in_project_lists_with_the_folded_read(app, db, engine, key):
    """Through the API: an owner's list and a volunteer's `[]` are right with the folded read."""
    owner, volunteer = UserFactory(), UserFactory()
    project = ProjectFactory(owner=owner)
    caller = {"owner": owner, "volunteer": volunteer}[key]
    listed = app.get("/api/project", headers={"Authorization": caller.api_key}).json
    assert [item["id"] for item in listed] == ([project.id] if key == "owner" else [])
