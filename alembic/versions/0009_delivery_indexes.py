"""Task delivery indexes: open tasks in id order, and each volunteer's answered tasks covered.

depth_first walks a project's tasks in id order, skipping completed ones: as a project
progresses, completed tasks pile up at the front and every hand-out walked past them. The
partial index ix_task_project_open holds only tasks that are not completed (the schedulers
compare state with the literal 'completed' so the planner can use it).

The schedulers exclude the tasks the volunteer has answered; the three indexes on task_run by
(project, volunteer) now end with task_id, so that list is read from the index alone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

import sqlalchemy as sa

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OPEN = sa.text("state <> 'completed'")
# (old index, new index, volunteer column)
COVERED = (
    ("ix_task_run_project_user", "ix_task_run_project_user_task", "user_id"),
    ("ix_task_run_project_ip", "ix_task_run_project_ip_task", "user_ip"),
    ("ix_task_run_project_external", "ix_task_run_project_external_task", "external_uid"),
)


def upgrade():
    op.create_index(
        "ix_task_project_open",
        "task",
        ["project_id", "id"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    for old, new, column in COVERED:
        op.create_index(new, "task_run", ["project_id", column, "task_id"])
        op.drop_index(old, table_name="task_run")


def downgrade():
    for old, new, column in COVERED:
        op.create_index(old, "task_run", ["project_id", column])
        op.drop_index(new, table_name="task_run")
    op.drop_index("ix_task_project_open", table_name="task")
