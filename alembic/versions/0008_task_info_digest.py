"""task.info_digest: the SHA1 of each task's canonical info, for the importer's duplicate check.

The importer looks a batch of digests up in the index on (info_digest, project_id) instead of
holding one digest per task of the project in memory. Existing rows are filled in here, in
batches of BATCH rows in id order, with the function the application itself uses
(core.models.task), so old and new rows agree; progress is logged on alembic's logger
(`crowdnest db upgrade` shows it). The index is built after the backfill: cheaper than keeping
it up to date row by row.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

import logging
import time

import sqlalchemy as sa

from alembic import op
from core.models.task import digest_of

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 2000
# Seconds between two progress lines.
PROGRESS_EVERY = 5.0
log = logging.getLogger("alembic.runtime.migration.backfill")

task = sa.table(
    "task",
    sa.column("id", sa.Integer()),
    sa.column("info", sa.JSON()),
    sa.column("info_digest", sa.LargeBinary()),
)


def backfill(connection) -> int:
    """Set info_digest on every task, BATCH rows at a time; the number of rows seen."""
    total = connection.scalar(sa.select(sa.func.count()).select_from(task))
    update = (
        task.update()
        .where(task.c.id == sa.bindparam("task_id"))
        .values(info_digest=sa.bindparam("digest"))
    )
    done, last_id, shown_at = 0, 0, time.monotonic()
    while True:
        rows = connection.execute(
            sa.select(task.c.id, task.c.info)
            .where(task.c.id > last_id)
            .order_by(task.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        values = [{"task_id": id_, "digest": digest_of(info)} for id_, info in rows]
        values = [value for value in values if value["digest"] is not None]
        if values:
            connection.execute(update, values)
        done += len(rows)
        last_id = rows[-1].id
        if time.monotonic() - shown_at >= PROGRESS_EVERY:
            shown_at = time.monotonic()
            percent = 100 * done // max(total, 1)
            log.info("task.info_digest: %d/%d tasks (%d %%)", done, total, percent)
    if total:
        log.info("task.info_digest: %d/%d tasks (100 %%)", done, total)
    return done


def upgrade():
    op.add_column("task", sa.Column("info_digest", sa.LargeBinary(length=20), nullable=True))
    backfill(op.get_bind())
    op.create_index("ix_task_info_digest_project", "task", ["info_digest", "project_id"])


def downgrade():
    op.drop_index("ix_task_info_digest_project", table_name="task")
    if op.get_bind().dialect.name == "sqlite":
        # Not batch mode: recreating the table would lose the full-text triggers of 0002.
        op.execute("ALTER TABLE task DROP COLUMN info_digest")
    else:
        op.drop_column("task", "info_digest")
