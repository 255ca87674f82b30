"""breadth_first index: a project's tasks by answer count, then id.

breadth_first hands out the open tasks with the fewest answers first; with this index
PostgreSQL walks (project_id, n_task_runs, id) instead of sorting every open task.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_task_project_runs", "task", ["project_id", "n_task_runs", "id"])


def downgrade():
    op.drop_index("ix_task_project_runs", table_name="task")
