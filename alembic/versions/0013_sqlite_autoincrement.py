"""SQLite never reuses a deleted account's id (issue 18, the attack's deleted-account session).

A SQLite table whose INTEGER PRIMARY KEY has no AUTOINCREMENT gives a new row the largest id
plus one: once the newest account is deleted, the next one registered got its id, and with it
whatever still named the old account by id (its session cookies, its reservations). The user
table is rebuilt with AUTOINCREMENT; PostgreSQL's sequences never go back: nothing to do there.

The rebuild keeps the tables that refer to the user table pointing at it (legacy_alter_table:
renames do not rewrite their references). It runs with foreign keys off (core.migrate; alembic's
env.py engine has them off): with them on, SQLite's DROP TABLE deletes the rows first, and the
cascades would follow into the tables that refer to them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OLD = "_user_before_0013"


def upgrade():
    _rebuild(autoincrement=True)


def downgrade():
    _rebuild(autoincrement=False)


def _rebuild(autoincrement: bool) -> None:
    """The user table created again as it is, with (or without) AUTOINCREMENT, rows kept."""
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
        # DROP TABLE would delete the rows first, and the cascades take the tables referring
        # to them (core.migrate and alembic's env.py run migrations with foreign keys off).
        raise RuntimeError("revision 0013 must run with SQLite's foreign keys off")
    table = sa.Table("user", sa.MetaData(), autoload_with=connection)
    columns = ", ".join(f'"{column.name}"' for column in table.columns)
    op.execute("PRAGMA legacy_alter_table = ON")
    op.execute(f'ALTER TABLE "user" RENAME TO "{OLD}"')
    for index in table.indexes:
        op.execute(f'DROP INDEX "{index.name}"')
    table.dialect_kwargs["sqlite_autoincrement"] = autoincrement
    table.create(connection)
    op.execute(f'INSERT INTO "user" ({columns}) SELECT {columns} FROM "{OLD}"')
    op.execute(f'DROP TABLE "{OLD}"')
    op.execute("PRAGMA legacy_alter_table = OFF")
