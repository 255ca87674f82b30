"""What a deleted account leaves behind (the attack on issue 18: its session opened the next
account, whose SQLite id was the deleted one's)."""

import time

from sqlalchemy import select, update

from alembic import command
from core.db import get_engine, get_session_factory
from core.migrate import alembic_config, upgrade
from core.models import TaskRequest, TaskReservation, User
from core.services.account_data import delete_account
from plugins.schedulers.locked import GATE
from tests import factories
from tests.functional.web.conftest import make_user, sign_in


def test_a_session_opens_only_the_account_it_was_issued_for(app, db):
    """Were an id ever given to another account (a restored backup, a reused SQLite id), the
    session issued for the first one does not open the second."""
    user = make_user(name="first", email_addr="first@example.com")
    db.commit()
    sign_in(app, user)
    assert app.get("/account/profile", headers={"Accept": "application/json"}).json["user"]
    # Another account with the same id: the same row, born at another time.
    db.execute(update(User).where(User.id == user.id).values(created="2030-01-01T00:00:00"))
    db.commit()

    answer = app.get("/account/profile", headers={"Accept": "application/json"})

    assert "user" not in answer.json


def test_a_deleted_account_holds_no_task_for_the_locked_scheduler(db):
    """Its pending requests and reservations (participant user:<id>) go with the account:
    the reservations through the enabled schedulers' gates (locked's GATE here)."""
    volunteer = factories.UserFactory()
    task = factories.TaskFactory(project=factories.ProjectFactory(published=True))
    db.commit()
    held = {"task_id": task.id, "project_id": task.project_id, "expires": time.time() + 600}
    participant = f"user:{volunteer.id}"
    db.add(TaskReservation(participant=participant, **held))
    db.add(TaskRequest(participant=participant, created="2026-12-07T00:00:00", **held))
    db.flush()

    delete_account(db, volunteer, "pseudonym-key", gates=[GATE])

    for model in (TaskReservation, TaskRequest):
        assert db.scalars(select(model)).all() == []


def test_sqlite_user_ids_are_never_reused_and_the_upgrade_keeps_every_reference(tmp_path):
    """Revision 0013 rebuilds SQLite's user table with AUTOINCREMENT, as the application's
    start-up migration runs it (foreign keys on in its engine): the rows, and the rows of the
    tables referring to them, stay; a deleted account's id is never given again."""
    url = f"sqlite:///{tmp_path}/before-0013.sqlite"
    command.upgrade(alembic_config(url), "0011")
    engine = get_engine({"sqlalchemy.url": url})
    accounts = get_session_factory(engine)()
    for name in "ab":
        accounts.add(User(name=name, email_addr=f"{name}@x", fullname=name))
    accounts.commit()
    accounts.close()
    with engine.begin() as connection:
        connection.exec_driver_sql(
            'CREATE TABLE referring (user_id INTEGER REFERENCES "user"(id) ON DELETE CASCADE)'
        )
        connection.exec_driver_sql("INSERT INTO referring VALUES (2)")

    upgrade(url, engine)

    with engine.begin() as connection:
        assert connection.exec_driver_sql("SELECT user_id FROM referring").all() == [(2,)]
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        connection.exec_driver_sql("DELETE FROM referring")
        connection.exec_driver_sql("DELETE FROM user WHERE id = 2")
    accounts = get_session_factory(engine)()
    accounts.add(User(name="c", email_addr="c@x", fullname="c"))
    accounts.commit()
    assert accounts.scalar(select(User.id).where(User.name == "c")) == 3
    accounts.close()
    engine.dispose()
