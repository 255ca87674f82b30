"""Indexes on the foreign keys that had none usable: result.task_id (only a partial index),
blogpost.user_id and announcement.user_id.

Deleting a project's tasks checks every deleted task against result.task_id; with only the
partial "latest result" index, SQLite scanned the result table once per task.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_result_task", "result", ["task_id"])
    op.create_index("ix_blogpost_user_id", "blogpost", ["user_id"])
    op.create_index("ix_announcement_user_id", "announcement", ["user_id"])


def downgrade():
    op.drop_index("ix_announcement_user_id", table_name="announcement")
    op.drop_index("ix_blogpost_user_id", table_name="blogpost")
    op.drop_index("ix_result_task", table_name="result")
