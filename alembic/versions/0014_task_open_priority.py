"""Open tasks by priority: the incremental scheduler's order without sorting a project's tasks.

`incremental` (and newtask's `orderby=priority_0&desc=true`) hands out the open tasks of highest
priority first, ties by id. ix_task_project_priority runs (priority_0, id) both ascending: read
backwards it gives the ties in the wrong order, so every hand-out sorted every open task of the
top priority (20 ms at 100,000 tasks of ten priorities, all of them when priorities are unset).
This partial index holds the open tasks in that exact order: a hand-out reads a few rows.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

OPEN = sa.text("state <> 'completed'")


def upgrade():
    op.create_index(
        "ix_task_project_open_priority",
        "task",
        ["project_id", sa.column("priority_0").desc(), "id"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )


def downgrade():
    op.drop_index("ix_task_project_open_priority", table_name="task")
